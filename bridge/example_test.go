package bridge_test

import (
	"fmt"
	"log"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
)

// A producer creates an array in shared memory and fills it in place; a
// consumer (here the same process, normally another) opens it by name.
func Example() {
	a, err := bridge.CreateArray("", npy.Header{DType: npy.Float64, Shape: []int{2, 3}})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Unlink() // the creator unlinks, once
	defer a.Close()  // everyone closes
	v, err := bridge.View[float64](a)
	if err != nil {
		log.Fatal(err)
	}
	for i := range v {
		v[i] = float64(i) / 2
	}

	r, err := bridge.OpenArray(a.Name(), bridge.ReadOnly) // Python: npshm.attach(name)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	w, _ := bridge.View[float64](r)
	fmt.Println(r.DType(), r.Shape(), w)
	// Output: <f8 [2 3] [0 0.5 1 1.5 2 2.5]
}
