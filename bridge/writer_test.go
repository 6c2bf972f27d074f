package bridge_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

// TestArrayWriterSetShape: an array made for 2 rows and grown with SetShape
// as rows are written equals, byte for byte, one made at its final size; a
// shape whose header would change length is refused.
func TestArrayWriterSetShape(t *testing.T) {
	final := npy.Header{DType: npy.Int32, Shape: []int{1000, 3}}
	want, err := bridge.CreateArray(shmtest.Name(t), final)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { want.Unlink(); want.Close() }()
	for i := range want.Data() {
		want.Data()[i] = byte(i * 7)
	}
	w, err := bridge.CreateArrayWriter(shmtest.Name(t), npy.Header{DType: npy.Int32, Shape: []int{2, 3}})
	if err != nil {
		t.Fatalf("CreateArrayWriter: %v", err)
	}
	const row = 12
	for lo := 0; lo < 1000; lo += 100 {
		if err := w.Write(want.Data()[lo*row:(lo+1)*row], int64(lo*row)); lo > 0 && err == nil {
			t.Fatalf("Write past the array's current end: no error")
		}
		if err := w.SetShape([]int{lo + 100, 3}); err != nil {
			t.Fatalf("SetShape(%d, 3): %v", lo+100, err)
		}
		if err := w.Write(want.Data()[lo*row:(lo+100)*row], int64(lo*row)); err != nil {
			t.Fatalf("Write at row %d: %v", lo, err)
		}
	}
	got, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	defer func() { got.Unlink(); got.Close() }()
	if !bytes.Equal(got.Image(), want.Image()) {
		t.Fatal("the grown segment differs from CreateArray's")
	}

	// A shape whose header would have another length is refused: a record
	// whose header ends at a 64-byte boundary, and a second dimension one
	// digit longer.
	for n := 1; n <= 64; n++ {
		dt, err := npy.NewStruct(npy.Field{Name: strings.Repeat("a", n), Type: npy.Int32})
		if err != nil {
			t.Fatal(err)
		}
		short, _ := npy.Header{DType: dt, Shape: []int{2, 9}}.Encode()
		long, _ := npy.Header{DType: dt, Shape: []int{2, 10}}.Encode()
		if len(short) == len(long) {
			continue
		}
		w, err := bridge.CreateArrayWriter(shmtest.Name(t), npy.Header{DType: dt, Shape: []int{2, 9}})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Discard()
		if err := w.SetShape([]int{2, 10}); err == nil || !strings.Contains(err.Error(), "change length") {
			t.Fatalf("SetShape from (2, 9) to (2, 10), a longer header: %v, want an error", err)
		}
		if err := w.SetShape([]int{3, 9}); err != nil {
			t.Fatalf("SetShape from (2, 9) to (3, 9): %v", err)
		}
		return
	}
	t.Fatal("no record's header changed length: the test checks nothing")
}
