package npy_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/npshm/npshm/npy"
	"github.com/sbinet/npyio"
)

// TestReadBySbinetNpyio cross-checks our writer with an independent reader:
// sbinet/npyio must read the images we encode for simple dtypes.
func TestReadBySbinetNpyio(t *testing.T) {
	tests := []struct {
		name  string
		dtype npy.DType
		shape []int
		data  any // what we write, little-endian
		into  any // pointer npyio reads into
	}{
		{"float64 1-d", npy.Float64, []int{4}, []float64{1.5, -2, 3e300, 0}, new([]float64)},
		{"int32 2-d", npy.Int32, []int{2, 3}, []int32{1, -2, 3, -4, 5, -6}, new([]int32)},
		{"uint8", npy.Uint8, []int{3}, []uint8{0, 127, 255}, new([]uint8)},
		{"int64 0-d", npy.Int64, []int{}, []int64{-42}, new([]int64)},
		{"float32 empty", npy.Float32, []int{0}, []float32{}, new([]float32)},
		{"complex128", npy.Complex128, []int{2}, []complex128{1 + 2i, -3i}, new([]complex128)},
		{"bool", npy.Bool, []int{3}, []bool{true, false, true}, new([]bool)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, err := npy.Header{DType: tt.dtype, Shape: tt.shape}.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			var buf bytes.Buffer
			buf.Write(hdr)
			if err := binary.Write(&buf, binary.LittleEndian, tt.data); err != nil {
				t.Fatalf("binary.Write: %v", err)
			}
			r, err := npyio.NewReader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("npyio.NewReader: %v", err)
			}
			if r.Header.Descr.Type != tt.dtype.TypeStr() || r.Header.Descr.Fortran ||
				!reflect.DeepEqual(append([]int{}, r.Header.Descr.Shape...), tt.shape) {
				t.Fatalf("npyio read header %+v", r.Header.Descr)
			}
			if err := r.Read(tt.into); err != nil {
				t.Fatalf("npyio Read: %v", err)
			}
			got := reflect.ValueOf(tt.into).Elem().Interface()
			if reflect.ValueOf(got).Len() != reflect.ValueOf(tt.data).Len() ||
				(reflect.ValueOf(got).Len() > 0 && !reflect.DeepEqual(got, tt.data)) {
				t.Fatalf("npyio read %v, wrote %v", got, tt.data)
			}
		})
	}
}
