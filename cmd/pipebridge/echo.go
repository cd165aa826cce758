package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/pipebridge/pipebridge/conn"
)

func runEcho(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("echo", stderr)
	fd := fs.Int("fd", -1, "inherited file descriptor of the connection")
	mode := fs.String("mode", "objects", "objects: decode and re-encode each pickle; bytes: echo bodies unchanged")
	proto := fs.Int("protocol", -1, "pickle protocol for objects mode (default: the protocol each message arrived in)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pipebridge echo --fd N [--mode objects|bytes] [--protocol N]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *fd < 0 {
		return usageError{"--fd is required"}
	}
	if *mode != "objects" && *mode != "bytes" {
		return usageError{fmt.Sprintf("--mode must be objects or bytes, not %q", *mode)}
	}
	if *proto < -1 || *proto > 5 {
		return usageError{fmt.Sprintf("--protocol must be 0 to 5, not %d", *proto)}
	}
	// An echo peer accepts whatever its Python parent sends, as a Python
	// echo child would: no size limit.
	c, err := conn.FromFD(*fd, &conn.Options{MaxMessageSize: -1})
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c, *mode == "objects", *proto)
}

// echo sends every message received on c back, until a clean end of stream.
func echo(c *conn.Conn, objects bool, proto int) error {
	for n := 1; ; n++ {
		body, err := c.RecvBytes()
		if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receiving message %d: %w", n, err)
		}
		if objects {
			if body, err = repickle(body, proto); err != nil {
				return fmt.Errorf("message %d: %w", n, err)
			}
		}
		if err := c.SendBytes(body); err != nil {
			return fmt.Errorf("sending message %d back: %w", n, err)
		}
	}
}
