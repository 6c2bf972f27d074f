// Command npshm puts numpy arrays into shared memory and inspects them.
//
// Every segment it makes is a .npy image in /dev/shm (or $NPSHM_DIR), named
// and laid out as Python's multiprocessing.shared_memory expects, so numpy
// attaches with npshm.attach(NAME) or np.load("/dev/shm/NAME", mmap_mode="r").
// Run `npshm help` for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(exitStatus(os.Stderr, run(os.Stdout, os.Stderr, os.Args[1:])))
}

// A command is one npshm subcommand, described once: the overview, its
// --help and its usage errors are all made from these fields.
type command struct {
	UsageLine string // the command's name, then its arguments
	Short     string // one line for the overview
	Long      string // what --help says after the usage line (flags are listed after it)
	// MinArgs and MaxArgs bound the positional arguments (MaxArgs -1: no
	// limit); run checks them before calling Run.
	MinArgs, MaxArgs int
	Flag             *flag.FlagSet
	Run              func(stdout, stderr io.Writer, args []string) error
}

// newCommand makes a command with an empty flag set; its constructor adds
// the flags and Run.
func newCommand(usageLine, short, long string, minArgs, maxArgs int) *command {
	c := &command{UsageLine: usageLine, Short: short, Long: strings.TrimSpace(long), MinArgs: minArgs, MaxArgs: maxArgs}
	c.Flag = flag.NewFlagSet(c.Name(), flag.ContinueOnError)
	c.Flag.SetOutput(io.Discard) // run reports errors and prints help, once
	c.Flag.Usage = func() {}
	return c
}

// Name is the first word of the usage line.
func (c *command) Name() string {
	name, _, _ := strings.Cut(c.UsageLine, " ")
	return name
}

// commands is the command table. It is made afresh for each run, so flag
// values never outlive one command line.
func commands() []*command {
	return []*command{cmdPut(), cmdGet(), cmdInfo(), cmdLs(), cmdRm(), cmdGC(), cmdLoad(), cmdHelp()}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in the command line: exit status 2. cmd, when
// set, is the command whose usage line follows the error.
type usageError struct {
	msg string
	cmd *command
}

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// errReported: the command already printed its errors; exit 1 quietly.
var errReported = errors.New("errors reported")

// run runs the command line args (without the program name). Help goes to
// stdout and succeeds; mistakes in the command line are usageErrors.
func run(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		printOverview(stderr)
		return usagef("no command given")
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	c := lookup(name)
	if c == nil {
		return usagef("unknown command %q (see npshm help)", name)
	}
	pos, err := parseArgs(c.Flag, args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(stdout)
		return nil
	}
	if err == nil {
		err = c.checkArgCount(len(pos))
	}
	if err != nil {
		return usageError{msg: fmt.Sprintf("%s: %v", c.Name(), err), cmd: c}
	}
	err = c.Run(stdout, stderr, pos)
	if u, ok := err.(usageError); ok && u.cmd == nil {
		u.cmd = c // a usage mistake found by Run: show c's usage line
		return u
	}
	return err
}

func (c *command) checkArgCount(n int) error {
	if n >= c.MinArgs && (c.MaxArgs < 0 || n <= c.MaxArgs) {
		return nil
	}
	want := fmt.Sprint(c.MinArgs)
	switch {
	case c.MaxArgs < 0:
		want = fmt.Sprintf("at least %d", c.MinArgs)
	case c.MaxArgs != c.MinArgs:
		want = fmt.Sprintf("%d to %d", c.MinArgs, c.MaxArgs)
	}
	return fmt.Errorf("want %s argument(s), got %d", want, n)
}

// exitStatus prints err on stderr and returns the exit status: 0 for
// success, 2 for a usage error (followed by the command's usage line), 1
// for any other error. An error is one line per joined error, escaped.
func exitStatus(stderr io.Writer, err error) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		printError(stderr, err)
		if u.cmd != nil {
			fmt.Fprintf(stderr, "Usage: npshm %s\nRun 'npshm help %s' for details.\n", u.cmd.UsageLine, u.cmd.Name())
		}
		return 2
	case !errors.Is(err, errReported):
		printError(stderr, err)
	}
	return 1
}

const overview = `npshm shares numpy arrays between processes (Go, Python) through shared
memory with no copy. Each segment is a file in /dev/shm holding a .npy image:
numpy's header, then the data at a 64-byte-aligned offset.

Attach from Python:  npshm.attach(NAME)  or  np.load("/dev/shm/NAME", mmap_mode="r")

Usage: npshm COMMAND [ARGS]   (npshm help COMMAND, or npshm COMMAND --help, for details)

Commands:
`

const footer = `
Environment:
  NPSHM_DIR   directory for segments (default /dev/shm)

Exit status: 0 ok, 1 error, 2 bad usage. Errors are one line on stderr.
Names and text from files are printed with control characters escaped
(\n, \x1b); --json output holds them exactly.
`

func printOverview(w io.Writer) {
	fmt.Fprint(w, overview)
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.UsageLine))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.UsageLine, c.Short)
	}
	fmt.Fprint(w, footer)
}

// printHelp writes the command's help: usage line, text, flags.
func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: npshm %s\n\n%s\n", c.UsageLine, c.Long)
	first := true
	c.Flag.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" && !isBool(f) {
			arg = " " + arg
		} else {
			arg = ""
		}
		if def := f.DefValue; def != "" && def != "0" && def != "false" {
			usage += fmt.Sprintf(" (default %q)", def)
		}
		fmt.Fprintf(w, "  --%s%s\n        %s\n", f.Name, arg, usage)
	})
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func cmdHelp() *command {
	c := newCommand("help [COMMAND]", "print this overview, or what COMMAND does and its flags", `
Print the overview of npshm's commands, or with COMMAND the same help as
npshm COMMAND --help: what it does, its flags and an example.

Example:
  npshm help load`, 0, 1)
	c.Run = func(stdout, stderr io.Writer, args []string) error {
		if len(args) == 0 {
			printOverview(stdout)
			return nil
		}
		h := lookup(args[0])
		if h == nil {
			return usagef("unknown command %q (see npshm help)", args[0])
		}
		h.printHelp(stdout)
		return nil
	}
	return c
}
