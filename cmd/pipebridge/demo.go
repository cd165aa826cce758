package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/pickle"
	"github.com/pipebridge/pipebridge/pyexamples"
)

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	python := fs.String("python", defaultPython(), "Python interpreter to start ($PIPEBRIDGE_PYTHON or python3)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	script, err := pyexamples.Source("demo_child.py")
	if err != nil {
		return err
	}
	version, err := pythonVersion(*python)
	if err != nil {
		return err
	}
	// Python 2.7 reads pickles up to protocol 2; later versions send and
	// read protocol 4 by default.
	opts := &conn.Options{}
	if strings.HasPrefix(version, "2.") {
		opts.Codec = conn.PickleCodec{Encode: pickle.EncodeOptions{Protocol: 2}}
	}
	fmt.Fprintf(stdout, "pipebridge demo: Go and Python %s (%s)\n", version, *python)

	fmt.Fprintln(stdout, "\n1. Sender and receiver, over a one-way pipe (Pipe(duplex=False))")
	if err := demoSenderReceiver(*python, script, opts, stdout); err != nil {
		return fmt.Errorf("sender and receiver: %w", err)
	}
	fmt.Fprintln(stdout, "\n2. Two-way exchange, over a duplex pipe (Pipe())")
	if err := demoExchange(*python, script, opts, stdout); err != nil {
		return fmt.Errorf("two-way exchange: %w", err)
	}
	fmt.Fprintln(stdout, "\nBoth examples done; every end closed.")
	return nil
}

// demoSenderReceiver: Go sends one greeting on the write end of a one-way
// pipe and closes it; Python receives it on the read end and prints it.
func demoSenderReceiver(python, script string, opts *conn.Options, stdout io.Writer) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(python, "-c", script, "receiver", "3")
	cmd.ExtraFiles = []*os.File{r} // fd 3 in the child
	cmd.Stdout, cmd.Stderr = stdout, stdout
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	err = cmd.Start()
	r.Close() // the child has its copy; ours would hide the child's exit
	if err != nil {
		w.Close()
		return err
	}
	c, err := conn.FromFileWriteOnly(w, opts)
	if err != nil {
		return err
	}
	greeting := "hello from Go"
	fmt.Fprintf(stdout, "go sends:        %q\n", greeting)
	sendErr := c.Send(greeting)
	c.Close()
	if err := cmd.Wait(); err != nil {
		return err
	}
	return sendErr
}

// demoExchange: Go sends first and then receives Python's answer; Python
// receives, prints, and answers on the same end.
func demoExchange(python, script string, opts *conn.Options, stdout io.Writer) error {
	cmd := exec.Command(python, "-c", script, "exchange")
	cmd.Stdout = stdout
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	p, err := bridge.Start(cmd, opts)
	if err != nil {
		return err
	}
	defer p.Close(5 * time.Second)
	msg := []any{"ping from Go", int64(42), 3.5, true}
	fmt.Fprintf(stdout, "go sends:        %s\n", goRepr(msg))
	if err := p.Conn.Send(msg); err != nil {
		return err
	}
	var answer any
	if err := p.Conn.Recv(&answer); err != nil {
		return fmt.Errorf("%w (%v)", err, p.Close(time.Second))
	}
	fmt.Fprintf(stdout, "go received:     %s\n", goRepr(answer))
	return p.Close(5 * time.Second)
}

func defaultPython() string {
	if p := os.Getenv("PIPEBRIDGE_PYTHON"); p != "" {
		return p
	}
	return "python3"
}

func pythonVersion(python string) (string, error) {
	out, err := exec.Command(python, "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		return "", fmt.Errorf("cannot run %s: %v", python, err)
	}
	v := strings.TrimSpace(string(out))
	if _, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0]); err != nil {
		return "", fmt.Errorf("%s reports version %q", python, v)
	}
	return v, nil
}
