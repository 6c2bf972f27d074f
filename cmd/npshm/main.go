// Command npshm puts numpy arrays into shared memory and inspects them.
//
// Every segment it makes is a .npy image in /dev/shm (or $NPSHM_DIR), named
// and laid out as Python's multiprocessing.shared_memory expects, so numpy
// attaches with npshm.attach(NAME) or np.load("/dev/shm/NAME", mmap_mode="r").
// Run `npshm help` for the commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	err := run(os.Stdout, os.Stderr, os.Args[1:])
	if err == nil {
		return
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintf(os.Stderr, "npshm: %v\n", err)
		os.Exit(2)
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintf(os.Stderr, "npshm: %v\n", err)
	}
	os.Exit(1)
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errReported: the command already printed its errors; exit 1 quietly.
var errReported = errors.New("errors reported")

type command struct {
	name, args, summary string
	run                 func(stdout, stderr io.Writer, args []string) error
}

func commands() []command {
	return []command{
		{"put", "FILE.npy [--name NAME]", "publish a .npy file in shared memory; print its descriptor", cmdPut},
		{"get", "NAME OUT.npy", "write a segment's array as a .npy file (- for stdout)", cmdGet},
		{"info", "NAME", "print a segment's descriptor as one JSON line", cmdInfo},
		{"ls", "[--json] [--all]", "list the npy segments with dtype, shape, size, age", cmdLs},
		{"rm", "NAME...", "unlink segments", cmdRm},
		{"gc", "[--dry-run] [--json]", "remove segments no live process uses", cmdGC},
		{"load", "FILE... --dtype SPEC", "parse text files (like np.loadtxt) into shared memory on all cores", cmdLoad},
	}
}

const overview = `npshm shares numpy arrays between processes (Go, Python) through shared
memory with no copy. Each segment is a file in /dev/shm holding a .npy image:
numpy's header, then the data at a 64-byte-aligned offset.

Attach from Python:  npshm.attach(NAME)  or  np.load("/dev/shm/NAME", mmap_mode="r")

Usage: npshm COMMAND [ARGS]   (npshm COMMAND --help for details)

Commands:
`

const footer = `
Environment:
  NPSHM_DIR   directory for segments (default /dev/shm)

Exit status: 0 ok, 1 error, 2 bad usage. Errors are one line on stderr.
`

func run(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		printOverview(stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run(stdout, stderr, []string{args[1], "--help"})
		}
		printOverview(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(stdout, stderr, args[1:])
		}
	}
	return usagef("unknown command %q (see npshm help)", args[0])
}

func printOverview(w io.Writer) {
	fmt.Fprint(w, overview)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-5s %-26s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprint(w, footer)
}
