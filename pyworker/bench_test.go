package pyworker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync"
	"testing"

	"github.com/npshm/npshm/npy"
)

// BenchmarkCall is the round trip of a call to a function that does
// nothing, through one worker.
func BenchmarkCall(b *testing.B) {
	p := start(b, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.Call(ctx, "calltest.nothing"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallArray hands an array to a function that reads only its
// size: the cost must not grow with the array.
func BenchmarkCallArray(b *testing.B) {
	p := start(b, 1)
	ctx := context.Background()
	for _, size := range []int{1 << 10, 1 << 20, 1 << 30} {
		b.Run(sizeName(size), func(b *testing.B) {
			a := newArray(b, "", npy.Uint8, size)
			for b.Loop() {
				if _, err := p.Call(ctx, "calltest.nbytes", a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// BenchmarkWork runs 4 CPU-bound numpy calls at once on 1 and on 2
// workers: with 2 cores, 2 workers take about half the time.
func BenchmarkWork(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			p := start(b, workers)
			ctx := context.Background()
			for b.Loop() {
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if _, err := p.Call(ctx, "calltest.work", 40); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
		})
	}
}

// BenchmarkReferenceSubprocess is the cost of a fresh `python -c` that
// imports numpy and calls nothing: what a call costs without workers.
func BenchmarkReferenceSubprocess(b *testing.B) {
	py := python(b)
	for b.Loop() {
		if out, err := exec.Command(py, "-c", "import numpy").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkReferenceJSONPipe is a minimal JSON-lines RPC to a Python
// process over its stdin and stdout: the usual hand-made bridge.
func BenchmarkReferenceJSONPipe(b *testing.B) {
	cmd := exec.Command(python(b), "-c", `
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.write(json.dumps({"id": req["id"], "result": None}) + "\n")
    sys.stdout.flush()
`)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	r := bufio.NewReader(out)
	enc := json.NewEncoder(in)
	id := 0
	for b.Loop() {
		id++
		if err := enc.Encode(map[string]any{"id": id, "fn": "nothing", "args": []any{}}); err != nil {
			b.Fatal(err)
		}
		line, err := r.ReadBytes('\n')
		if err != nil {
			b.Fatal(err)
		}
		var rep struct{ ID int }
		if json.Unmarshal(line, &rep); rep.ID != id {
			b.Fatalf("reply %s", line)
		}
	}
}
