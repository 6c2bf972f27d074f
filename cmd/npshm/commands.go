package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
)

func cmdPut(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("put", "FILE.npy [--name NAME]", `
Copy the array in FILE.npy into a new shared-memory segment, byte for byte
(header and data), and print the segment's descriptor as one JSON line:
  {"name":...,"dtype":...,"shape":[...],"fortran_order":...,"offset":...,"nbytes":...,"size":...}
The segment stays until removed (npshm rm NAME). FILE may be - for stdin.`, stdout)
	name := fs.String("name", "", "segment `NAME` (default: a fresh psm_XXXXXXXX name); fails if it exists")
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
	a, err := bridge.OpenArray(pos[0], bridge.ReadOnly)
	if err != nil {
		return notFoundHint(err)
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
	a, err := bridge.OpenArray(pos[0], bridge.ReadOnly)
	if err != nil {
		return notFoundHint(err)
	}
	defer a.Close()
	_, err = fmt.Fprintln(stdout, a.Descriptor())
	return err
}

// notFoundHint adds what exists to a "no such segment" error.
func notFoundHint(err error) error {
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	entries, _ := listSegments(false)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if len(names) == 0 {
		return fmt.Errorf("%w (it holds no npy segments)", err)
	}
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return fmt.Errorf("%w (it holds: %s)", err, strings.Join(names, ", "))
}

type lsEntry struct {
	Name         string     `json:"name"`
	DType        *npy.DType `json:"dtype"` // null when the segment is not an npy image
	Shape        []int      `json:"shape"`
	FortranOrder bool       `json:"fortran_order"`
	Size         int64      `json:"size"`
	Mtime        time.Time  `json:"mtime"`
	AgeSeconds   float64    `json:"age_seconds"`
	Error        string     `json:"error,omitempty"`
}

// listSegments reads the header of every file in the segment directory
// (without mapping it); with all, files that are not npy images are kept.
func listSegments(all bool) ([]lsEntry, error) {
	dir := bridge.Dir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []lsEntry
	for _, de := range entries {
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		e := lsEntry{Name: de.Name(), Size: info.Size(), Mtime: info.ModTime(), AgeSeconds: now.Sub(info.ModTime()).Seconds()}
		h, err := readHeaderAt(filepath.Join(dir, de.Name()))
		if err != nil {
			if !all {
				continue
			}
			e.Error = err.Error()
		} else {
			e.DType, e.Shape, e.FortranOrder = &h.DType, h.Shape, h.FortranOrder
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readHeaderAt(path string) (npy.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return npy.Header{}, err
	}
	defer f.Close()
	return npy.ReadHeader(bufio.NewReaderSize(f, 4096))
}

func cmdLs(stdout, stderr io.Writer, args []string) error {
	fs := newFlags("ls", "[--json] [--all]", `
List the segments in /dev/shm (or $NPSHM_DIR) that hold npy images, with
dtype, shape, size and age (time since last modified).`, stdout)
	asJSON := fs.Bool("json", false, "print a JSON array of {name, dtype, shape, fortran_order, size, mtime, age_seconds}")
	all := fs.Bool("all", false, "also list files that are not npy images (dtype null, with an error)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	entries, err := listSegments(*all)
	if err != nil {
		return err
	}
	if *asJSON {
		if entries == nil {
			entries = []lsEntry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tSIZE\tAGE")
	for _, e := range entries {
		dt, shape := "-", "-"
		if e.DType != nil {
			dt, shape = e.DType.String(), shapeText(e.Shape, e.FortranOrder)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, dt, shape, humanBytes(e.Size), humanAge(e.AgeSeconds))
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
