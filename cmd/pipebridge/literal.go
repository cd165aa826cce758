package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pipebridge/pipebridge/pickle"
)

// maxLiteralDepth bounds the nesting of one line, so that a line of a
// million '[' is an error, not a deep recursion.
const maxLiteralDepth = 1000

// LiteralError reports a line that is not a literal, at a column counted in
// characters from 1.
type literalError struct {
	Col int
	Msg string
}

func (e *literalError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// parseLiteral reads one value written as a Python literal or as JSON and
// returns it in the pickle package's model. A line that is valid JSON is
// read with JSON's meaning (true, false, null, and JSON's string escapes,
// where "\/" is "/" and surrogate pairs make one character); any other line
// as a Python literal, with the additions sessionUsage lists. The line must
// be UTF-8. A line that holds nothing but blanks and a comment yields
// ok == false.
func parseLiteral(line string) (v any, ok bool, err error) {
	p := &literalParser{src: line, json: json.Valid([]byte(line))}
	if !utf8.ValidString(line) {
		// Python reads source as UTF-8 and refuses anything else.
		for i, r := range line {
			if r == utf8.RuneError {
				return nil, false, p.errorAt(i, "not UTF-8 (write other bytes as \\x escapes)")
			}
		}
	}
	p.skipSpace()
	if p.eof() {
		return nil, false, nil
	}
	v, err = p.value(0)
	if err != nil {
		return nil, false, err
	}
	p.skipSpace()
	if !p.eof() {
		return nil, false, p.errorf("unexpected %s after the value", p.describeNext())
	}
	return v, true, nil
}

type literalParser struct {
	src  string
	pos  int
	json bool // the line is JSON: strings have JSON's escapes
}

func (p *literalParser) eof() bool { return p.pos >= len(p.src) }

func (p *literalParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *literalParser) errorAt(pos int, format string, args ...any) error {
	return &literalError{Col: utf8.RuneCountInString(p.src[:pos]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *literalParser) errorf(format string, args ...any) error {
	return p.errorAt(p.pos, format, args...)
}

// describeNext names what is at the current position, for errors.
func (p *literalParser) describeNext() string {
	if p.eof() {
		return "end of line"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return strconv.QuoteRune(r)
}

// skipSpace skips blanks and a comment, which runs to the end of the line.
func (p *literalParser) skipSpace() {
	for !p.eof() {
		switch p.src[p.pos] {
		case ' ', '\t', '\f', '\r', '\n', '\v':
			p.pos++
		case '#':
			p.pos = len(p.src)
		default:
			return
		}
	}
}

// expect consumes c, after blanks, or fails naming what was expected.
func (p *literalParser) expect(c byte, what string) error {
	p.skipSpace()
	if p.peek() != c {
		return p.errorf("expected %s, found %s", what, p.describeNext())
	}
	p.pos++
	return nil
}

// value reads a value: an operand, and for complex numbers "a+bj" the
// imaginary operand added to it.
func (p *literalParser) value(depth int) (any, error) {
	if depth > maxLiteralDepth {
		return nil, p.errorf("nested more than %d deep", maxLiteralDepth)
	}
	p.skipSpace()
	v, err := p.signed(depth)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	c := p.peek()
	if c != '+' && c != '-' {
		return v, nil
	}
	opPos := p.pos
	p.pos++
	p.skipSpace()
	right, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	im, isImag := right.(complex128)
	re, isReal := realValue(v)
	if !isImag || !isReal {
		return nil, p.errorAt(opPos, "only a real number plus or minus an imaginary one (such as 1+2j) is a literal")
	}
	if c == '-' {
		im = -im
	}
	if vc, ok := v.(complex128); ok {
		return vc + im, nil // 1j+2j, as Python allows
	}
	return complex(re, imag(im)), nil
}

// realValue reports v as a float when it is a number that may stand on the
// left of "+ 2j".
func realValue(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, true
	case float64:
		return v, true
	case complex128:
		return real(v), true
	}
	return 0, false
}

// signed reads an operand with an optional sign, which only numbers take.
func (p *literalParser) signed(depth int) (any, error) {
	c := p.peek()
	if c != '+' && c != '-' {
		return p.operand(depth)
	}
	signPos := p.pos
	p.pos++
	p.skipSpace()
	v, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	if c == '+' {
		if _, ok := realValue(v); ok {
			return v, nil
		}
	} else {
		switch x := v.(type) {
		case int64:
			if x == math.MinInt64 {
				return new(big.Int).Neg(big.NewInt(x)), nil
			}
			return -x, nil
		case *big.Int:
			return normalizeInt(new(big.Int).Neg(x)), nil
		case float64:
			return -x, nil
		case complex128:
			return complex(-real(x), -imag(x)), nil
		}
	}
	return nil, p.errorAt(signPos, "a sign must be followed by a number")
}

// normalizeInt returns x as an int64 when it fits, as the pickle model has
// it.
func normalizeInt(x *big.Int) any {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// operand reads one literal without a sign.
func (p *literalParser) operand(depth int) (any, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf("expected a value, found end of line")
	}
	c := p.peek()
	switch {
	case c == '[':
		p.pos++
		items, err := p.items(']', depth)
		if err != nil {
			return nil, err
		}
		return items, nil
	case c == '(':
		return p.parenthesized(depth)
	case c == '{':
		return p.braced(depth)
	case c == '"' || c == '\'':
		return p.strings()
	case isDigit(c) || c == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]):
		return p.number()
	case isNameStart(c):
		return p.name(depth)
	}
	return nil, p.errorf("unexpected %s", p.describeNext())
}

func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isNameStart(c byte) bool { return c == '_' || 'a' <= c|0x20 && c|0x20 <= 'z' || c >= 0x80 }
func isNameChar(c byte) bool  { return isNameStart(c) || isDigit(c) }

// items reads values separated by commas, with an optional trailing comma,
// up to close (the opening bracket has been read).
func (p *literalParser) items(close byte, depth int) ([]any, error) {
	items := []any{}
	for {
		p.skipSpace()
		if p.peek() == close {
			p.pos++
			return items, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case close:
			p.pos++
			return items, nil
		default:
			return nil, p.errorf("expected ',' or '%c', found %s", close, p.describeNext())
		}
	}
}

// parenthesized reads (), (x), a tuple (x,) or (x, y).
func (p *literalParser) parenthesized(depth int) (any, error) {
	p.pos++ // (
	p.skipSpace()
	if p.peek() == ')' {
		p.pos++
		return pickle.Tuple{}, nil
	}
	first, err := p.value(depth + 1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	switch p.peek() {
	case ')':
		p.pos++
		return first, nil // parentheses around a value
	case ',':
		p.pos++
		rest, err := p.items(')', depth)
		if err != nil {
			return nil, err
		}
		return append(pickle.Tuple{first}, rest...), nil
	}
	return nil, p.errorf("expected ',' or ')', found %s", p.describeNext())
}

// braced reads a dict {k: v, ...} or a set {a, b}; {} is an empty dict.
func (p *literalParser) braced(depth int) (any, error) {
	p.pos++ // {
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return pickle.NewDict(), nil
	}
	keyPos := p.pos
	first, err := p.value(depth + 1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.peek() != ':' {
		// A set: the first element is read already.
		rest := []any{}
		switch p.peek() {
		case ',':
			p.pos++
			if rest, err = p.items('}', depth); err != nil {
				return nil, err
			}
		case '}':
			p.pos++
		default:
			return nil, p.errorf("expected ',', ':' or '}', found %s", p.describeNext())
		}
		set := &pickle.Set{}
		if err := set.Add(first); err != nil {
			return nil, p.errorAt(keyPos, "unhashable type: '%s'", pickle.TypeName(first))
		}
		for _, x := range rest {
			if err := set.Add(x); err != nil {
				return nil, p.errorAt(keyPos, "unhashable type: '%s' in a set", pickle.TypeName(x))
			}
		}
		return set, nil
	}
	d := pickle.NewDict()
	for {
		p.pos++ // :
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := d.Set(first, v); err != nil {
			return nil, p.errorAt(keyPos, "unhashable type: '%s' as a dict key", pickle.TypeName(first))
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return d, nil
		default:
			return nil, p.errorf("expected ',' or '}', found %s", p.describeNext())
		}
		p.skipSpace()
		if p.peek() == '}' {
			p.pos++
			return d, nil
		}
		keyPos = p.pos
		if first, err = p.value(depth + 1); err != nil {
			return nil, err
		}
		if err := p.expect(':', "':' after a dict key"); err != nil {
			return nil, err
		}
		p.pos--
	}
}

// name reads a word: a constant (None, True, False; null, true, false as
// JSON has them; inf, nan, Infinity, NaN) or a call of set, frozenset,
// bytes, bytearray, float or complex.
func (p *literalParser) name(depth int) (any, error) {
	start := p.pos
	for !p.eof() && isNameChar(p.src[p.pos]) {
		p.pos++
	}
	word := p.src[start:p.pos]
	switch word {
	case "None", "null":
		return nil, nil
	case "True", "true":
		return true, nil
	case "False", "false":
		return false, nil
	case "inf", "Infinity":
		return math.Inf(1), nil
	case "nan", "NaN":
		return math.NaN(), nil
	}
	// A string prefix: r'', b'', rb'', u''.
	if q := p.peek(); (q == '\'' || q == '"') && len(word) <= 2 {
		p.pos = start
		return p.strings()
	}
	p.skipSpace()
	if p.peek() != '(' {
		return nil, p.errorAt(start, "name %q is not a literal (strings need quotes)", word)
	}
	call, ok := calls[word]
	if !ok {
		return nil, p.errorAt(start, "%s() is not one of the calls a literal may use: set, frozenset, bytes, bytearray, float, complex", word)
	}
	p.pos++
	args, err := p.items(')', depth)
	if err != nil {
		return nil, err
	}
	v, err := call(args)
	if err != nil {
		return nil, p.errorAt(start, "%s(): %v", word, err)
	}
	return v, nil
}

// calls are the constructors a line may use: those Python's repr writes
// (set(), frozenset({...}), bytearray(b'...')) and float('inf').
var calls = map[string]func(args []any) (any, error){
	"set": func(args []any) (any, error) {
		items, err := iterable(args)
		if err != nil {
			return nil, err
		}
		return pickle.NewSet(items...)
	},
	"frozenset": func(args []any) (any, error) {
		items, err := iterable(args)
		if err != nil {
			return nil, err
		}
		return pickle.NewFrozenSet(items...)
	},
	"bytes": func(args []any) (any, error) {
		return bytesArg(args)
	},
	"bytearray": func(args []any) (any, error) {
		b, err := bytesArg(args)
		return pickle.ByteArray(b), err
	},
	"float": func(args []any) (any, error) {
		if len(args) == 0 {
			return 0.0, nil
		}
		if len(args) > 1 {
			return nil, fmt.Errorf("takes at most 1 argument")
		}
		if s, ok := args[0].(string); ok {
			return parsePyFloat(s)
		}
		if f, ok := realValue(args[0]); ok {
			if _, isComplex := args[0].(complex128); !isComplex {
				return f, nil
			}
		}
		return nil, fmt.Errorf("needs a number or a string, not %s", pickle.TypeName(args[0]))
	},
	"complex": func(args []any) (any, error) {
		if len(args) > 2 {
			return nil, fmt.Errorf("takes at most 2 arguments")
		}
		var parts [2]float64
		for i, a := range args {
			f, ok := realValue(a)
			if _, isComplex := a.(complex128); !ok || isComplex {
				return nil, fmt.Errorf("needs real numbers, not %s", pickle.TypeName(a))
			}
			parts[i] = f
		}
		return complex(parts[0], parts[1]), nil
	},
}

// iterable returns the items of the one optional argument of set() and
// frozenset(): a list, tuple, set, frozenset, a dict's keys, a str's
// characters or a bytes' ints.
func iterable(args []any) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("takes at most 1 argument")
	}
	switch a := args[0].(type) {
	case []any:
		return a, nil
	case pickle.Tuple:
		return a, nil
	case *pickle.Set:
		return a.Items(), nil
	case *pickle.FrozenSet:
		return a.Items(), nil
	case *pickle.Dict:
		return a.Keys(), nil
	case string:
		var items []any
		for i := 0; i < len(a); {
			_, n := decodeWTF8(a[i:])
			items = append(items, a[i:i+n])
			i += n
		}
		return items, nil
	case []byte:
		items := make([]any, len(a))
		for i, c := range a {
			items[i] = int64(c)
		}
		return items, nil
	}
	return nil, fmt.Errorf("'%s' object is not iterable", pickle.TypeName(args[0]))
}

