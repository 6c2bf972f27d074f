package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
)

func cmdPut(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("put", "FILE.npy [--name NAME]", `
Publish the array in FILE.npy in shared memory, byte for byte (header and
data), and print its descriptor as one JSON line:
  {"name":...,"dtype":...,"shape":[...],"fortran_order":...,"offset":...,"nbytes":...,"size":...}
The copy is written under a temporary name and renamed to NAME at once, so
readers see the old complete array or the new one, never a partial one;
processes attached to an array it replaces keep their view. Published arrays
stay until removed (npshm rm NAME); gc leaves them alone. FILE may be - for
stdin. In Python: npshm.get(NAME).`, stdout)
	name := fs.String("name", "", "publish as `NAME`, replacing what is there (default: a fresh psm_XXXXXXXX name)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	var src io.Reader = os.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	a, err := bridge.Put(*name, src)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	defer a.Close()
	_, err = fmt.Fprintln(stdout, a.Descriptor())
	return err
}

func cmdGet(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("get", "NAME OUT.npy", `
Write the array in segment NAME to OUT.npy (- for stdout), byte-identical to
what np.save writes for it. OUT is replaced only once it is complete.`, stdout)
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return helpOK(err)
	}
	a, err := bridge.Get(pos[0])
	if err != nil {
		return err
	}
	defer a.Close()
	h := a.Header()
	hdr, err := npy.Header{DType: h.DType, FortranOrder: h.FortranOrder, Shape: h.Shape}.Encode()
	if err != nil {
		return err
	}
	if pos[1] == "-" {
		w := bufio.NewWriterSize(stdout, 1<<20)
		w.Write(hdr)
		w.Write(a.Data())
		return w.Flush()
	}
	return writeFileAtomic(pos[1], hdr, a.Data())
}

