package main

import (
	"flag"
	"strings"
)

// parseArgs parses flags placed anywhere among the positional arguments
// (npshm put a.npy --name x) and returns the positional ones. After "--"
// everything is positional, so a name may start with '-'. It returns
// flag.ErrHelp for -h/--help, and the flag package's error for a bad flag.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" && !isFlagValue(fs, args[:n]) {
			return append(pos, rest...), nil // Parse stopped at "--"
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isFlagValue: the last of the parsed args is the value of a non-boolean
// flag given as "--flag value" (as in --name --), not a terminator.
func isFlagValue(fs *flag.FlagSet, parsed []string) bool {
	if len(parsed) < 2 {
		return false
	}
	prev := parsed[len(parsed)-2]
	if !strings.HasPrefix(prev, "-") || strings.Contains(prev, "=") || prev == "-" || prev == "--" {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(prev, "-"))
	return f != nil && !isBool(f)
}