// bytesArg returns the content of bytes(x) or bytearray(x): x is bytes,
// a list or tuple of ints 0 to 255, or a length.
func bytesArg(args []any) ([]byte, error) {
	if len(args) == 0 {
		return []byte{}, nil
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("takes at most 1 argument (encodings are not supported)")
	}
	var list []any
	switch a := args[0].(type) {
	case []byte:
		return append([]byte{}, a...), nil
	case pickle.ByteArray:
		return append([]byte{}, a...), nil
	case int64:
		if a < 0 || a > 1<<20 {
			return nil, fmt.Errorf("length %d out of range 0 to %d", a, 1<<20)
		}
		return make([]byte, a), nil
	case []any:
		list = a
	case pickle.Tuple:
		list = a
	case string:
		return nil, fmt.Errorf("a str needs an encoding, which is not supported: write b'...'")
	default:
		return nil, fmt.Errorf("cannot make bytes from %s", pickle.TypeName(a))
	}
	out := make([]byte, len(list))
	for i, x := range list {
		n, ok := x.(int64)
		if !ok || n < 0 || n > 255 {
			return nil, fmt.Errorf("item %d is not an int in range(0, 256)", i)
		}
		out[i] = byte(n)
	}
	return out, nil
}

// parsePyFloat reads s as Python's float(s) does: blanks around, a sign,
// then inf, infinity or nan in any case, or a decimal number with optional
// underscores between digits.
func parsePyFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	body := strings.TrimLeft(t, "+-")
	if len(t)-len(body) > 1 {
		return 0, fmt.Errorf("could not convert string to float: %q", s)
	}
	neg := strings.HasPrefix(t, "-")
	var f float64
	switch strings.ToLower(body) {
	case "inf", "infinity":
		f = math.Inf(1)
	case "nan":
		f = math.NaN()
	default:
		digits, ok := pyDigits(body)
		if !ok || digits == "" || strings.ContainsAny(digits, "xXoObBpP") {
			return 0, fmt.Errorf("could not convert string to float: %q", s)
		}
		var err error
		if f, err = strconv.ParseFloat(digits, 64); err != nil && !isRangeError(err) {
			return 0, fmt.Errorf("could not convert string to float: %q", s)
		}
	}
	if neg {
		f = -f
	}
	return f, nil
}

