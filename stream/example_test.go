package stream_test

import (
	"context"
	"fmt"
	"io"

	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/stream"
)

// A producer and a reader of frames of 4 float64s. The reader attaches
// before the first frame, so it sees them all; Close ends the stream.
func Example() {
	w, err := stream.Create("example_stream", npy.Header{DType: npy.Float64, Shape: []int{4}}, stream.Options{Slots: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	r, err := stream.Open("example_stream")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	go func() {
		for i := range 3 {
			buf, _ := w.Acquire(context.Background()) // the next slot, filled in place
			buf[0] = byte(i + 1)
			w.Commit()
		}
		w.Close()
	}()
	for {
		frame, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		fmt.Println("frame", r.Seq(), "first byte", frame[0])
	}
	// Output:
	// frame 1 first byte 1
	// frame 2 first byte 2
	// frame 3 first byte 3
}
