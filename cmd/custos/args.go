package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// commandLine is the command line as custos reads it: urfave/cli v2 stops
// reading flags at a command's first argument and reads global flags only
// before the command, but git, kubectl and restic users put flags
// anywhere. reorderArgs puts them where urfave/cli looks for them.
type commandLine struct {
	args []string // the reordered command line, program name first
	// given names the global flags given on the command line (not in
	// the environment), by their first name.
	given map[string]bool
}

// reorderArgs reorders args (program name first) to
//
//	custos [global flags] COMMAND [SUBCOMMAND] [command flags] [-- ARGS]
//
// A flag is the command's if the command defines it, else global if the
// app defines it; a flag neither defines stays with the command, which
// refuses it. A flag that takes a value takes the next argument unless
// it is written --flag=value. "--" ends the flags: what follows is
// arguments, even if it starts with "-". The arguments keep their order.
func reorderArgs(app *cli.App, args []string) commandLine {
	if len(args) == 0 {
		return commandLine{args: args, given: map[string]bool{}}
	}
	var (
		globals, path, flags, positional []string
		cmd                              *cli.Command
		subs                             = app.Commands
		given                            = map[string]bool{}
	)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !isFlagArg(a) {
			if sub := findCommand(subs, a); sub != nil && len(positional) == 0 {
				path, cmd, subs = append(path, a), sub, sub.Subcommands
			} else {
				positional = append(positional, a)
			}
			continue
		}
		name, inline := flagName(a)
		dest := &flags
		var f cli.Flag
		if cmd != nil {
			f = findFlag(cmd.Flags, name)
		}
		// A command's help flag is the command's (urfave/cli adds it later).
		commandHelp := cmd != nil && isHelp(name)
		if f == nil && !commandHelp {
			if gf := findFlag(app.Flags, name); gf != nil || cmd == nil {
				f, dest = gf, &globals
				if gf != nil {
					given[gf.Names()[0]] = true
				}
			}
		}
		*dest = append(*dest, a)
		if !inline && takesValue(f) && i+1 < len(args) {
			i++
			*dest = append(*dest, args[i])
		}
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, path...)
	out = append(out, flags...)
	if len(positional) > 0 && cmd != nil && len(cmd.Subcommands) == 0 {
		// The command's flags end here: an argument that starts with
		// "-" (given after "--") is not read as one.
		out = append(out, "--")
	}
	out = append(out, positional...)
	return commandLine{args: out, given: given}
}

// isFlagArg says whether a is a flag ("-" alone is an argument: stdin).
func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

// flagName is the name of flag argument a (-x, --x or --x=v) and whether
// its value is inline.
func flagName(a string) (name string, inline bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], true
	}
	return name, false
}

func isHelp(name string) bool { return name == "help" || name == "h" }

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// takesValue says whether f reads the next argument as its value; an
// unknown flag (nil) does not, so that it is refused by its name alone.
func takesValue(f cli.Flag) bool {
	if f == nil {
		return false
	}
	if v, ok := f.(cli.DocGenerationFlag); ok {
		return v.TakesValue()
	}
	return true
}
