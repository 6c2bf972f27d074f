package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/stream"
)

func cmdPut() *command {
	c := newCommand("put FILE.npy [--name NAME]", "publish a .npy file in shared memory; print its descriptor", `
Publish the array in FILE.npy in shared memory, byte for byte (header and
data), and print its descriptor as one JSON line:
  {"name":...,"dtype":...,"shape":[...],"fortran_order":...,"offset":...,"nbytes":...,"size":...}
The copy is written under a temporary name and renamed to NAME at once, so
readers see the old complete array or the new one, never a partial one;
processes attached to an array it replaces keep their view. Published arrays
stay until removed (npshm rm NAME); gc leaves them alone. FILE may be - for
stdin. In Python: npshm.get(NAME).

Examples:
  npshm put matrix.npy --name matrix
  python -c 'import numpy as np, sys; np.save(sys.stdout.buffer, np.eye(3))' | npshm put - --name eye`, 1, 1)
	name := c.Flag.String("name", "", "publish as `NAME`, replacing what is there (default: a fresh psm_XXXXXXXX name)")
	c.Run = func(stdout, stderr io.Writer, pos []string) error { return put(stdout, pos[0], *name) }
	return c
}

func put(stdout io.Writer, file, name string) error {
	var src io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	a, err := bridge.Put(name, src)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer a.Close()
	return printDescriptor(stdout, a.Descriptor())
}

func cmdGet() *command {
	c := newCommand("get NAME OUT.npy", "write a segment's array as a .npy file (- for stdout)", `
Write the array in segment NAME to OUT.npy (- for stdout), byte-identical to
what np.save writes for it. OUT is replaced only once it is complete, so a
failed get leaves no partial file.

Examples:
  npshm get matrix matrix.npy
  npshm get matrix - | gzip > matrix.npy.gz`, 2, 2)
	c.Run = func(stdout, stderr io.Writer, pos []string) error { return get(stdout, pos[0], pos[1]) }
	return c
}