// isRangeError reports a number too large or small for a float64: Python
// reads it as ±inf or 0, as ParseFloat returns it.
func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// pyDigits removes the underscores Python allows between digits, and
// reports whether they were all so placed.
func pyDigits(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && (i == 0 || i == len(s)-1 || !isHexDigit(s[i-1]) || !isHexDigit(s[i+1])) {
			return "", false
		}
	}
	return strings.ReplaceAll(s, "_", ""), true
}

func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

// number reads an int (decimal, 0x, 0o, 0b, with underscores), a float or
// an imaginary number (a trailing j).
func (p *literalParser) number() (any, error) {
	start := p.pos
	for !p.eof() {
		c := p.src[p.pos]
		if isNameChar(c) || c == '.' {
			p.pos++
			continue
		}
		// The sign of an exponent belongs to the number.
		if (c == '+' || c == '-') && p.pos > start && p.src[p.pos-1]|0x20 == 'e' && !isPrefixed(p.src[start:p.pos]) {
			p.pos++
			continue
		}
		break
	}
	tok := p.src[start:p.pos]
	v, err := parseNumber(tok)
	if err != nil {
		return nil, p.errorAt(start, "invalid number %q: %v", tok, err)
	}
	return v, nil
}

func isPrefixed(tok string) bool {
	return len(tok) >= 2 && tok[0] == '0' && strings.ContainsRune("xXoObB", rune(tok[1]))
}

