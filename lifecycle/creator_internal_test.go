package lifecycle

import (
	"os"
	"strings"
	"testing"

	"github.com/npshm/npshm/internal/osshm"
)

// TestCreatorRecord: records name the PID namespace as a third field; the
// two-field records written before still read (as this process's namespace).
func TestCreatorRecord(t *testing.T) {
	info, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		t.Skipf("no /proc/self/ns/pid: %v", err)
	}
	if self.PIDNS != osshm.Inode(info) || len(strings.Fields(self.String())) != 3 {
		t.Fatalf("self = %q, want PID STARTTIME %d", self, osshm.Inode(info))
	}
	if c, ok := parseCreator(self.String()); !ok || c != self || !c.Alive() {
		t.Fatalf("parseCreator(%q) = %v %v, alive %v", self, c, ok, c.Alive())
	}
	old := Creator{PID: self.PID, Start: self.Start}
	if c, ok := parseCreator(old.String()); !ok || c != old || !c.Alive() || !c.Visible() {
		t.Fatalf("a two-field record %q reads as %v %v (alive %v)", old, c, ok, c.Alive())
	}
	for _, bad := range []string{"", "1", "1 2 3 4", "x 2 3", "1 2 x", "0 2 3", "-1 2"} {
		if _, ok := parseCreator(bad); ok {
			t.Errorf("parseCreator(%q) accepted", bad)
		}
	}
	// A namespace that does not exist: from the root namespace, which sees
	// every process, its creator is dead; from any other it cannot be seen
	// and is kept.
	gone := Creator{PID: 1, Start: self.Start, PIDNS: 1}
	if root := self.PIDNS == osshm.RootPIDNamespace; gone.Visible() != root || gone.Alive() == root {
		t.Errorf("creator in a namespace that does not exist: visible %v, alive %v (root namespace: %v)", gone.Visible(), gone.Alive(), root)
	}
}
