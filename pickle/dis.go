package pickle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Disassemble writes a listing of the pickle in data to w, one opcode a
// line, in the manner of Python's pickletools.dis: the offset, the opcode
// byte, its name indented by the depth of open MARKs, and its argument, with
// the offset of the MARK an opcode closes and the memo index that MEMOIZE
// assigns. It ends with the highest protocol among the opcodes seen.
// Arguments are shown as pickletools shows them, as the repr of the value
// read: INT 01 as True, LONG 5L as 5, floats as 1.0, -0.0, inf and nan,
// bytearray(b'..') for BYTEARRAY8, and STRING and UNICODE as the str their
// escapes decode to.
//
// Disassemble checks the opcode stream, not what it builds: it stops at
// STOP, and returns a *DecodeError (after listing everything before it) for
// an unknown opcode, an argument cut short or that does not parse (a STRING
// without quotes, an INT that is not a number: pickletools fails on these
// too), or a MARK that is missing.
func Disassemble(w io.Writer, data []byte) error {
	d := disassembler{w: w, data: data, memo: map[uint64]bool{}}
	err := d.run()
	if err == nil && d.werr == nil {
		fmt.Fprintf(w, "highest protocol among opcodes = %d\n", d.highest)
	}
	if d.werr != nil {
		return d.werr
	}
	return err
}

type disassembler struct {
	w       io.Writer
	werr    error
	data    []byte
	pos     int
	marks   []int
	memo    map[uint64]bool
	highest int
}

// closesMark lists the opcodes that pop the topmost MARK.
var closesMark = [256]bool{
	opAppends: true, opDict: true, opList: true, opTuple: true, opSetitems: true,
	opObj: true, opInst: true, opPopMark: true, opAdditems: true, opFrozenset: true,
}

func (d *disassembler) fail(start int, op byte, err error) error {
	return &DecodeError{Offset: int64(start), Opcode: op, Err: err}
}

func (d *disassembler) run() error {
	for {
		start := d.pos
		if d.pos >= len(d.data) {
			return d.fail(start, 0, ErrTruncated)
		}
		op := d.data[d.pos]
		d.pos++
		info := opTable[op]
		if info.name == "" {
			return d.fail(start, op, ErrUnknownOpcode)
		}
		if int(info.proto) > d.highest {
			d.highest = int(info.proto)
		}
		arg, err := d.argument(op, info)
		if err != nil {
			return d.fail(start, op, err)
		}
		depth := len(d.marks)
		note := ""
		switch {
		case op == opMark:
			d.marks = append(d.marks, start)
		case closesMark[op]:
			if len(d.marks) == 0 {
				return d.fail(start, op, ErrMark)
			}
			// Shown at the depth of the items it closes, as pickletools does.
			note = fmt.Sprintf("(MARK at %d)", d.marks[len(d.marks)-1])
			d.marks = d.marks[:len(d.marks)-1]
		case op == opMemoize:
			note = fmt.Sprintf("(as %d)", len(d.memo))
			d.memo[uint64(len(d.memo))] = true
		case op == opPut || op == opBinput || op == opLongBinput:
			key := map[string]string{"False": "0", "True": "1"}[arg] // PUT 00 and 01
			if key == "" {
				key = arg
			}
			if n, err := strconv.ParseUint(key, 10, 64); err == nil {
				d.memo[n] = true
			}
		}
		d.line(start, op, info.name, depth, arg, note)
		if op == opStop {
			if len(d.marks) > 0 {
				return d.fail(start, op, fmt.Errorf("%w: %d MARKs left open at STOP", ErrMark, len(d.marks)))
			}
			return nil
		}
	}
}

