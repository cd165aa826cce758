package bridge

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/pipebridge/pipebridge/conn"
)

// FDEnv names the environment variable through which a parent tells its
// child which inherited file descriptor is the connection.
const FDEnv = "PIPEBRIDGE_FD"

// Process is a child process started with one end of a duplex pipe.
//
// Conn is the parent's end. Its methods follow conn.Conn's concurrency
// rules; Wait and Close may be called from any goroutine, any number of
// times.
type Process struct {
	Conn *conn.Conn
	Cmd  *exec.Cmd

	stderr   *tailBuffer // nil when the caller set Cmd.Stderr
	waitOnce sync.Once
	waitErr  error
	exited   chan struct{}
}

// Start starts cmd with the other end of a duplex pipe (a socketpair, as
// Python's Pipe() makes) as an inherited file descriptor, and returns the
// running Process with its end of the pipe.
//
// The child finds the descriptor's number in the environment variable
// PIPEBRIDGE_FD (3 unless cmd.ExtraFiles already holds files). A Python
// child rebuilds its end with the standard library alone:
//
//	import os
//	from multiprocessing.connection import Connection
//	conn = Connection(int(os.environ["PIPEBRIDGE_FD"]))
//
// If cmd.Stderr is nil, the child's standard error is kept (its last 4 KiB)
// to explain a failed exit in Wait's error.
func Start(cmd *exec.Cmd, opts *conn.Options) (*Process, error) {
	parent, child, err := conn.SocketPair()
	if err != nil {
		return nil, err
	}
	defer child.Close() // the child has its copy once started
	c, err := conn.FromFile(parent, opts)
	if err != nil {
		return nil, err
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, child)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, FDEnv+"="+strconv.Itoa(fd))
	p := &Process{Conn: c, Cmd: cmd, exited: make(chan struct{})}
	if cmd.Stderr == nil {
		p.stderr = &tailBuffer{max: 4096}
		cmd.Stderr = p.stderr
	}
	if err := cmd.Start(); err != nil {
		c.Close()
		return nil, fmt.Errorf("bridge: start %s: %w", cmd.Path, err)
	}
	return p, nil
}

// Wait waits for the child to exit and returns its exit error, with the tail
// of its standard error when Start kept it. It does not close Conn.
func (p *Process) Wait() error {
	p.waitOnce.Do(func() {
		err := p.Cmd.Wait()
		if err != nil && p.stderr != nil {
			if tail := p.stderr.String(); tail != "" {
				err = &ExitError{Err: err, Stderr: tail}
			}
		}
		p.waitErr = err
		close(p.exited)
	})
	return p.waitErr
}

// Close closes the parent's end of the pipe, so that a child blocked in
// recv() sees EOFError, and waits for the child to exit. A child still
// running after grace is killed. It returns Wait's result.
func (p *Process) Close(grace time.Duration) error {
	p.Conn.Close()
	go p.Wait()
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
	}
	return p.Wait()
}

// ExitError is a child's failed exit together with what it last wrote to
// standard error.
type ExitError struct {
	Err    error
	Stderr string
}

func (e *ExitError) Error() string { return fmt.Sprintf("bridge: child %v: %s", e.Err, e.Stderr) }
func (e *ExitError) Unwrap() error { return e.Err }

// ErrNoInheritedConn is returned by Inherited when the parent handed down no
// connection.
var ErrNoInheritedConn = errors.New("bridge: no inherited connection: " + FDEnv + " is not set")

// Inherited returns the connection a parent handed down: the file
// descriptor named by PIPEBRIDGE_FD, as Start sets it. A Python parent does
// the same by hand:
//
//	parent_end, child_end = multiprocessing.Pipe()
//	env = dict(os.environ, PIPEBRIDGE_FD=str(child_end.fileno()))
//	subprocess.Popen([exe], pass_fds=[child_end.fileno()], env=env)
//	child_end.close()
func Inherited(opts *conn.Options) (*conn.Conn, error) {
	s := os.Getenv(FDEnv)
	if s == "" {
		return nil, ErrNoInheritedConn
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("bridge: %s=%q is not a file descriptor", FDEnv, s)
	}
	return conn.FromFD(fd, opts)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

var _ io.Writer = (*tailBuffer)(nil)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