func parseNumber(tok string) (any, error) {
	if isPrefixed(tok) {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[tok[1]|0x20]
		digits, ok := pyDigits(strings.TrimPrefix(tok[2:], "_"))
		if !ok || digits == "" {
			return nil, fmt.Errorf("misplaced underscore or no digits")
		}
		x, ok := new(big.Int).SetString(digits, base)
		if !ok {
			return nil, fmt.Errorf("not a base-%d number", base)
		}
		return normalizeInt(x), nil
	}
	imaginary := false
	if last := tok[len(tok)-1]; last == 'j' || last == 'J' {
		imaginary = true
		tok = tok[:len(tok)-1]
	}
	digits, ok := pyDigits(tok)
	if !ok || digits == "" {
		return nil, fmt.Errorf("misplaced underscore")
	}
	isFloat := strings.ContainsAny(digits, ".eE")
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !isDigit(c) && c != '.' && c|0x20 != 'e' && c != '+' && c != '-' {
			return nil, fmt.Errorf("unexpected %q", c)
		}
	}
	if !isFloat && !imaginary {
		if len(digits) > 1 && digits[0] == '0' && strings.Trim(digits, "0") != "" {
			return nil, fmt.Errorf("leading zeros in a decimal integer are not allowed (use 0o for octal)")
		}
		x, ok := new(big.Int).SetString(digits, 10)
		if !ok {
			return nil, fmt.Errorf("not a number")
		}
		return normalizeInt(x), nil
	}
	f, err := strconv.ParseFloat(digits, 64)
	if err != nil && !isRangeError(err) {
		return nil, fmt.Errorf("not a number")
	}
	if imaginary {
		return complex(0, f), nil
	}
	return f, nil
}

