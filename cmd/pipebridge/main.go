// Command pipebridge talks to Python programs through multiprocessing
// connections.
//
// Usage:
//
//	pipebridge demo [--python PATH]
//	pipebridge echo --fd N [--mode objects|bytes] [--protocol N]
//
// demo starts Python and runs the two classic Pipe examples with Go as one
// of the processes, printing what crosses.
//
// echo treats inherited file descriptor N as a Connection and sends every
// message it receives back, until end of stream (exit status 0). In objects
// mode (the default) each message is decoded as a pickle and encoded again,
// at the protocol it arrived in unless --protocol says otherwise; in bytes
// mode the body is sent back unchanged.
//
// Errors are reported on standard error as one line, with exit status 1 (2
// for a usage error).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"demo", "start Python and exchange the messages of the two classic Pipe examples", runDemo},
	{"echo", "echo every message received on a connection back to its sender", runEcho},
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		// A panic is a bug; it still gets one line and a status, not a
		// Go stack dump in the middle of somebody's pipeline.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "pipebridge: internal error: %v\n", r)
			status = 70
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			var ue usageError
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, &ue):
				fmt.Fprintf(stderr, "pipebridge %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(stderr, "pipebridge %s: %s\n", c.name, oneLine(err.Error()))
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "pipebridge: unknown command %q\n", args[0])
	printUsage(stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: pipebridge <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'pipebridge <command> -h' for a command's flags.")
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pipebridge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and refuses stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// oneLine keeps an error message on one line of standard error.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
