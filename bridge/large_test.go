package bridge_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

// memAvailable is MemAvailable from /proc/meminfo, in bytes (0 if unknown).
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(rest, "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestOver4GiB: a 5 GiB array, written past the 4 GiB mark by one mapping,
// read back by another with the right length.
func TestOver4GiB(t *testing.T) {
	const n = 5 << 30 / 8 // 5 GiB of float64
	if testing.Short() {
		t.Skip("-short: skipping the 5 GiB array")
	}
	if avail := memAvailable(); avail < 12<<30 {
		t.Skipf("needs 12 GiB free memory, have %d MiB", avail>>20)
	}
	name := shmtest.Name(t)
	a, err := bridge.CreateArray(name, npy.Header{DType: npy.Float64, Shape: []int{n}})
	if err != nil {
		t.Fatalf("CreateArray 5 GiB: %v", err)
	}
	defer a.Unlink()
	defer a.Close()
	v, err := bridge.View[float64](a)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	past4G := (4<<30)/8 + 12345
	v[past4G], v[n-1] = 42, -1
	r, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenArray: %v", err)
	}
	defer r.Close()
	w, _ := bridge.View[float64](r)
	if len(w) != n || w[past4G] != 42 || w[n-1] != -1 {
		t.Fatalf("len %d, w[past4G]=%v w[last]=%v", len(w), w[past4G], w[n-1])
	}
	if d := r.Descriptor(); d.NBytes != 5<<30 || d.Size != 5<<30+128 {
		t.Fatalf("descriptor %s", d)
	}
}
