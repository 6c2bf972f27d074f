// Command npshm-demo is the main job end to end: a Go producer creates a
// large float64 array in shared memory, several numpy processes attach to it
// at once and sum it, and the demo prints timings and the memory the
// processes use together (summed PSS of the segment: shared, counted once).
// It unlinks the segment when done, on error and on Ctrl-C.
//
// Run it with scripts/demo, which builds the Python environment first.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/procmem"
	"github.com/npshm/npshm/npy"
)

// worker is the numpy side: attach the descriptor it reads on stdin, sum,
// report, then wait (so every worker is alive when memory is measured).
const worker = `
import json, sys, time
t0 = time.perf_counter()
import numpy as np, npshm
t1 = time.perf_counter()
line = sys.stdin.readline()
t2 = time.perf_counter()
a = npshm.attach(line)
t3 = time.perf_counter()
s = float(a.sum())
t4 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "attach_us": (t3 - t2) * 1e6, "sum_ms": (t4 - t3) * 1e3, "sum": s}), flush=True)
sys.stdin.readline()
`

type result struct {
	ImportMs float64 `json:"import_ms"`
	AttachUs float64 `json:"attach_us"`
	SumMs    float64 `json:"sum_ms"`
	Sum      float64 `json:"sum"`
}

func main() {
	err := run(os.Stdout, os.Args[1:])
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "npshm-demo: %v\n", err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(os.Stderr, "Usage: %s\nRun 'npshm-demo --help' for details.\n", usageLine)
		os.Exit(2)
	}
	os.Exit(1)
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ error }

const usageLine = "npshm-demo [--size MiB] [--workers N] [--python PATH]"

const help = `Create a float64 array in shared memory from Go, attach it from several
numpy processes at once, sum it in each, and print the timings and the
memory they use together. The array is unlinked when the demo ends.

Example:
  scripts/demo            (builds the Python environment, then runs this)
  npshm-demo --size 256 --workers 8`

func run(out io.Writer, args []string) error {
	fs := flag.NewFlagSet("npshm-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed once, below and by main
	fs.Usage = func() {}
	sizeMiB := fs.Int("size", 1024, "array size in `MiB`")
	workers := fs.Int("workers", 4, "`N` numpy processes attach at once")
	python := fs.String("python", ".venv/bin/python", "`PATH` of a Python with numpy and npshm installed")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(out, "Usage: %s\n\n%s\n\nFlags:\n", usageLine, help)
		fs.SetOutput(out)
		fs.PrintDefaults()
		return nil
	} else if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	// Whatever ends the demo, the deferred Unlink must run: Ctrl-C, kill, a
	// closed terminal, or stdout piped into a reader that quits (SIGPIPE
	// would otherwise kill the process before cleanup; ignored, the write
	// just fails).
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	n := *sizeMiB << 20 / 8
	t0 := time.Now()
	a, err := bridge.CreateArray("", npy.Header{DType: npy.Float64, Shape: []int{n}})
	if err != nil {
		return err
	}
	defer a.Unlink() // the producer owns the segment: it unlinks, whatever happens
	defer a.Close()
	tCreate := time.Since(t0)
	v, err := bridge.View[float64](a)
	if err != nil {
		return err
	}
	t1 := time.Now()
	want := fill(v)
	tFill := time.Since(t1)
	gib := float64(a.Descriptor().NBytes) / (1 << 30)
	fmt.Fprintf(out, "Go producer: %.2f GiB of float64 in %s\n", gib, a.Segment().Path())
	fmt.Fprintf(out, "  create (reserve) %8.1f ms\n  fill (%d threads) %7.1f ms  %5.2f GB/s\n",
		ms(tCreate), runtime.GOMAXPROCS(0), ms(tFill), float64(a.Descriptor().NBytes)/tFill.Seconds()/1e9)

	desc := a.Descriptor().String()
	procs := make([]*exec.Cmd, *workers)
	stdins := make([]io.WriteCloser, *workers)
	results := make([]result, *workers)
	errs := make([]error, *workers)
	var wg sync.WaitGroup
	t2 := time.Now()
	for i := range procs {
		cmd := exec.CommandContext(ctx, *python, "-c", worker)
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w (run scripts/setup first)", *python, err)
		}
		defer cmd.Wait()
		defer stdin.Close()
		procs[i], stdins[i] = cmd, stdin
		fmt.Fprintln(stdin, desc) // the handoff: one JSON line
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			line, err := bufio.NewReader(stdout).ReadBytes('\n')
			if err == nil {
				err = json.Unmarshal(line, &results[i])
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	tAll := time.Since(t2)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker: %w", err)
	}

	fmt.Fprintf(out, "\n%d numpy processes attached at once and summed it (wall %.0f ms, including interpreter start):\n", *workers, ms(tAll))
	fmt.Fprintf(out, "  %-7s %12s %12s %14s %12s %s\n", "worker", "import ms", "attach us", "sum ms", "sum GB/s", "PSS of segment")
	var pssTotal int64
	for i, r := range results {
		pss, _ := procmem.MappingPss(procs[i].Process.Pid, a.Segment().Path())
		pssTotal += pss
		status := "ok"
		if math.Abs(r.Sum-want) > 1e-9*math.Abs(want) {
			status = fmt.Sprintf("WRONG SUM %v, want %v", r.Sum, want)
		}
		fmt.Fprintf(out, "  %-7d %12.1f %12.1f %14.1f %12.2f %8.0f MiB  %s\n", i, r.ImportMs, r.AttachUs, r.SumMs,
			float64(a.Descriptor().NBytes)/r.SumMs/1e6, float64(pss)/(1<<20), status)
	}
	own, _ := procmem.MappingPss(os.Getpid(), a.Segment().Path())
	pssTotal += own
	fmt.Fprintf(out, "\nMemory: %d processes map the %.2f GiB array; their summed PSS for it is %.2f GiB (%.3fx).\n",
		*workers+1, gib, float64(pssTotal)/(1<<30), float64(pssTotal)/float64(a.Descriptor().NBytes))
	fmt.Fprintf(out, "A copy per process (pickle, Pool arguments) would hold %.2f GiB.\n", gib*float64(*workers+1))
	for _, w := range stdins {
		w.Close()
	}
	fmt.Fprintf(out, "Unlinking %s.\n", a.Name())
	return nil
}

// fill writes v[i] = i mod 1000 on every core and returns the exact sum.
func fill(v []float64) float64 {
	p := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	chunk := (len(v) + p - 1) / p
	for lo := 0; lo < len(v); lo += chunk {
		hi := min(lo+chunk, len(v))
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				v[i] = float64(i % 1000)
			}
		}(lo, hi)
	}
	wg.Wait()
	full, rest := len(v)/1000, len(v)%1000
	return float64(full)*499500 + float64(rest*(rest-1)/2)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
