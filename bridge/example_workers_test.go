package bridge_test

import (
	"bufio"
	"fmt"
	"log"
	"os/exec"
	"strings"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
)

// A Go parent starts Python workers and feeds each the arrays to work on:
// one descriptor JSON line per array on the worker's stdin. The worker
// attaches each with no copy (npshm.attach_lines) and prints a result.
// (Not run by go test, as it needs Python; tests/handoff_test.go runs it.)
func Example_workers() {
	const worker = `
import npshm
for a in npshm.attach_lines():       # one JSON line per array on stdin
    print(a.sum(), flush=True)
`
	var arrays []*bridge.Array
	for i := 1; i <= 3; i++ {
		a, err := bridge.CreateArray("", npy.Header{DType: npy.Float64, Shape: []int{1000}})
		if err != nil {
			log.Fatal(err)
		}
		defer a.Unlink()
		defer a.Close()
		v, _ := bridge.View[float64](a)
		for j := range v {
			v[j] = float64(i)
		}
		arrays = append(arrays, a)
	}
	for w := 0; w < 2; w++ {
		cmd := exec.Command(".venv/bin/python", "-c", worker)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		results := bufio.NewScanner(stdout)
		for _, a := range arrays {
			fmt.Fprintln(stdin, a.Descriptor()) // the handoff
			results.Scan()
			fmt.Println("worker", w, "sum", strings.TrimSpace(results.Text()))
		}
		stdin.Close() // the worker's loop ends
		cmd.Wait()
	}
}
