package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags makes a command's flag set; --help prints usage and doc to out.
func newFlags(name, args, doc string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: npshm %s %s\n\n%s\n", name, args, strings.TrimSpace(doc))
		var opts strings.Builder
		fs.SetOutput(&opts)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if opts.Len() > 0 {
			fmt.Fprintf(out, "\nOptions:\n%s", opts.String())
		}
	}
	return fs
}

// parse parses flags placed anywhere among the positional arguments and
// checks their count. It returns errHelp after printing help for --help.
func parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, errHelp
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" && len(pos) == 0 {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		want := fmt.Sprintf("%d", min)
		switch {
		case max < 0:
			want = fmt.Sprintf("at least %d", min)
		case max != min:
			want = fmt.Sprintf("%d to %d", min, max)
		}
		return nil, usagef("%s: want %s argument(s), got %d (see npshm %s --help)", fs.Name(), want, len(pos), fs.Name())
	}
	return pos, nil
}

// errHelp: --help was printed; the command succeeds.
var errHelp = errors.New("help shown")

// helpOK turns errHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
