//go:build linux

package osshm

// What the kernel says about processes and memory, read from /proc and
// /sys/fs/cgroup: the one file in the module that reads them.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// RootPIDNamespace is the inode of the initial PID namespace
// (PROC_PID_INIT_INO): a process in it sees every process on the machine.
const RootPIDNamespace = 0xEFFFFFFC

// NamespaceOf is the inode of /proc/<pid>/ns/<kind> ("self" for this
// process), which names the namespace of that kind (pid, time) <pid> lives
// in. 0 if unknown.
func NamespaceOf(pid, kind string) uint64 {
	info, err := os.Stat("/proc/" + pid + "/ns/" + kind)
	if err != nil {
		return 0
	}
	return Inode(info)
}

// RunsInNamespace reports whether a process that is pid in the PID
// namespace ns, started at start (clock ticks after boot), still runs. Only
// a process in the root PID namespace can answer "no" with certainty: it
// sees every process, so it scans them for those in ns and matches pid
// against the last field of NSpid in /proc/P/status. A process whose
// namespace it may not read (no permission) and that is not in its own
// namespace makes the answer "maybe" (true); so does a
// candidate whose start time it cannot compare, because it lives in another
// time namespace (whose clocks are offset).
func RunsInNamespace(ns uint64, pid int, start uint64) bool {
	des, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := strconv.Itoa(pid)
	for _, de := range des {
		p := de.Name()
		if p[0] < '0' || p[0] > '9' {
			continue
		}
		info, err := os.Stat("/proc/" + p + "/ns/pid")
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ESRCH):
			continue // exited while we looked
		case err != nil && nsDepth(p) == 1:
			continue // we may not inspect it, but it is in our own namespace
		case err != nil:
			return true // cannot tell: keep
		case Inode(info) != ns:
			continue
		}
		if pids := nsPIDs(p); len(pids) == 0 || pids[len(pids)-1] != want {
			continue
		}
		n, _ := strconv.Atoi(p)
		got, running, err := ProcessStart(strconv.Itoa(n))
		if err == nil && running && (got == start || NamespaceOf(p, "time") != NamespaceOf("self", "time")) {
			return true
		}
	}
	return false
}

// nsPIDs is process p's PID in each PID namespace from this /proc's down to
// its own (innermost, last): "NSpid:" in /proc/p/status. nil if unknown.
func nsPIDs(p string) []string {
	b, err := os.ReadFile("/proc/" + p + "/status")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			return strings.Fields(rest)
		}
	}
	return nil
}

// nsDepth is how many PID namespaces process p is in, counted from this
// /proc's (1: that one only); 0 if unknown.
func nsDepth(p string) int { return len(nsPIDs(p)) }

// MemoryShort reports whether a new shared-memory segment of size bytes
// cannot be held: it is more than the machine can give (MemAvailable +
// SwapFree from /proc/meminfo), or more than the room under this process's
// cgroup memory limits (its own and its ancestors'). room is that memory,
// bound names it ("the machine", "the cgroup memory limit").
//
// /proc/meminfo and cgroup files take tens of microseconds each to read, as
// much as creating a small segment, so the cheap bounds come first: memory
// free outright (sysinfo) for the machine, the charge under each limit
// before the file cache that reclaim could add to the room.
func MemoryShort(size int64) (room int64, bound string, short bool) {
	if size > freeMemory() {
		mi := readKV("/proc/meminfo", 1024) // values in kB
		if avail, ok := mi["MemAvailable"]; ok && size > avail+mi["SwapFree"] {
			return avail + mi["SwapFree"], "the machine", true
		}
	}
	for _, cg := range limitedCgroups() {
		if room, ok := cgroupRoom(cg, size); ok && size > room {
			return room, "the cgroup memory limit", true
		}
	}
	return 0, "", false
}

// cgroupRoom is the room under the memory limit of cgroup cg: the
// limit less what is charged, plus the swap that could take shared pages
// and, when that is not enough for size, the file cache that reclaim could
// drop (the file LRU lists, which hold no shared memory). ok is false if
// the cgroup has no limit.
func cgroupRoom(cg cgroup, size int64) (room int64, ok bool) {
	dir, v2 := cg.dir, cg.v2
	limitFile, usageFile, lru := "memory.limit_in_bytes", "memory.usage_in_bytes", []string{"total_active_file", "total_inactive_file"}
	if v2 {
		limitFile, usageFile, lru = "memory.max", "memory.current", []string{"active_file", "inactive_file"}
	}
	limit, ok := readInt(filepath.Join(dir, limitFile))
	if !ok || limit >= math.MaxInt64/2 { // "max", or v1's "no limit" (page-rounded MaxInt64)
		return 0, false
	}
	usage, _ := readInt(filepath.Join(dir, usageFile))
	swap := int64(0)
	if v2 {
		if smax, ok := readInt(filepath.Join(dir, "memory.swap.max")); ok {
			scur, _ := readInt(filepath.Join(dir, "memory.swap.current"))
			swap = max(smax-scur, 0)
		}
	} else if sw, ok := readInt(filepath.Join(dir, "memory.memsw.limit_in_bytes")); ok && sw < math.MaxInt64/2 {
		swap = max(sw-limit, 0) // memsw counts memory and swap together
	}
	if swap > 0 {
		swap = min(swap, readKV("/proc/meminfo", 1024)["SwapFree"])
	}
	room = max(limit-usage, 0) + swap
	if size > room {
		st := readKV(filepath.Join(dir, "memory.stat"), 1)
		room += st[lru[0]] + st[lru[1]]
	}
	return room, true
}

