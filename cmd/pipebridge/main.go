// Command pipebridge talks to Python programs through multiprocessing
// connections.
//
// Usage:
//
//	pipebridge demo [--python PATH]
//	pipebridge echo --fd N [--mode objects|bytes] [--protocol N]
//	pipebridge echo --listen ADDRESS [--authkey-env VAR] [--insecure] [--mode objects|bytes] [--protocol N]
//	pipebridge echo --dial ADDRESS [--authkey-env VAR] [--mode objects|bytes] [--protocol N]
//	pipebridge dial ADDRESS [--authkey-env VAR] [--json] [--protocol N] [--wait D]
//	pipebridge listen ADDRESS [--authkey-env VAR] [--insecure] [--json] [--protocol N] [--wait D]
//	pipebridge repickle [--protocol N] < in.pkl > out.pkl
//	pipebridge dis < in.pkl
//	pipebridge serve-manager ADDRESS [--authkey-env VAR] [--insecure]
//
// demo starts Python and runs the two classic Pipe examples with Go as one
// of the processes, printing what crosses.
//
// echo sends every message it receives back: on inherited file descriptor
// N (--fd), on every connection a Listener accepts (--listen), or on one
// connection to a Listener (--dial). In objects mode (the default) each
// message is decoded as a pickle and encoded again, at the protocol it
// arrived in unless --protocol says otherwise; in bytes mode the body is
// sent back unchanged.
//
// dial and listen are for a person at a shell, or a script, talking to a
// Python service: each line of standard input is a Python literal or a
// JSON value, sent as one object; each object that arrives is printed on
// one line, as a Python repr or (--json) as JSON. Run 'pipebridge dial -h'
// for the syntax and the mapping.
//
// repickle decodes the pickle on standard input and writes it again, at the
// protocol it was written in or at --protocol N; dis lists its opcodes as
// Python's pickletools.dis does. Invalid input makes repickle exit 1 with
// one line on standard error and nothing on standard output.
//
// ADDRESS is "host:port" for TCP, a path for a Unix socket, or "@name" for
// a Linux abstract socket. The authentication key, Python's authkey, is
// the value of the environment variable that --authkey-env names, so that it
// never appears in a process listing.
//
// Errors are reported on standard error as one line, with exit status 1 (2
// for a usage error).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// env is what a command gets from the process: its standard streams, its
// environment and its signals. Tests supply their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// interruptible returns a context that is done when the process is
	// asked to stop (SIGINT, SIGTERM) or parent is; stop releases it. Only
	// commands that serve until stopped take signals over: the others keep
	// the default behaviour of dying on them.
	interruptible func(parent context.Context) (ctx context.Context, stop context.CancelFunc)
}

func processEnv() *env {
	return &env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		lookupEnv: os.LookupEnv,
		interruptible: func(parent context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
		},
	}
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

var commands = []command{
	{"demo", "start Python and exchange the messages of the two classic Pipe examples",
		func(e *env, args []string) error { return runDemo(args, e.stdout, e.stderr) }},
	{"echo", "echo every message received on a connection back to its sender", runEcho},
	{"dial", "connect to a Listener; send objects typed on stdin, print what arrives", runDial},
	{"listen", "accept one connection; send objects typed on stdin, print what arrives", runListen},
	{"repickle", "decode a pickle from stdin and write it again, at its own or another protocol", runRepickle},
	{"dis", "list the opcodes of a pickle read from stdin, as pickletools.dis does", runDis},
	{"serve-manager", "serve Go objects to Python's multiprocessing.managers clients", runServeManager},
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], processEnv()))
}

func run(args []string, e *env) (status int) {
	defer func() {
		// A panic is a bug; it still gets one line and a status, not a
		// Go stack dump in the middle of somebody's pipeline.
		if r := recover(); r != nil {
			fmt.Fprintf(e.stderr, "pipebridge: internal error: %s\n", oneLine(fmt.Sprint(r)))
			status = 70
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(e, args[1:])
			var ue usageError
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, &ue):
				fmt.Fprintf(e.stderr, "pipebridge %s: %s (see pipebridge %s -h)\n", c.name, oneLine(err.Error()), c.name)
				return 2
			default:
				fmt.Fprintf(e.stderr, "pipebridge %s: %s\n", c.name, oneLine(err.Error()))
				return 1
			}
		}
	}
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	fmt.Fprintf(e.stderr, "pipebridge: unknown command %q (commands: %s; see pipebridge -h)\n", args[0], strings.Join(names, ", "))
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

// newFlags returns a FlagSet that reports errors instead of exiting, and
// prints usage (the synopsis, a description, then the flags) on -h.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pipebridge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// setUsage makes -h print text, then the flags.
func setUsage(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(text, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
}

// parseFlags parses args and refuses stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	return nil
}

// parseInterspersed parses args, in which flags may come before and after
// positional arguments (the flag package stops at the first positional
// one), and returns the positional arguments. After "--" everything is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		// The flag package prints an error and the whole usage; an error
		// here is one line, printed by run, and the usage is for -h.
		out := fs.Output()
		fs.SetOutput(io.Discard)
		err := fs.Parse(args)
		fs.SetOutput(out)
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return nil, err
		}
		if err != nil {
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// recovered turns a panic in a goroutine of ours into an error in *errp,
// so that a bug costs a line on standard error as run's own recover does,
// not a stack dump. Use it as defer recovered(&err).
func recovered(errp *error) {
	if r := recover(); r != nil {
		*errp = fmt.Errorf("internal error: %v", r)
	}
}

// oneLine keeps an error message on one line of standard error.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
