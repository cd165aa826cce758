package pickle

import (
	"encoding/binary"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parsing and formatting of the text arguments of protocol 0 opcodes, with
// Python's rules (int(s, 0), float(s), escape_decode, raw-unicode-escape).

func isPySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func trimPySpace(s []byte) []byte {
	for len(s) > 0 && isPySpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isPySpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func digitVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// parsePyInt parses s as Python's int(s, base) does for base 0 (prefixes
// 0x, 0o, 0b; no leading zeros on decimals) or base 10. It returns an
// int64 when the value fits, else a *big.Int.
func parsePyInt(s []byte, base0 bool) (any, error) {
	s = trimPySpace(s)
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	if base0 && len(s) >= 2 && s[0] == '0' {
		switch s[1] | 0x20 {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 10 {
			s = s[2:]
			// int('0x_1f', 0) is allowed: an underscore may follow the prefix.
			if len(s) > 0 && s[0] == '_' {
				s = s[1:]
			}
		}
	}
	if len(s) == 0 {
		return nil, ErrSyntax
	}
	// Validate digits and underscores (single, between digits).
	digits := make([]byte, 0, len(s))
	for i, c := range s {
		if c == '_' {
			if i == 0 || i == len(s)-1 || s[i-1] == '_' {
				return nil, ErrSyntax
			}
			continue
		}
		if digitVal(c) >= base {
			return nil, ErrSyntax
		}
		digits = append(digits, c)
	}
	if base0 && base == 10 && len(digits) > 1 && digits[0] == '0' {
		for _, c := range digits {
			if c != '0' {
				return nil, ErrSyntax // int('010', 0) is an error in Python 3
			}
		}
	}
	if len(digits) <= 18 && base == 10 || len(digits) <= 15 && base == 16 {
		v, err := strconv.ParseInt(string(digits), base, 64)
		if err == nil {
			if neg {
				v = -v
			}
			return v, nil
		}
	}
	b, ok := new(big.Int).SetString(string(digits), base)
	if !ok {
		return nil, ErrSyntax
	}
	if neg {
		b.Neg(b)
	}
	return normInt(b), nil
}

// normInt returns b as int64 when it fits.
func normInt(b *big.Int) any {
	if b.IsInt64() {
		return b.Int64()
	}
	return b
}

// parsePyFloat parses s as Python's float(s).
func parsePyFloat(s []byte) (float64, error) {
	s = trimPySpace(s)
	body := s
	neg := false
	if len(body) > 0 && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	switch strings.ToLower(string(body)) {
	case "inf", "infinity":
		if neg {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	case "nan":
		return math.NaN(), nil
	}
	// Only decimal literals: digits, one '.', an exponent, single
	// underscores between digits.
	clean := make([]byte, 0, len(s))
	if neg {
		clean = append(clean, '-')
	}
	seenDigit, seenDot, seenExp := false, false, false
	for i, c := range body {
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			clean = append(clean, c)
		case c == '_':
			if i == 0 || i == len(body)-1 || !isDigit(body[i-1]) || !isDigit(body[i+1]) {
				return 0, ErrSyntax
			}
		case c == '.':
			if seenDot || seenExp {
				return 0, ErrSyntax
			}
			seenDot = true
			clean = append(clean, c)
		case c == 'e' || c == 'E':
			if seenExp || !seenDigit {
				return 0, ErrSyntax
			}
			seenExp = true
			clean = append(clean, 'e')
			if i+1 < len(body) && (body[i+1] == '+' || body[i+1] == '-') {
				continue
			}
		case c == '+' || c == '-':
			if i == 0 || (body[i-1] != 'e' && body[i-1] != 'E') {
				return 0, ErrSyntax
			}
			clean = append(clean, c)
		default:
			return 0, ErrSyntax
		}
	}
	if !seenDigit {
		return 0, ErrSyntax
	}
	f, err := strconv.ParseFloat(string(clean), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, nil // Python gives inf or 0.0 too
		}
		return 0, ErrSyntax
	}
	return f, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pyFloatRepr formats f as Python's repr(float) does.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp >= -4 && exp < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	return e
}

// escapeDecode is Python's codecs.escape_decode, used for the STRING opcode.
func escapeDecode(s []byte) ([]byte, error) {
	if !containsByte(s, '\\') {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, ErrSyntax // trailing backslash
		}
		c = s[i]
		switch c {
		case '\n':
		case '\\', '\'', '"':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'v':
			out = append(out, '\v')
		case 'a':
			out = append(out, '\a')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; k++ {
				i++
				v = v*8 + int(s[i]-'0')
			}
			out = append(out, byte(v))
		case 'x':
			if i+2 >= len(s) || digitVal(s[i+1]) >= 16 || digitVal(s[i+2]) >= 16 {
				return nil, ErrSyntax
			}
			out = append(out, byte(digitVal(s[i+1])<<4|digitVal(s[i+2])))
			i += 2
		default:
			out = append(out, '\\', c)
		}
	}
	return out, nil
}

func containsByte(s []byte, c byte) bool {
	for _, x := range s {
		if x == c {
			return true
		}
	}
	return false
}

// appendRune appends r as UTF-8, writing surrogates (which Go's encoder
// replaces) as their 3-byte "surrogatepass" sequences.
func appendRune(out []byte, r rune) []byte {
	if r >= 0xD800 && r <= 0xDFFF {
		return append(out, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(out, r)
}

// rawUnicodeEscapeDecode is Python's raw-unicode-escape decoding, used for
// the UNICODE opcode, producing UTF-8 (surrogatepass).
func rawUnicodeEscapeDecode(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s)+len(s)/4)
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c < 0x80 {
				out = append(out, c)
			} else {
				out = append(out, 0xC0|c>>6, 0x80|c&0x3F)
			}
			i++
			continue
		}
		// A run of backslashes: \u and \U escapes count only after an odd
		// number of them.
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		n := j - i
		if n%2 == 0 || j >= len(s) || (s[j] != 'u' && s[j] != 'U') {
			out = append(out, s[i:j]...)
			i = j
			continue
		}
		out = append(out, s[i:j-1]...)
		count := 4
		if s[j] == 'U' {
			count = 8
		}
		j++
		if j+count > len(s) {
			return nil, ErrSyntax
		}
		var r rune
		for k := 0; k < count; k++ {
			d := digitVal(s[j+k])
			if d >= 16 {
				return nil, ErrSyntax
			}
			r = r<<4 | rune(d)
		}
		if r > 0x10FFFF || r < 0 {
			return nil, ErrSyntax
		}
		out = appendRune(out, r)
		i = j + count
	}
	return out, nil
}

