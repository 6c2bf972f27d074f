package pyworker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/pyworker"
)

func Example() {
	python, _ := filepath.Abs("../.venv/bin/python")
	if p := os.Getenv("NPSHM_PYTHON"); p != "" {
		python = p
	}
	src, _ := filepath.Abs("../pyshim/src") // this tree's npshm package
	p, err := pyworker.Start(pyworker.Options{Python: python, Path: []string{src}, Workers: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ctx := context.Background()

	// A Go array, read-write: numpy sees (and may change) the same memory.
	a, err := bridge.CreateAnonymous(npy.Header{DType: npy.Float64, Shape: []int{3, 2}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	v, _ := bridge.View[float64](a)
	for i := range v {
		v[i] = float64(i)
	}
	sum, err := p.Call(ctx, "numpy.sum", a)
	fmt.Println(sum, err)

	// An ndarray result is a *bridge.Array the caller closes.
	r, err := p.Call(ctx, "numpy.matmul", a, [][]float64{{1}, {10}})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := r.(*bridge.Array)
	defer m.Close()
	col, _ := bridge.View[float64](m)
	fmt.Println(m.Shape(), col)

	// A Python exception is a *pyworker.Error.
	_, err = p.Call(ctx, "numpy.linalg.inv", [][]float64{{1, 2}, {2, 4}})
	var pe *pyworker.Error
	if errors.As(err, &pe) {
		fmt.Println(pe.Type+":", pe.Message)
	}
	// Output:
	// 15 <nil>
	// [3 1] [10 32 54]
	// numpy.linalg.LinAlgError: Singular matrix
}
