package namespace

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/npshm/npshm/internal/osshm"
)

// Lifecycle records of the dir backend (see docs/LIFECYCLE.md and package
// lifecycle): the creator as "PID STARTTIME PIDNS" and "persistent" on
// published arrays, in xattrs; temporaries named ".npshm-tmp-PID-XXXXXXXX".
const (
	XattrCreator    = "user.npshm.creator"
	XattrPersistent = "user.npshm.persistent"
	TempPrefix      = ".npshm-tmp-"
)

// Self is this process's creator record, "PID STARTTIME PIDNS" (PIDNS
// omitted where there are no PID namespaces). Its start time is read
// through /proc/self, which is this process even when /proc was mounted for
// another PID namespace.
var Self = func() string {
	start, _, _ := osshm.ProcessStart("self")
	if ns := osshm.NamespaceOf("self", "pid"); ns != 0 {
		return fmt.Sprintf("%d %d %d", os.Getpid(), start, ns)
	}
	return fmt.Sprintf("%d %d", os.Getpid(), start)
}()

// TempName is a fresh temporary name owned by this process.
func TempName() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s%d-%s", TempPrefix, os.Getpid(), hex.EncodeToString(b[:]))
}

// TempCreator is the creator PID encoded in a temporary's name.
func TempCreator(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, TempPrefix)
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	return pid, err == nil
}
