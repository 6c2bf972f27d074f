package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/loader"
)

func cmdLoad() *command {
	c := newCommand("load FILE... --dtype SPEC [options]", "parse text files (like np.loadtxt) into shared memory on all cores", `
Parse delimited text files (as np.loadtxt does) on every core into arrays
in shared memory, and publish them; print one descriptor JSON line per
array. The arrays equal np.loadtxt(FILE, dtype=..., ...) exactly: values,
dtype and shape. A large file is parsed in parallel chunks; .gz files are
decompressed on the fly; FILE may be a pipe (- or /dev/stdin for standard
input). Memory stays bounded (a few chunks of 8 MiB, and lines up to
--max-line) whatever the input's size. A malformed line is an error naming
FILE:LINE and the text, a file that changes while it is read is an error,
and either way nothing is published.

SPEC is numpy's descr, [('chr','S10'),('pos','<i4'),('pct','<f4')], or the
compact form chr:S10,pos:i4,pct:f4, or one plain type (f8) for a 2-D array.
Fields may be bool, ints, f4, f8, S<n>, U<n>.

Names: --name NAME publishes the one array (one file, or --concat); with
--name-each PREFIX file i (from 0) is published as PREFIX<i>; otherwise each
array gets a fresh psm_XXXXXXXX name. Published arrays stay until npshm rm.
With --hold nothing is published: the arrays stay under their fresh names,
held open, until standard input closes; then their names are removed. A
caller (npshm.loadtxt) attaches them between the two, so whichever side
dies, nothing outlives it that npshm gc does not reclaim.

Examples:
  npshm load genes.tsv --delimiter $'\t' --skip-header 1 --dtype chr:S10,pos:i4,pct:f4 --name genes
  npshm load part-*.csv.gz --delimiter , --dtype f8 --concat --name matrix`, 1, -1)
	fs := c.Flag
	spec := fs.String("dtype", "", "the dtype `SPEC` (required)")
	delim := fs.String("delimiter", "", "column separator `D` (default: runs of whitespace)")
	skip := fs.Int("skip-header", 0, "skip the first `N` lines of each file (comment lines count)")
	comments := fs.String("comments", "#", "comment marker `C` (\"\" for none)")
	usecols := fs.String("usecols", "", "columns to read, comma-separated `LIST` (0-based; negative from the end)")
	name := fs.String("name", "", "publish the array as `NAME` (one file, or --concat)")
	each := fs.String("name-each", "", "publish file i (from 0) as `PREFIX`<i>")
	concat := fs.Bool("concat", false, "load all files, in order, into one array")
	ndmin := fs.Int("ndmin", 0, "numpy's ndmin `N` (0, 1 or 2): 0 squeezes size-one dimensions like np.loadtxt")
	hold := fs.Bool("hold", false, "publish nothing: hold the arrays until standard input closes, then remove them")
	maxLine := fs.Int("max-line", loader.DefaultMaxLineBytes, "the longest line to read, in `BYTES` (a longer one is an error)")
	c.Run = func(stdout, stderr io.Writer, files []string) error {
		var err error
		switch {
		case *spec == "":
			return usagef("load: --dtype is required (see npshm load --help)")
		case *name != "" && *each != "":
			return usagef("load: --name and --name-each exclude each other")
		case *name != "" && len(files) > 1 && !*concat:
			return usagef("load: --name names one array: add --concat, or use --name-each for one per file")
		case *hold && (*name != "" || *each != ""):
			return usagef("load: --hold publishes nothing: drop --name and --name-each")
		case *maxLine <= 0:
			return usagef("load: --max-line must be a positive number of bytes")
		}
		for i, f := range files {
			if f == "-" {
				files[i] = "/dev/stdin"
			}
		}
		o := loader.Options{Delimiter: *delim, Comments: *comments, SkipHeader: *skip, NDMin: *ndmin, Concat: *concat, MaxLineBytes: *maxLine}
		if o.DType, err = loader.ParseSpec(*spec); err != nil {
			return fmt.Errorf("load: --dtype: %w", err)
		}
		if *usecols != "" {
			for _, s := range strings.Split(*usecols, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					return usagef("load: --usecols %q: %q is not a column number", *usecols, s)
				}
				o.UseCols = append(o.UseCols, n)
			}
		}
		if isTerminal(os.Stderr) {
			bar := newProgressBar(stderr)
			o.Progress = bar.update
			defer bar.finish()
		}
		arrays, err := loader.Load(files, o)
		if err != nil {
			return err
		}
		defer func() {
			for _, a := range arrays {
				a.Close()
			}
		}()
		if *hold {
			return holdArrays(stdout, os.Stdin, arrays)
		}
		for i, a := range arrays {
			target := a.Name()
			switch {
			case *name != "":
				target = *name
			case *each != "":
				target = *each + strconv.Itoa(i)
			}
			err := a.Publish(target)
			if errors.Is(err, errors.ErrUnsupported) {
				// the shm_open backend cannot rename: copy into an array made
				// under its name (one copy more), drop the loaded one
				var c *bridge.Array
				c, err = bridge.Publish(target, a.Header(), func(c *bridge.Array) error { copy(c.Data(), a.Data()); return nil })
				if err == nil {
					a.Unlink()
					a.Close()
					arrays[i] = c
				}
			}
			if err != nil {
				for _, b := range arrays[i:] {
					b.Unlink()
				}
				return err
			}
		}
		for _, a := range arrays {
			if err := printDescriptor(stdout, a.Descriptor()); err != nil {
				return err
			}
		}
		return nil
	}
	return c
}

// holdArrays prints the arrays' descriptors, waits for stdin to reach end
// of file (the caller has attached them, or is gone), then removes their
// names. They were never published, so if this process is killed first,
// npshm gc reclaims them once nobody holds them.
func holdArrays(stdout io.Writer, stdin io.Reader, arrays []*bridge.Array) error {
	var err error
	for _, a := range arrays {
		if err = printDescriptor(stdout, a.Descriptor()); err != nil {
			break
		}
	}
	if err == nil {
		_, err = io.Copy(io.Discard, stdin)
	}
	for _, a := range arrays {
		if uerr := a.Unlink(); uerr != nil && !errors.Is(uerr, fs.ErrNotExist) && err == nil {
			err = uerr
		}
	}
	return err
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "load [=====>    ]  42%  310 MB/s" on one terminal line.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, start: time.Now()} }

func (p *progressBar) update(done, total int64) {
	if total == 0 || time.Since(p.start) < 300*time.Millisecond {
		return // short loads draw nothing
	}
	const width = 30
	frac := float64(done) / float64(total)
	n := int(frac * width)
	rate := float64(done) / time.Since(p.start).Seconds() / 1e6
	fmt.Fprintf(p.w, "\rload [%s%s] %3.0f%%  %.0f MB/s ", strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, rate)
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