// validPyUTF8 reports whether b is UTF-8 as Python's "surrogatepass"
// decoder accepts it: valid UTF-8, plus encoded lone surrogates.
// shortASCII reports whether b is ASCII, for b of at most 16 bytes, with
// no call and no loop for 8 bytes or more; false means "not known".
func shortASCII(b []byte) bool {
	switch n := len(b); {
	case n >= 8 && n <= 16:
		return (binary.LittleEndian.Uint64(b)|binary.LittleEndian.Uint64(b[n-8:]))&0x8080808080808080 == 0
	case n < 8:
		var acc byte
		for _, c := range b {
			acc |= c
		}
		return acc < 0x80
	}
	return false
}

func validPyUTF8(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			i++
			continue
		}
		var n int
		lo, hi := byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			n = 1
		case c == 0xE0:
			n, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEF:
			n = 2 // 0xED includes surrogates: that is the point
		case c == 0xF0:
			n, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			n = 3
		case c == 0xF4:
			n, hi = 3, 0x8F
		default:
			return false
		}
		if i+n >= len(b) {
			return false
		}
		if b[i+1] < lo || b[i+1] > hi {
			return false
		}
		for k := 2; k <= n; k++ {
			if b[i+k] < 0x80 || b[i+k] > 0xBF {
				return false
			}
		}
		i += n + 1
	}
	return true
}

// decodeRune decodes one rune of surrogatepass UTF-8 from s.
func decodeRune(s string) (rune, int) {
	if len(s) >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF {
		return rune(s[0]&0x0F)<<12 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	}
	return utf8.DecodeRuneInString(s)
}

// latin1Bytes encodes a (surrogatepass UTF-8) string as Latin-1, failing
// if it holds a character above U+00FF.
func latin1Bytes(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			out = append(out, c)
			i++
			continue
		}
		r, n := decodeRune(s[i:])
		if r > 0xFF || (r == utf8.RuneError && n == 1) {
			return nil, false
		}
		out = append(out, byte(r))
		i += n
	}
	return out, true
}

// latin1String decodes Latin-1 bytes to a UTF-8 string.
func latin1String(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	out := make([]byte, 0, len(b)*2)
	for _, c := range b {
		if c < 0x80 {
			out = append(out, c)
		} else {
			out = append(out, 0xC0|c>>6, 0x80|c&0x3F)
		}
	}
	return string(out)
}