// cgroup is a cgroup's directory under /sys/fs/cgroup, v1 or v2.
type cgroup struct {
	dir string
	v2  bool
}

var cgroups struct {
	once    sync.Once
	limited []cgroup
}

// limitedCgroups are this process's memory cgroup and its ancestors that
// have a memory limit, innermost first, found from /proc/self/cgroup and the cgroup
// mounts in /proc/self/mountinfo. Read once: a process rarely moves, and
// limits are rarely set after it starts (a limit set later is not checked
// here; the allocation still fails cleanly, or the cgroup's OOM killer acts).
func limitedCgroups() []cgroup {
	cgroups.once.Do(func() {
		b, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return
		}
		var v2path, v1path string
		for _, line := range strings.Split(string(b), "\n") {
			// "0::/path" (v2), "4:memory:/path" (v1)
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				continue
			}
			switch {
			case f[0] == "0" && f[1] == "":
				v2path = f[2]
			case strings.Contains(","+f[1]+",", ",memory,"):
				v1path = f[2]
			}
		}
		mount, root, path, v2 := "", "", "", false
		for _, m := range mounts() {
			switch {
			case m.fstype == "cgroup" && v1path != "" && strings.Contains(","+m.options+",", ",memory,"):
				mount, root, path, v2 = m.point, m.root, v1path, false
			case m.fstype == "cgroup2" && v2path != "" && mount == "":
				mount, root, path, v2 = m.point, m.root, v2path, true
			}
		}
		if mount == "" {
			return
		}
		rel := strings.TrimPrefix(path, root)
		for {
			cg := cgroup{filepath.Join(mount, rel), v2}
			if _, ok := cgroupRoom(cg, 0); ok {
				cgroups.limited = append(cgroups.limited, cg)
			}
			if rel == "/" || rel == "" || rel == "." {
				break
			}
			rel = filepath.Dir(rel)
		}
	})
	return cgroups.limited
}

type mountInfo struct{ root, point, fstype, options string }

// mounts reads /proc/self/mountinfo:
// "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS".
func mounts() []mountInfo {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []mountInfo
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		out = append(out, mountInfo{root: unescapeMount(f[3]), point: unescapeMount(f[4]), fstype: g[0], options: g[2]})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline, '\'.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// readKV reads "key value" or "key: value [kB]" lines, multiplying values by unit.
func readKV(path string, unit int64) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[strings.TrimSuffix(f[0], ":")] = v * unit
		}
	}
	return out
}

// readInt reads a file holding one integer; "max" (cgroup v2's "no limit")
// reads as MaxInt64.
func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return math.MaxInt64, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// ProcessStart reads a process's start time (clock ticks after boot, field
// 22 of /proc/PID/stat) and whether it is running (not a zombie); pid may
// be "self", which is this process even when /proc was mounted for another
// PID namespace.
func ProcessStart(pid string) (start uint64, running bool, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false, err
	}
	// the command name (field 2) may hold spaces and parens: skip past the last ')'
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return 0, false, fmt.Errorf("short /proc/%s/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0] != "Z" && fields[0] != "X", err
}

// FlockHolders maps inode numbers to the PIDs holding flocks on them
// (/proc/locks).
func FlockHolders() map[uint64][]int {
	out := map[uint64][]int{}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		// "1: FLOCK  ADVISORY  READ 1234 00:1a:5678 0 EOF" (blocked waiters have "->")
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" {
			continue
		}
		pid, err1 := strconv.Atoi(f[4])
		dev := strings.Split(f[5], ":")
		ino, err2 := strconv.ParseUint(dev[len(dev)-1], 10, 64)
		if err1 == nil && err2 == nil {
			out[ino] = append(out[ino], pid)
		}
	}
	return out
}

// ExclusiveHolders are the PIDs holding an exclusive flock on inode ino
// (/proc/locks; a waiter, "->", holds nothing).
func ExclusiveHolders(ino uint64) []int {
	var out []int
	b, _ := os.ReadFile("/proc/locks")
	for _, line := range strings.Split(string(b), "\n") {
		// "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" || f[3] != "WRITE" {
			continue
		}
		dev := strings.Split(f[5], ":")
		n, err1 := strconv.ParseUint(dev[len(dev)-1], 10, 64)
		pid, err2 := strconv.Atoi(f[4])
		if err1 == nil && err2 == nil && n == ino {
			out = append(out, pid)
		}
	}
	return out
}