func (d *disassembler) line(pos int, op byte, name string, depth int, arg, note string) {
	if d.werr != nil {
		return
	}
	code := strconv.QuoteToASCII(string([]byte{op}))
	if op >= 0x80 {
		code = fmt.Sprintf(`\x%02x`, op)
	} else {
		code = code[1 : len(code)-1]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%5d: %-4s %s%s", pos, code, indent(depth), name)
	if (arg != "" || note != "") && len(name) < 10 {
		b.WriteString(strings.Repeat(" ", 10-len(name)))
	}
	if arg != "" {
		fmt.Fprintf(&b, " %s", arg)
	}
	if note != "" {
		fmt.Fprintf(&b, " %s", note)
	}
	b.WriteByte('\n')
	_, d.werr = d.w.Write(b.Bytes())
}

func indent(depth int) string {
	const step = "    "
	if depth > 20 {
		return fmt.Sprintf("[depth %d] ", depth)
	}
	return string(bytes.Repeat([]byte(step), depth))
}

// take returns the next n bytes, or ErrTruncated.
func (d *disassembler) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.pos) {
		return nil, ErrTruncated
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

// argument reads op's inline argument and formats it.
func (d *disassembler) argument(op byte, info opInfo) (string, error) {
	switch info.arg {
	case argNone:
		return "", nil
	case argFixed:
		b, err := d.take(uint64(info.n))
		if err != nil {
			return "", err
		}
		switch op {
		case opBinint:
			return strconv.FormatInt(int64(int32(binary.LittleEndian.Uint32(b))), 10), nil
		case opBinfloat:
			return pyFloatRepr(math.Float64frombits(binary.BigEndian.Uint64(b))), nil
		default: // unsigned little-endian of 1, 2, 4 or 8 bytes
			var n uint64
			for i := len(b) - 1; i >= 0; i-- {
				n = n<<8 | uint64(b[i])
			}
			return strconv.FormatUint(n, 10), nil
		}
	case argLine:
		line, err := d.textLine()
		if err != nil {
			return "", err
		}
		return lineArgument(op, line)
	case argLine2:
		module, err := d.textLine()
		if err != nil {
			return "", err
		}
		name, err := d.textLine()
		if err != nil {
			return "", err
		}
		return pyQuote(string(module)+" "+string(name), false), nil
	}
	var n uint64
	switch info.arg {
	case argLen1:
		b, err := d.take(1)
		if err != nil {
			return "", err
		}
		n = uint64(b[0])
	case argLen4:
		b, err := d.take(4)
		if err != nil {
			return "", err
		}
		n = uint64(binary.LittleEndian.Uint32(b))
		if (op == opBinstring || op == opLong4) && int32(n) < 0 {
			return "", fmt.Errorf("%w: negative length %d", ErrSyntax, int32(n))
		}
	case argLen8:
		b, err := d.take(8)
		if err != nil {
			return "", err
		}
		n = binary.LittleEndian.Uint64(b)
	}
	data, err := d.take(n)
	if err != nil {
		return "", err
	}
	switch op {
	case opLong1, opLong4:
		return decodeLongLE(data).String(), nil
	case opBinunicode, opShortBinunicode, opBinunicode8:
		return pyQuote(string(data), false), nil
	case opBytearray8:
		// repr(bytearray) escapes every ' (bytes escapes only the quote).
		q := pyQuote(string(data), true)
		if q[1] == '"' {
			q = strings.ReplaceAll(q, "'", `\'`)
		}
		return "bytearray(" + q + ")", nil
	default: // bytes and Python 2 str
		return pyQuote(string(data), true), nil
	}
}

// lineArgument formats the text-line argument of op as pickletools does,
// as the repr of the value it reads: INT, GET and PUT as an int, with INT
// 00 and 01 as False and True; LONG as an int, its trailing L gone; FLOAT
// as repr(float); STRING without its quotes and PERSID as they are, after
// escape_decode; UNICODE after raw-unicode-escape decoding. A line that
// does not parse is an ErrSyntax, as it is a ValueError in pickletools.
//
// pickletools in Python 3 decodes STRING and PERSID as ASCII and fails on
// any other byte; Disassemble shows them as Python 2's pickletools did, as
// the repr of a Python 2 str ('caf\xc3\xa9'), which for ASCII is the
// same as Python 3's.
func lineArgument(op byte, line []byte) (string, error) {
	switch op {
	case opInt, opGet, opPut, opLong:
		switch {
		case op == opLong && len(line) > 0 && line[len(line)-1] == 'L':
			line = line[:len(line)-1]
		case op != opLong && string(line) == "00":
			return "False", nil
		case op != opLong && string(line) == "01":
			return "True", nil
		}
		n, err := parsePyInt(line, false)
		if err != nil {
			return "", fmt.Errorf("%w: %s argument %q is not an int", ErrSyntax, opTable[op].name, line)
		}
		return fmt.Sprint(n), nil
	case opFloat:
		f, err := parsePyFloat(line)
		if err != nil {
			return "", fmt.Errorf("%w: FLOAT argument %q is not a float", ErrSyntax, line)
		}
		return pyFloatRepr(f), nil
	case opString, opPersid:
		if op == opString {
			if len(line) == 0 || line[0] != '\'' && line[0] != '"' || line[len(line)-1] != line[0] {
				return "", fmt.Errorf("%w: STRING argument %q is not quoted", ErrSyntax, line)
			}
			line = line[1:max(len(line)-1, 1)] // "'" alone is '', as data[1:-1]
		}
		b, err := escapeDecode(line)
		if err != nil {
			return "", fmt.Errorf("%w: %s argument %q has a bad escape", ErrSyntax, opTable[op].name, line)
		}
		return strings.TrimPrefix(pyQuote(string(b), true), "b"), nil
	case opUnicode:
		b, err := rawUnicodeEscapeDecode(line)
		if err != nil {
			return "", fmt.Errorf("%w: UNICODE argument %q has a bad escape", ErrSyntax, line)
		}
		return pyQuote(string(b), false), nil
	}
	return string(line), nil
}

// pyQuote quotes s the way Python's repr quotes a str (or, with isBytes, a
// bytes): single quotes unless s holds one and no double quote, printable
// characters as they are, others escaped. A str is UTF-8 with lone
// surrogates allowed (surrogatepass), shown as \ud800; bytes that are not
// UTF-8 at all are shown as \x escapes.
func pyQuote(s string, isBytes bool) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	if isBytes {
		b.WriteByte('b')
	}
	b.WriteByte(q)
	for i := 0; i < len(s); {
		c := s[i]
		r, size := rune(c), 1
		if !isBytes && c >= utf8.RuneSelf {
			r, size = decodeRune(s[i:])
		}
		switch {
		case r == '\\' || r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(c)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f, isBytes && r >= 0x80:
			fmt.Fprintf(&b, `\x%02x`, c)
		case r >= 0x80 && !unicode.IsPrint(r):
			if r <= 0xff {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else if r <= 0xffff {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte(q)
	return b.String()
}

// textLine reads up to and including a newline and returns the line
// without it.
func (d *disassembler) textLine() ([]byte, error) {
	i := bytes.IndexByte(d.data[d.pos:], '\n')
	if i < 0 {
		return nil, ErrTruncated
	}
	line := d.data[d.pos : d.pos+i]
	d.pos += i + 1
	return line, nil
}

// decodeLongLE decodes a little-endian two's-complement integer, as LONG1
// and LONG4 hold it.
func decodeLongLE(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	n := new(big.Int).SetBytes(be)
	if len(b) > 0 && b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}