// strings reads one string literal, or several in a row, which Python
// joins ('a' "b" is 'ab'); str and bytes do not mix.
func (p *literalParser) strings() (any, error) {
	var text []byte
	isBytes := -1
	for {
		litPos := p.pos
		b, bytesLit, err := p.stringLiteral()
		if err != nil {
			return nil, err
		}
		if isBytes >= 0 && (isBytes == 1) != bytesLit {
			return nil, p.errorAt(litPos, "cannot join bytes and str literals")
		}
		if bytesLit {
			isBytes = 1
		} else {
			isBytes = 0
		}
		text = append(text, b...)
		p.skipSpace()
		if !p.startsString() {
			break
		}
	}
	if isBytes == 1 {
		return text, nil
	}
	return string(text), nil
}

// startsString reports whether a string literal, with or without a prefix,
// starts at the current position.
func (p *literalParser) startsString() bool {
	rest := p.src[p.pos:]
	for i := 0; i < len(rest) && i <= 2; i++ {
		c := rest[i]
		if c == '\'' || c == '"' {
			return true
		}
		if !strings.ContainsRune("rRbBuU", rune(c)) {
			return false
		}
	}
	return false
}

// stringLiteral reads one literal: a prefix (r, b, u, br, rb in any case),
// then '...', "...", ”'...”' or """...""". It returns the text as bytes:
// UTF-8 for a str (with lone surrogates as 3-byte sequences), the bytes
// for bytes.
func (p *literalParser) stringLiteral() (text []byte, isBytes bool, err error) {
	raw := false
	start := p.pos
	for !p.eof() && p.peek() != '\'' && p.peek() != '"' {
		p.pos++
	}
	prefix := p.src[start:p.pos]
	switch strings.ToLower(prefix) {
	case "", "u":
	case "r":
		raw = true
	case "b":
		isBytes = true
	case "br", "rb":
		raw, isBytes = true, true
	default:
		if strings.ContainsAny(prefix, "fF") {
			return nil, false, p.errorAt(start, "f-strings are not literals")
		}
		return nil, false, p.errorAt(start, "invalid string prefix %q", prefix)
	}
	if p.json && prefix == "" && p.peek() == '"' {
		return p.jsonString()
	}
	quote := p.src[p.pos : p.pos+1]
	if strings.HasPrefix(p.src[p.pos:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	p.pos += len(quote)
	for {
		if p.eof() {
			return nil, false, p.errorAt(start, "unterminated string")
		}
		if strings.HasPrefix(p.src[p.pos:], quote) {
			p.pos += len(quote)
			return text, isBytes, nil
		}
		c := p.src[p.pos]
		if c == '\\' {
			if raw {
				// A backslash keeps the next character from ending the
				// string, and both stay.
				text = append(text, '\\')
				p.pos++
				if p.eof() {
					continue
				}
				c = p.src[p.pos]
			} else {
				if text, err = p.escape(text, isBytes); err != nil {
					return nil, false, err
				}
				continue
			}
		}
		if isBytes && c >= 0x80 {
			return nil, false, p.errorf("bytes can only contain ASCII characters (write \\x%02x)", c)
		}
		text = append(text, c)
		p.pos++
	}
}

// escape reads the escape sequence at the current backslash and appends
// what it stands for. Unknown escapes stay as they are, backslash
// included, as in Python.
func (p *literalParser) escape(text []byte, isBytes bool) ([]byte, error) {
	start := p.pos
	p.pos++ // backslash
	if p.eof() {
		return nil, p.errorAt(start, "unterminated string (it ends with a backslash)")
	}
	c := p.src[p.pos]
	p.pos++
	if simple := strings.IndexByte(`\'"abfnrtv`, c); simple >= 0 {
		return append(text, "\\'\"\a\b\f\n\r\t\v"[simple]), nil
	}
	switch {
	case '0' <= c && c <= '7':
		n := int(c - '0')
		for i := 0; i < 2 && !p.eof() && '0' <= p.peek() && p.peek() <= '7'; i++ {
			n = n*8 + int(p.peek()-'0')
			p.pos++
		}
		if isBytes {
			if n > 0xff {
				return nil, p.errorAt(start, "octal escape \\%o is out of range for bytes", n)
			}
			return append(text, byte(n)), nil
		}
		return appendWTF8(text, rune(n)), nil
	case c == 'x':
		return p.hexEscape(text, start, 2, isBytes)
	case c == 'u' && !isBytes:
		return p.hexEscape(text, start, 4, false)
	case c == 'U' && !isBytes:
		return p.hexEscape(text, start, 8, false)
	case c == 'N' && !isBytes:
		return nil, p.errorAt(start, "\\N{...} escapes are not supported: write the character or \\u")
	}
	p.pos = start + 1 // an unknown escape: keep the backslash, read c again
	return append(text, '\\'), nil
}

func (p *literalParser) hexEscape(text []byte, start, digits int, isBytes bool) ([]byte, error) {
	if p.pos+digits > len(p.src) {
		return nil, p.errorAt(start, "truncated \\%c escape", p.src[start+1])
	}
	hex := p.src[p.pos : p.pos+digits]
	n, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || strings.ContainsAny(hex, "+-_") {
		return nil, p.errorAt(start, "truncated \\%c escape", p.src[start+1])
	}
	p.pos += digits
	if isBytes {
		return append(text, byte(n)), nil
	}
	if n > unicode.MaxRune {
		return nil, p.errorAt(start, "\\U%s is beyond the last Unicode character", hex)
	}
	return appendWTF8(text, rune(n)), nil
}

// jsonString reads a JSON string with JSON's escapes; the line is valid
// JSON, so the string is well formed. A surrogate pair written as two \u
// escapes is one character; a lone surrogate stays one, as in Python.
func (p *literalParser) jsonString() ([]byte, bool, error) {
	var text []byte
	p.pos++ // "
	for p.src[p.pos] != '"' {
		c := p.src[p.pos]
		if c != '\\' {
			text = append(text, c)
			p.pos++
			continue
		}
		e := p.src[p.pos+1]
		p.pos += 2
		if i := strings.IndexByte(`"\/bfnrt`, e); i >= 0 {
			text = append(text, "\"\\/\b\f\n\r\t"[i])
			continue
		}
		r := p.jsonHex()
		if 0xd800 <= r && r < 0xdc00 && strings.HasPrefix(p.src[p.pos:], `\u`) {
			save := p.pos
			p.pos += 2
			if low := p.jsonHex(); 0xdc00 <= low && low <= 0xdfff {
				r = 0x10000 + (r-0xd800)<<10 + (low - 0xdc00)
			} else {
				p.pos = save
			}
		}
		text = appendWTF8(text, r)
	}
	p.pos++
	return text, false, nil
}

// jsonHex reads the four hex digits of a \u escape.
func (p *literalParser) jsonHex() rune {
	n, _ := strconv.ParseUint(p.src[p.pos:p.pos+4], 16, 16)
	p.pos += 4
	return rune(n)
}
