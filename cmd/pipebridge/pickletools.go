package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/pipebridge/pipebridge/pickle"
)

const repickleUsage = `
usage: pipebridge repickle [--protocol N] < in.pkl > out.pkl

Repickle reads one pickle from standard input, decodes it with pipebridge's
codec and writes it again to standard output: at protocol N, or by default
at the protocol it was written in (its PROTO opcode, else 0 or 1 as its
opcodes show). Python 2 strs stay Python 2 strs, so a value comes back as it
went in. Nothing runs or is imported: classes are only names.

Exit status: 0 on success; 1 when the input is not a pickle pipebridge can
decode, or its value cannot be written at protocol N (one line on standard
error, nothing on standard output); 2 for a usage error.
`

func runRepickle(e *env, args []string) error {
	fs := newFlags("repickle", e.stderr)
	setUsage(fs, repickleUsage)
	protoFlag := optionalIntFlag(fs, "protocol", "write protocol `N` (0-5; default: the input's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	proto := protoFlag.value()
	if protoFlag.set && (proto < 0 || proto > pickle.HighestProtocol) {
		return usagef("--protocol must be 0 to %d, not %d", pickle.HighestProtocol, proto)
	}
	in, err := io.ReadAll(e.stdin)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if len(in) == 0 {
		return fmt.Errorf("standard input is empty: no pickle to read")
	}
	// Decode the first pickle only, and refuse anything after its STOP:
	// silently dropping trailing data would lose it.
	src := bytes.NewReader(in)
	dec := decodeOptions.NewDecoder(src)
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if rest, _ := io.Copy(io.Discard, io.MultiReader(dec.Buffered(), src)); rest > 0 {
		return fmt.Errorf("%d bytes follow the pickle's STOP opcode", rest)
	}
	if proto < 0 {
		if proto, err = pickle.Protocol(in); err != nil {
			return err
		}
	}
	out, err := encodeOptions(proto).Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot write it at protocol %d: %w", proto, err)
	}
	_, err = e.stdout.Write(out)
	return err
}

const disUsage = `
usage: pipebridge dis < in.pkl

Dis reads one pickle from standard input and lists its opcodes, in the
manner of Python's pickletools.dis: offset, opcode byte, name indented by
open MARKs, argument, the MARK an opcode closes and the memo index MEMOIZE
assigns, then the highest protocol among the opcodes.

Exit status: 0 on success; 1 when the opcode stream is broken (the lines
before the fault are printed, then one line on standard error); 2 for a
usage error.
`

func runDis(e *env, args []string) error {
	fs := newFlags("dis", e.stderr)
	setUsage(fs, disUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in, err := io.ReadAll(e.stdin)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	return pickle.Disassemble(e.stdout, in)
}
