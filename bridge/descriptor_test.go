package bridge_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

// TestDescriptorMismatchNamesField: a stale descriptor's error names each
// field that differs with both values, not only dtype and shape (issue 9).
func TestDescriptorMismatchNamesField(t *testing.T) {
	name := shmtest.Name(t)
	a, err := bridge.CreateArray(name, npy.Header{DType: npy.Float64, Shape: []int{5}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Unlink()
	defer a.Close()
	good := a.Descriptor()
	tests := []struct {
		name   string
		change func(d *bridge.Descriptor)
		want   string
	}{
		{"offset", func(d *bridge.Descriptor) { d.Offset += 64 },
			"descriptor says offset 192, segment holds offset 128"},
		{"fortran_order", func(d *bridge.Descriptor) { d.FortranOrder = true },
			"descriptor says fortran_order true, segment holds fortran_order false"},
		{"nbytes", func(d *bridge.Descriptor) { d.NBytes = 8 },
			"descriptor says nbytes 8, segment holds nbytes 40"},
		{"dtype and shape", func(d *bridge.Descriptor) { d.DType, d.Shape = npy.Int64, []int{6} },
			"descriptor says dtype <i8, segment holds dtype <f8; descriptor says shape [6], segment holds shape [5]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			d.Shape = append([]int(nil), good.Shape...)
			tt.change(&d)
			_, err := bridge.OpenDescriptor(d, bridge.ReadOnly)
			if !errors.Is(err, bridge.ErrDescriptor) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenDescriptor: %v\nwant ErrDescriptor saying %q", err, tt.want)
			}
		})
	}
}
