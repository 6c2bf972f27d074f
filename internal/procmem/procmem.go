// Package procmem reads a process's memory use from /proc: proportional set
// size (PSS) in total and for the mappings of one file. PSS divides each
// shared page among the processes mapping it, so summing PSS over processes
// counts shared memory once.
package procmem

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Rollup is /proc/PID/smaps_rollup as bytes per field ("Pss", "Rss",
// "Pss_Shmem", ...).
func Rollup(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := field(sc.Text()); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// MappingPss is the PSS, in bytes, of pid's mappings of the file at path.
func MappingPss(pid int, path string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	inside := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if isHeader(line) {
			fields := strings.Fields(line)
			inside = len(fields) >= 6 && strings.Join(fields[5:], " ") == path
			continue
		}
		if k, v, ok := field(line); inside && ok && k == "Pss" {
			total += v
		}
	}
	return total, sc.Err()
}

// isHeader reports whether an smaps line starts a mapping ("addr-addr perms ...").
func isHeader(line string) bool {
	i := strings.IndexByte(line, ' ')
	return i > 0 && strings.IndexByte(line[:i], '-') > 0 && !strings.HasSuffix(line[:i], ":")
}

// field parses "Name:   123 kB" into ("Name", 123*1024).
func field(line string) (string, int64, bool) {
	k, rest, ok := strings.Cut(line, ":")
	if !ok || strings.Contains(k, " ") {
		return "", 0, false
	}
	f := strings.Fields(rest)
	if len(f) != 2 || f[1] != "kB" {
		return "", 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return k, n << 10, true
}
