// Command gohelper is the Go side of scripts/bench (scripts/benchsuite/bench.py): a long-running process
// that the Python driver sends one command per line on stdin and that
// answers one line on stdout, so process start-up never enters a timing.
//
//	npshm_produce N      create an array of N float64, copy the Go data in; print its descriptor
//	release NAME         close and unlink an array made by npshm_produce
//	arrow_produce N PATH write the Go data as an Arrow IPC file at PATH; print "ok"
//	consume JSON         attach the array a descriptor names, sum it; print the sum
//	attach NAME K        attach and close NAME K times; print the median microseconds
//	fill_fresh N         time CreateArray + copy of N float64 (then unlink); print seconds
//	fill_pool N          the same through a Pool with a warm segment; print seconds
//	memcpy N             time copying N float64 into warm Go memory; print seconds
//	gentext PATH ROWS S  write ROWS genomic text rows (chr pos pct c t) to PATH, seed S
//	free                 drop the data buffers and return the memory to the system
package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
)

var (
	data []float64 // "Go has the data": filled once, reused by every command
	live = map[string]*bridge.Array{}
	pool = bridge.NewPool(1)
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer pool.Close()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		reply, err := do(f[0], f[1:], in.Text())
		if err != nil {
			reply = "error " + err.Error()
		}
		fmt.Fprintln(out, reply)
		out.Flush()
	}
	for _, a := range live {
		a.Unlink()
		a.Close()
	}
}

func need(n int) []float64 {
	if len(data) < n {
		data = make([]float64, n)
		for i := range data {
			data[i] = float64(i % 1000)
		}
	}
	return data[:n]
}

// copyPar copies src into dst on every core, as a Go producer would.
func copyPar(dst, src []float64) {
	p := runtime.GOMAXPROCS(0)
	chunk := (len(src) + p - 1) / p
	var wg sync.WaitGroup
	for lo := 0; lo < len(src); lo += chunk {
		hi := min(lo+chunk, len(src))
		wg.Add(1)
		go func() { defer wg.Done(); copy(dst[lo:hi], src[lo:hi]) }()
	}
	wg.Wait()
}

func do(cmd string, args []string, line string) (string, error) {
	atoi := func(i int) int { n, _ := strconv.Atoi(args[i]); return n }
	switch cmd {
	case "npshm_produce":
		src := need(atoi(0))
		a, err := bridge.CreateArray("", npy.Header{DType: npy.Float64, Shape: []int{len(src)}})
		if err != nil {
			return "", err
		}
		v, _ := bridge.View[float64](a)
		copyPar(v, src)
		live[a.Name()] = a
		return a.Descriptor().String(), nil
	case "release":
		if a := live[args[0]]; a != nil {
			a.Unlink()
			a.Close()
			delete(live, args[0])
		}
		return "ok", nil
	case "arrow_produce":
		return "ok", arrowProduce(need(atoi(0)), args[1])
	case "consume":
		d, err := bridge.ParseDescriptor([]byte(strings.TrimPrefix(line, "consume ")))
		if err != nil {
			return "", err
		}
		a, err := bridge.OpenDescriptor(d, bridge.ReadOnly)
		if err != nil {
			return "", err
		}
		defer a.Close()
		v, err := bridge.View[float64](a)
		if err != nil {
			return "", err
		}
		return strconv.FormatFloat(sumPar(v), 'g', -1, 64), nil
	case "attach":
		k := atoi(1)
		d := make([]float64, k)
		for i := range d {
			t := time.Now()
			a, err := bridge.OpenArray(args[0], bridge.ReadOnly)
			d[i] = float64(time.Since(t).Nanoseconds()) / 1e3
			if err != nil {
				return "", err
			}
			a.Close()
		}
		slices.Sort(d)
		return strconv.FormatFloat(d[k/2], 'f', 2, 64), nil
	case "fill_fresh", "fill_pool":
		src := need(atoi(0))
		h := npy.Header{DType: npy.Float64, Shape: []int{len(src)}}
		create := func() (*bridge.Array, error) { return bridge.CreateArray("", h) }
		if cmd == "fill_pool" {
			create = func() (*bridge.Array, error) { return pool.CreateArray(h) }
			a, err := create() // warm the pool
			if err != nil {
				return "", err
			}
			pool.Put(a)
		}
		t := time.Now()
		a, err := create()
		if err != nil {
			return "", err
		}
		v, _ := bridge.View[float64](a)
		copyPar(v, src)
		d := time.Since(t)
		if cmd == "fill_pool" {
			pool.Put(a)
		} else {
			a.Unlink()
			a.Close()
		}
		return strconv.FormatFloat(d.Seconds(), 'g', -1, 64), nil
	case "free":
		data = nil
		pool.Close()
		debug.FreeOSMemory()
		return "ok", nil
	case "gentext":
		return "ok", genText(args[0], atoi(1), uint64(atoi(2)))
	case "memcpy":
		src := need(atoi(0))
		warm := make([]float64, len(src))
		copyPar(warm, src) // fault the pages in: the timed copy runs on warm memory
		t := time.Now()
		copyPar(warm, src)
		d := time.Since(t)
		warm = nil
		debug.FreeOSMemory() // a 4 GiB buffer kept around would crowd out the other contenders
		return strconv.FormatFloat(d.Seconds(), 'g', -1, 64), nil
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// genText writes rows like the seed's genomic files: chr pos pct c t.
func genText(path string, rows int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(seed, 7))
	chrs := []string{"chr1", "chr2", "chr3", "chrX", "chrY", "chrM", "chr17_random"}
	var b []byte
	for i := 0; i < rows; i++ {
		b = append(b[:0], chrs[r.IntN(len(chrs))]...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.IntN(250_000_000)), 10)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, r.Float64()*100, 'f', 4, 64)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.IntN(500)), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.IntN(500)), 10)
		b = append(b, '\n')
		w.Write(b)
	}
	return w.Flush()
}

func sumPar(v []float64) float64 {
	p := runtime.GOMAXPROCS(0)
	chunk := (len(v) + p - 1) / p
	parts := make([]float64, p)
	var wg sync.WaitGroup
	for i := 0; i*chunk < len(v); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := 0.0
			for _, x := range v[i*chunk : min((i+1)*chunk, len(v))] {
				s += x
			}
			parts[i] = s
		}()
	}
	wg.Wait()
	s := 0.0
	for _, x := range parts {
		s += x
	}
	return s
}

// arrowProduce writes one float64 column as an Arrow IPC file, the way an
// arrow-go producer hands data to pyarrow: the column wraps the Go slice's
// memory (no copy), and the writer copies it into the file.
func arrowProduce(src []float64, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	buf := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(src))
	col := array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, len(src), []*memory.Buffer{nil, buf}, nil, 0, 0))
	defer col.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(src)))
	defer rec.Release()
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(schema))
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	return w.Close()
}