// writeFileAtomic writes parts to a temporary file beside path and renames
// it into place, so a failure never leaves a partial OUT.
func writeFileAtomic(path string, parts ...[]byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	for _, p := range parts {
		if _, err := tmp.Write(p); err != nil {
			tmp.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

func cmdInfo(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("info", "NAME", `
Print the descriptor of segment NAME as one JSON line: name, dtype (numpy's
descr; a list of [name, dtype(, shape)] for records), shape, fortran_order,
offset (where the data starts), nbytes (data bytes), size (segment bytes).`, stdout)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	a, err := bridge.Get(pos[0])
	if err != nil {
		return err
	}
	defer a.Close()
	_, err = fmt.Fprintln(stdout, a.Descriptor())
	return err
}

type lsEntry struct {
	Name         string     `json:"name"`
	DType        *npy.DType `json:"dtype"` // null when the file is not an npy image
	Shape        []int      `json:"shape"`
	FortranOrder bool       `json:"fortran_order"`
	Size         int64      `json:"size"`
	Mtime        time.Time  `json:"mtime"`
	AgeSeconds   float64    `json:"age_seconds"`
	State        string     `json:"state"`
	CreatorPID   int        `json:"creator_pid,omitempty"`
	Holders      []int      `json:"holders"`
	Error        string     `json:"error,omitempty"`
	unseen       bool       // its creator is in a PID namespace this one cannot see
}

// state says what gc would make of a segment.
func state(e bridge.Entry) string {
	switch {
	case !e.Ours:
		return "foreign"
	case e.Temporary:
		return "temporary"
	case e.Published:
		return "published"
	case len(e.Holders) > 0 || e.Creator.Alive():
		return "in use"
	}
	return "orphan"
}

func cmdLs(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("ls", "[--json] [--all]", `
List the segments in /dev/shm (or $NPSHM_DIR) that hold npy images, with
dtype, shape, size, age (time since last modified) and state:
  published  made by put/publish; stays until npshm rm
  in use     its creator runs, or a process holds it through npshm
  orphan     unpublished, creator gone, nobody holds it: npshm gc removes it
  foreign    not made by npshm (e.g. Python's SharedMemory); gc leaves it alone
  temporary  a publish in progress (or one whose process died: gc removes it)`, stdout)
	asJSON := fs.Bool("json", false, "print a JSON array of {name, dtype, shape, fortran_order, size, mtime, age_seconds, state, creator_pid, holders}")
	all := fs.Bool("all", false, "also list temporaries and files that are not npy images (dtype null, with an error)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	entries, err := bridge.List()
	if err != nil {
		return err
	}
	now := time.Now()
	rows := []lsEntry{}
	for _, e := range entries {
		if !*all && (e.Err != nil || e.Temporary) {
			continue
		}
		r := lsEntry{Name: e.Name, Size: e.Size, Mtime: e.ModTime, AgeSeconds: now.Sub(e.ModTime).Seconds(),
			State: state(e), CreatorPID: e.Creator.PID, Holders: e.Holders, unseen: !e.Creator.Visible()}
		if r.Holders == nil {
			r.Holders = []int{}
		}
		if e.Err != nil {
			r.Error = e.Err.Error()
		} else {
			r.DType, r.Shape, r.FortranOrder = &e.Header.DType, e.Header.Shape, e.Header.FortranOrder
		}
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tSIZE\tAGE\tSTATE")
	for _, r := range rows {
		dt, shape := "-", "-"
		if r.DType != nil {
			dt, shape = r.DType.String(), shapeText(r.Shape, r.FortranOrder)
		}
		st := r.State
		if len(r.Holders) > 0 {
			st += fmt.Sprintf(" (%d holder%s)", len(r.Holders), map[bool]string{true: "s"}[len(r.Holders) > 1])
		}
		if r.unseen && r.State == "in use" {
			st += " (creator in another PID namespace)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dt, shape, humanBytes(r.Size), humanAge(r.AgeSeconds), st)
	}
	return tw.Flush()
}

func shapeText(shape []int, fortran bool) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	s := "(" + strings.Join(parts, ", ")
	if len(shape) == 1 {
		s += ","
	}
	s += ")"
	if fortran {
		s += " F"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanAge(s float64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%.0fs", max(s, 0))
	case s < 3600:
		return fmt.Sprintf("%.0fm", s/60)
	case s < 86400:
		return fmt.Sprintf("%.1fh", s/3600)
	}
	return fmt.Sprintf("%.1fd", s/86400)
}

func cmdGC(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("gc", "[--dry-run] [--json]", `
Remove the segments nothing uses: those npshm made that were not published
(npshm.share/create, bridge.CreateArray, unfinished publishes) whose creator
process has exited and that no process holds through npshm. It never removes
a published array, one in use, or a file npshm did not make. Prints what it
removed, one per line.`, stdout)
	dry := fs.Bool("dry-run", false, "print what would be removed; remove nothing")
	asJSON := fs.Bool("json", false, "print a JSON array of {name, size, reason}")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	removed, err := bridge.GC(*dry)
	if *asJSON {
		type row struct {
			Name   string `json:"name"`
			Size   int64  `json:"size"`
			Reason string `json:"reason"`
		}
		rows := []row{}
		for _, r := range removed {
			rows = append(rows, row{r.Name, r.Size, r.Reason})
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if e := enc.Encode(rows); e != nil {
			return e
		}
		return err
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	var total int64
	for _, r := range removed {
		total += r.Size
		fmt.Fprintf(stdout, "%s %s (%s, %s)\n", verb, r.Name, humanBytes(r.Size), r.Reason)
	}
	if len(removed) == 0 {
		fmt.Fprintln(stderr, "gc: nothing to remove")
	} else {
		fmt.Fprintf(stderr, "gc: %s %d segment(s), %s\n", verb, len(removed), humanBytes(total))
	}
	keptUnseen(stderr)
	return err
}

// keptUnseen says which segments gc kept only because their creator is in
// another PID namespace (a container sharing /dev/shm) that this process
// cannot see into; gc in the root PID namespace (the host) can judge them.
func keptUnseen(stderr io.Writer) {
	entries, _ := bridge.List()
	for _, e := range entries {
		if e.Ours && (e.Temporary || !e.Published) && len(e.Holders) == 0 && !e.Creator.Visible() {
			fmt.Fprintf(stderr, "gc: kept %s: its creator is in another PID namespace, which gc cannot see from here (run gc on the host)\n", e.Name)
		}
	}
}

func cmdRm(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("rm", "NAME...", `
Unlink segments. Processes that have one attached keep their view; the
memory is freed when the last of them exits or closes it.`, stdout)
	pos, err := parse(fs, args, 1, -1)
	if err != nil {
		return helpOK(err)
	}
	failed := false
	for _, name := range pos {
		if err := bridge.Unlink(name); err != nil {
			fmt.Fprintf(stderr, "npshm: %v\n", err)
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}