func get(stdout io.Writer, name, out string) error {
	a, err := bridge.Get(name)
	if err != nil {
		return err
	}
	defer a.Close()
	h := a.Header()
	hdr, err := npy.Header{DType: h.DType, FortranOrder: h.FortranOrder, Shape: h.Shape}.Encode()
	if err != nil {
		return err
	}
	if out == "-" {
		w := bufio.NewWriterSize(stdout, 1<<20)
		w.Write(hdr)
		w.Write(a.Data())
		return w.Flush()
	}
	return writeFileAtomic(out, hdr, a.Data())
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

func cmdInfo() *command {
	c := newCommand("info NAME", "print a segment's descriptor as one JSON line", `
Print the descriptor of segment NAME as one JSON line: name, dtype (numpy's
descr; a list of [name, dtype(, shape)] for records), shape, fortran_order,
offset (where the data starts), nbytes (data bytes), size (segment bytes).
Another process attaches with it: npshm.attach(LINE) in Python,
bridge.ParseDescriptor and OpenDescriptor in Go.

Example:
  $ npshm info matrix
  {"name":"matrix","dtype":"<f8","shape":[3,4],"fortran_order":false,"offset":128,"nbytes":96,"size":224}`, 1, 1)
	c.Run = func(stdout, stderr io.Writer, pos []string) error {
		a, err := bridge.Get(pos[0])
		if err != nil {
			return err
		}
		defer a.Close()
		return printDescriptor(stdout, a.Descriptor())
	}
	return c
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
	Stream       *lsStream  `json:"stream,omitempty"` // set for a stream (its dtype and shape are the ring's)
	unseen       bool       // its creator is in a PID namespace this one cannot see
}

// lsStream is what ls shows of a stream (stream.Inspect).
type lsStream struct {
	FrameDType *npy.DType `json:"frame_dtype"`
	FrameShape []int      `json:"frame_shape"`
	Slots      int        `json:"slots"`
	Mode       string     `json:"mode"` // "blocking" or "lossy"
	Sent       uint64     `json:"sent"`
	Readers    int        `json:"readers"`
	State      string     `json:"state"` // "running", "closed" or "producer died"
}

// state says what gc would make of a segment.
func state(e lifecycle.Entry) string {
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

func cmdLs() *command {
	c := newCommand("ls [--json] [--all]", "list the npy segments with dtype, shape, size, age, state", `
List the segments in /dev/shm (or $NPSHM_DIR) that hold npy images, with
dtype, shape, size, age (time since last modified) and state:
  published  made by put/publish; stays until npshm rm
  in use     its creator runs, or a process holds it through npshm
  orphan     unpublished, creator gone, nobody holds it: npshm gc removes it
  foreign    not made by npshm (e.g. Python's SharedMemory); gc leaves it alone
  temporary  a publish in progress (or one whose process died: gc removes it)
A stream (docs/STREAMS.md) shows its frame dtype and shape, "xN" slots, and
after its state its mode, its producer's state, frames sent and readers.
Control characters in names are shown escaped (\n, \x1b); --json gives
the exact names.

Examples:
  $ npshm ls
  NAME    DTYPE  SHAPE   SIZE   AGE  STATE
  matrix  <f8    (3, 4)  224 B  4s   published
  $ npshm ls --json | python -c 'import json, sys; print([e["name"] for e in json.load(sys.stdin)])'`, 0, 0)
	asJSON := c.Flag.Bool("json", false, "print a JSON array of {name, dtype, shape, fortran_order, size, mtime, age_seconds, state, creator_pid, holders, stream}")
	all := c.Flag.Bool("all", false, "also list temporaries and files that are not npy images (dtype null, with an error)")
	c.Run = func(stdout, stderr io.Writer, _ []string) error { return ls(stdout, *asJSON, *all) }
	return c
}

func ls(stdout io.Writer, asJSON, all bool) error {
	entries, err := lifecycle.List()
	if err != nil {
		return err
	}
	now := time.Now()
	rows := []lsEntry{}
	for _, e := range entries {
		if !all && (e.Err != nil || e.Temporary) {
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
			if si, ok := stream.Inspect(filepath.Join(bridge.Dir(), e.Name)); ok {
				r.Stream = &lsStream{&si.Frame.DType, si.Frame.Shape, si.Slots, si.Mode(), si.Sent, si.Readers, si.State}
			}
		}
		rows = append(rows, r)
	}
	if asJSON {
		return printJSON(stdout, rows)
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
		if s := r.Stream; s != nil {
			dt, shape = s.FrameDType.String(), fmt.Sprintf("%s x%d", shapeText(s.FrameShape, false), s.Slots)
			st += fmt.Sprintf(", stream %s: %s, %d sent, %d reader(s)", s.Mode, s.State, s.Sent, s.Readers)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", escape(r.Name), escape(dt), shape, humanBytes(r.Size), humanAge(r.AgeSeconds), st)
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

func cmdGC() *command {
	c := newCommand("gc [--dry-run] [--json]", "remove segments no live process uses", `
Remove the segments nothing uses: those npshm made that were not published
(npshm.share/create, bridge.CreateArray, unfinished publishes) whose creator
process has exited and that no process holds through npshm. It never removes
a published array, one in use, or a file npshm did not make. Prints what it
removed, one per line, and a total on stderr.

Examples:
  $ npshm gc --dry-run
  would remove psm_1a2b3c4d (7.6 MiB, creator exited)
  $ npshm gc`, 0, 0)
	dry := c.Flag.Bool("dry-run", false, "print what would be removed; remove nothing")
	asJSON := c.Flag.Bool("json", false, "print a JSON array of {name, size, reason}")
	c.Run = func(stdout, stderr io.Writer, _ []string) error { return gc(stdout, stderr, *dry, *asJSON) }
	return c
}

func gc(stdout, stderr io.Writer, dry, asJSON bool) error {
	removed, err := lifecycle.GC(dry)
	if asJSON {
		type row struct {
			Name   string `json:"name"`
			Size   int64  `json:"size"`
			Reason string `json:"reason"`
		}
		rows := []row{}
		for _, r := range removed {
			rows = append(rows, row{r.Name, r.Size, r.Reason})
		}
		if e := printJSON(stdout, rows); e != nil {
			return e
		}
		return err
	}
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	var total int64
	for _, r := range removed {
		total += r.Size
		fmt.Fprintf(stdout, "%s %s (%s, %s)\n", verb, escape(r.Name), humanBytes(r.Size), escape(r.Reason))
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
	entries, _ := lifecycle.List()
	for _, e := range entries {
		if e.Ours && (e.Temporary || !e.Published) && len(e.Holders) == 0 && !e.Creator.Visible() {
			fmt.Fprintf(stderr, "gc: kept %s: its creator is in another PID namespace, which gc cannot see from here (run gc on the host)\n", escape(e.Name))
		}
	}
}

func cmdRm() *command {
	c := newCommand("rm NAME...", "unlink segments", `
Unlink segments, published or not. Processes that have one attached keep
their view; the memory is freed when the last of them exits or closes it.
Each name that cannot be removed is an error line on stderr; the others
are removed all the same. Put -- before names that start with '-'.

Examples:
  npshm rm matrix eye
  npshm rm -- -odd-name`, 1, -1)
	c.Run = func(stdout, stderr io.Writer, names []string) error {
		failed := false
		for _, name := range names {
			if err := bridge.Unlink(name); err != nil {
				printError(stderr, err)
				failed = true
			}
		}
		if failed {
			return errReported
		}
		return nil
	}
	return c
}
