package pickle

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Numbers beyond the builtins: big.Int, big.Float and big.Rat,
// decimal.Decimal ↔ Decimal, fractions.Fraction ↔ big.Rat, and uuid.UUID
// ↔ UUID.

var (
	gDecimal  = Global{"decimal", "Decimal"}
	gFraction = Global{"fractions", "Fraction"}
	gUUID     = Global{"uuid", "UUID"}
)

func init() {
	addBuiltin(decodeBigInt, nil)
	addBuiltin(decodeBigFloat, encodeBigFloat)
	addBuiltin(decodeBigRat, encodeBigRat)
	addBuiltin(decodeDecimal, encodeDecimal)
	addBuiltin(decodeUUID, encodeUUID)
}

var (
	bigFloatType = reflect.TypeFor[big.Float]()
	bigRatType   = reflect.TypeFor[big.Rat]()
	decimalType  = reflect.TypeFor[Decimal]()
	uuidType     = reflect.TypeFor[UUID]()
)

func decodeBigInt(c *conv, v any, b *big.Int) error {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		b.SetInt64(x)
		return nil
	case *big.Int:
		b.Set(x)
		return nil
	}
	return mismatch(v, bigIntType)
}

func decodeBigFloat(c *conv, v any, f *big.Float) error {
	switch x := v.(type) {
	case nil:
		return nil
	case float64:
		if math.IsNaN(x) {
			return failure(v, bigFloatType, errors.New("big.Float has no NaN"))
		}
		if f.Prec() == 0 {
			f.SetPrec(53)
		}
		f.SetFloat64(x)
		return nil
	case int64:
		if f.Prec() == 0 {
			f.SetPrec(64)
		}
		f.SetInt64(x)
		return nil
	case *big.Int:
		if f.Prec() == 0 {
			f.SetPrec(uint(max(64, x.BitLen())))
		}
		f.SetInt(x)
		return nil
	}
	var d Decimal
	if err := decodeDecimal(c, v, &d); err != nil {
		return mismatch(v, bigFloatType)
	}
	if d.IsNaN() {
		return failure(v, bigFloatType, errors.New("big.Float has no NaN"))
	}
	prec := f.Prec()
	if prec == 0 {
		// Enough bits that the decimal digits survive a round trip.
		prec = uint(max(64, 4*(len(d.coefficient().String())+1)))
	}
	f.SetPrec(prec)
	if d.IsInf() {
		f.SetInf(d.neg)
		return nil
	}
	if _, _, err := f.Parse(d.String(), 10); err != nil {
		return failure(v, bigFloatType, err)
	}
	return nil
}

func encodeBigFloat(e *encoder, f *big.Float) (any, error) {
	if f.IsInf() {
		if f.Signbit() {
			return call(gDecimal, "-Infinity"), nil
		}
		return call(gDecimal, "Infinity"), nil
	}
	d, err := ParseDecimal(f.Text('g', -1))
	if err != nil {
		return nil, err
	}
	return call(gDecimal, d.String()), nil
}

func decodeBigRat(c *conv, v any, r *big.Rat) error {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		r.SetInt64(x)
		return nil
	case *big.Int:
		r.SetInt(x)
		return nil
	case float64:
		if r.SetFloat64(x) == nil {
			return failure(v, bigRatType, errors.New("not finite"))
		}
		return nil
	}
	if w, _, ok := objectOf(v, gFraction); ok {
		switch len(w.args) {
		case 1:
			if s, ok := textArg(w.args[0]); ok {
				if _, ok := r.SetString(strings.TrimSpace(s)); ok {
					return nil
				}
			}
		case 2:
			num, ok1 := bigOf(w.args[0])
			den, ok2 := bigOf(w.args[1])
			if ok1 && ok2 && den.Sign() != 0 {
				r.SetFrac(num, den)
				return nil
			}
		}
		return failure(v, bigRatType, errors.New("unexpected Fraction arguments"))
	}
	var d Decimal
	if decodeDecimal(c, v, &d) == nil {
		q, ok := d.Rat()
		if !ok {
			return failure(v, bigRatType, errors.New("not finite"))
		}
		r.Set(q)
		return nil
	}
	return mismatch(v, bigRatType)
}

// textArg returns a str argument, or a Python 2 str one.
func textArg(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case ByteString:
		return string(x), true
	}
	return "", false
}

func bigOf(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case int64:
		return big.NewInt(x), true
	case *big.Int:
		return x, true
	}
	return nil, false
}

// normBig returns b as an int64 when it fits, as the model holds ints.
func normBig(b *big.Int) any {
	if b.IsInt64() {
		return b.Int64()
	}
	return new(big.Int).Set(b)
}

func encodeBigRat(e *encoder, r *big.Rat) (any, error) {
	return call(gFraction, normBig(r.Num()), normBig(r.Denom())), nil
}

// Decimal is a Python decimal.Decimal, held exactly: a sign, a
// coefficient and an exponent (1.50 is 150 × 10⁻²), or an infinity or a
// NaN. Its zero value is 0. It decodes from a decimal.Decimal (and from an
// int or float, exactly) and encodes as decimal.Decimal(str), as Python
// pickles it. Rat, Float64 and BigFloat convert it; ParseDecimal and
// NewDecimal make one.
type Decimal struct {
	neg  bool
	coef *big.Int // nil for zero; for NaNs, the diagnostic payload
	exp  int
	kind uint8 // decFinite, decInf, decNaN, decSNaN
}

const (
	decFinite uint8 = iota
	decInf
	decNaN
	decSNaN
)

// NewDecimal returns coef × 10^exp.
func NewDecimal(coef *big.Int, exp int) Decimal {
	d := Decimal{exp: exp}
	if coef != nil && coef.Sign() != 0 {
		d.coef = new(big.Int).Abs(coef)
		d.neg = coef.Sign() < 0
	}
	return d
}

// ParseDecimal parses a decimal number as Python 3's decimal.Decimal(str)
// does: "1.50", "-2E+3", ".5", "1_000", "Infinity", "-inf", "NaN",
// "sNaN12". Like CPython 3.6 and later (both the C decimal and
// _pydecimal), it strips leading and trailing whitespace (Python's
// str.isspace, which includes U+001C to U+001F), then drops every
// underscore wherever it stands, so "1__0", "_1", "1_.5", "1e1_0" and
// "N_aN" are accepted and "_" alone is not; whitespace left inside, such
// as in "_ 1", is refused. Unicode decimal digits ("١٢", "１") count as
// their ASCII values. Python 2.7, which predates PEP 515, refuses any
// underscore; ParseDecimal follows Python 3.
//
// Decoding a pickled decimal.Decimal goes through ParseDecimal too, but
// CPython pickles the Decimal's str(), which never has underscores,
// whitespace or non-ASCII digits.
func ParseDecimal(s string) (Decimal, error) {
	orig := s
	s, ok := decimalASCII(s)
	if !ok {
		return Decimal{}, fmt.Errorf("pickle: invalid decimal %q", orig)
	}
	var d Decimal
	if s != "" && (s[0] == '+' || s[0] == '-') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	lower := strings.ToLower(s)
	switch {
	case lower == "inf" || lower == "infinity":
		d.kind = decInf
		return d, nil
	case strings.HasPrefix(lower, "nan") || strings.HasPrefix(lower, "snan"):
		d.kind = decNaN
		payload := lower[3:]
		if lower[0] == 's' {
			d.kind, payload = decSNaN, lower[4:]
		}
		if payload != "" {
			p, ok := parseDigits(payload)
			if !ok {
				return Decimal{}, fmt.Errorf("pickle: invalid decimal %q", orig)
			}
			if p.Sign() != 0 {
				d.coef = p
			}
		}
		return d, nil
	}
	mant, expPart, hasExp := strings.Cut(lower, "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return Decimal{}, fmt.Errorf("pickle: invalid decimal %q", orig)
	}
	coef, ok := parseDigits(intPart + frac)
	if !ok {
		return Decimal{}, fmt.Errorf("pickle: invalid decimal %q", orig)
	}
	d.exp = -len(frac)
	if hasExp {
		sign := 1
		if expPart != "" && (expPart[0] == '+' || expPart[0] == '-') {
			if expPart[0] == '-' {
				sign = -1
			}
			expPart = expPart[1:]
		}
		e, ok := parseDigits(expPart)
		if !ok || expPart == "" || !e.IsInt64() || e.Int64() > math.MaxInt32 {
			return Decimal{}, fmt.Errorf("pickle: invalid decimal %q", orig)
		}
		d.exp += sign * int(e.Int64())
	}
	if coef.Sign() != 0 {
		d.coef = coef
	}
	return d, nil
}

// decimalASCII does to s what CPython's decimal does before parsing:
// strip Python whitespace from both ends, drop every underscore, and
// turn each Unicode decimal digit into its ASCII digit. It reports false
// for a non-ASCII rune that is not a decimal digit (whitespace inside
// included) and for invalid UTF-8.
func decimalASCII(s string) (string, bool) {
	s = strings.TrimFunc(s, isPyUnicodeSpace)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ReplaceAll(s, "_", ""), true
	}
	if !utf8.ValidString(s) {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '_':
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case unicode.IsDigit(r):
			b.WriteByte('0' + byte(digitValue(r)))
		default:
			return "", false
		}
	}
	return b.String(), true
}

// isPyUnicodeSpace reports whether Python's str.isspace holds for r: Go's
// unicode.IsSpace plus the separators U+001C to U+001F.
func isPyUnicodeSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// digitValue returns the value of the decimal digit r (unicode.IsDigit).
// Unicode assigns decimal digits in runs of ten, zero to nine, so the
// value is r's distance from the start of its run, modulo ten.
func digitValue(r rune) int {
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return int(r-start) % 10
}

// parseDigits parses ASCII decimal digits; "" is zero.
func parseDigits(s string) (*big.Int, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, false
		}
	}
	if s == "" {
		return new(big.Int), true
	}
	n, ok := new(big.Int).SetString(s, 10)
	return n, ok
}

func (d Decimal) coefficient() *big.Int {
	if d.coef == nil {
		return new(big.Int)
	}
	return d.coef
}

// IsNaN reports whether d is a NaN (quiet or signaling).
func (d Decimal) IsNaN() bool { return d.kind == decNaN || d.kind == decSNaN }

// IsInf reports whether d is an infinity.
func (d Decimal) IsInf() bool { return d.kind == decInf }

// Signbit reports whether d is negative (or negative zero).
func (d Decimal) Signbit() bool { return d.neg }

// Coefficient returns the coefficient, with d's sign: 150 for 1.50.
func (d Decimal) Coefficient() *big.Int {
	c := new(big.Int).Set(d.coefficient())
	if d.neg {
		c.Neg(c)
	}
	return c
}

// Exponent returns the exponent: -2 for 1.50.
func (d Decimal) Exponent() int { return d.exp }

// Rat returns d as a fraction, exactly; false for infinities and NaNs.
func (d Decimal) Rat() (*big.Rat, bool) {
	if d.kind != decFinite {
		return nil, false
	}
	r := new(big.Rat).SetInt(d.Coefficient())
	if d.exp != 0 {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(d.exp))), nil)
		if d.exp > 0 {
			r.Mul(r, new(big.Rat).SetInt(p))
		} else {
			r.Quo(r, new(big.Rat).SetInt(p))
		}
	}
	return r, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Float64 returns the float64 nearest to d.
func (d Decimal) Float64() float64 {
	switch d.kind {
	case decInf:
		if d.neg {
			return math.Inf(-1)
		}
		return math.Inf(1)
	case decNaN, decSNaN:
		return math.NaN()
	}
	f, _ := parseFloatLoose(d.String())
	return f
}

// BigFloat returns d rounded to prec bits.
func (d Decimal) BigFloat(prec uint) *big.Float {
	f := new(big.Float).SetPrec(prec)
	if d.kind == decInf {
		return f.SetInf(d.neg)
	}
	if r, ok := d.Rat(); ok {
		f.SetRat(r)
		if d.neg && f.Sign() == 0 {
			f.Neg(f)
		}
	}
	return f
}

// String formats d as Python's str(Decimal) does.
func (d Decimal) String() string {
	sign := ""
	if d.neg {
		sign = "-"
	}
	switch d.kind {
	case decInf:
		return sign + "Infinity"
	case decNaN, decSNaN:
		s := sign + "NaN"
		if d.kind == decSNaN {
			s = sign + "sNaN"
		}
		if d.coef != nil {
			s += d.coef.String()
		}
		return s
	}
	digits := d.coefficient().String()
	// The spec's to-scientific-string.
	leftdigits := d.exp + len(digits)
	var dotplace int
	switch {
	case d.exp <= 0 && leftdigits > -6:
		dotplace = leftdigits
	default:
		dotplace = 1
	}
	var intpart, fracpart string
	switch {
	case dotplace <= 0:
		intpart = "0"
		fracpart = "." + strings.Repeat("0", -dotplace) + digits
	case dotplace >= len(digits):
		intpart = digits + strings.Repeat("0", dotplace-len(digits))
	default:
		intpart = digits[:dotplace]
		fracpart = "." + digits[dotplace:]
	}
	exp := ""
	if leftdigits != dotplace {
		exp = fmt.Sprintf("E%+d", leftdigits-dotplace)
	}
	return sign + intpart + fracpart + exp
}

func parseFloatLoose(s string) (float64, error) {
	f, _, err := big.ParseFloat(s, 10, 53, big.ToNearestEven)
	if err != nil {
		return 0, err
	}
	v, _ := f.Float64()
	return v, nil
}

func decodeDecimal(c *conv, v any, d *Decimal) error {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		*d = NewDecimal(big.NewInt(x), 0)
		return nil
	case *big.Int:
		*d = NewDecimal(x, 0)
		return nil
	case float64:
		// Exactly, as Decimal(float) in Python.
		switch {
		case math.IsNaN(x):
			*d = Decimal{kind: decNaN}
		case math.IsInf(x, 0):
			*d = Decimal{kind: decInf, neg: x < 0}
		default:
			// A float is a binary fraction, whose decimal expansion ends
			// within 1074 digits after the point.
			text := new(big.Float).SetFloat64(x).Text('f', 1075)
			if i := strings.IndexByte(text, '.'); i >= 0 {
				text = strings.TrimRight(strings.TrimRight(text, "0"), ".")
			}
			dd, err := ParseDecimal(text)
			if err != nil {
				return failure(v, decimalType, err)
			}
			dd.neg = math.Signbit(x)
			*d = dd
		}
		return nil
	}
	w, _, ok := objectOf(v, gDecimal)
	if !ok {
		return mismatch(v, decimalType)
	}
	if len(w.args) != 1 {
		return failure(v, decimalType, errors.New("unexpected Decimal arguments"))
	}
	if a, ok := textArg(w.args[0]); ok {
		dd, err := ParseDecimal(a)
		if err != nil {
			return failure(v, decimalType, err)
		}
		*d = dd
		return nil
	}
	switch a := w.args[0].(type) {
	case int64, *big.Int, float64:
		return decodeDecimal(c, a, d)
	}
	return failure(v, decimalType, errors.New("unexpected Decimal arguments"))
}

func encodeDecimal(e *encoder, d *Decimal) (any, error) {
	return call(gDecimal, d.String()), nil
}

// UUID is a Python uuid.UUID: its 16 bytes, in the big-endian order of
// UUID.bytes.
type UUID [16]byte

// ParseUUID parses the forms uuid.UUID(hex) accepts: 32 hex digits,
// optionally with hyphens, braces and a urn:uuid: prefix.
func ParseUUID(s string) (UUID, error) {
	// As uuid.UUID does: hex.replace('urn:', '').replace('uuid:', '')
	// .strip('{}').replace('-', '').
	h := strings.ReplaceAll(strings.ReplaceAll(s, "urn:", ""), "uuid:", "")
	h = strings.Trim(h, "{}")
	h = strings.ReplaceAll(h, "-", "")
	var u UUID
	if len(h) != 32 {
		return u, fmt.Errorf("pickle: invalid UUID %q", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("pickle: invalid UUID %q", s)
	}
	return u, nil
}

func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

func decodeUUID(c *conv, v any, u *UUID) error {
	if v == nil {
		return nil
	}
	if b, ok := bytesOf(v); ok && len(b) == 16 {
		copy(u[:], b)
		return nil
	}
	w, _, ok := objectOf(v, gUUID)
	if !ok {
		return mismatch(v, uuidType)
	}
	var n any
	if len(w.args) == 1 && !w.isNew {
		// uuid.UUID('hex'), as some reducers write it.
		s, ok := w.args[0].(string)
		if !ok {
			return failure(v, uuidType, errors.New("unexpected UUID arguments"))
		}
		x, err := ParseUUID(s)
		if err != nil {
			return failure(v, uuidType, err)
		}
		*u = x
		return nil
	}
	// The state: {'int': n} (and is_safe), perhaps as (None, slots).
	state := w.state
	if t, ok := state.(Tuple); ok && len(t) == 2 {
		if d, ok := t[1].(*Dict); ok {
			state = d
		} else {
			state = t[0]
		}
	}
	if d, ok := state.(*Dict); ok {
		n, _ = d.Get("int")
	}
	i, ok := bigOf(n)
	if !ok || i.Sign() < 0 || i.BitLen() > 128 {
		return failure(v, uuidType, errors.New("UUID state has no 128-bit int"))
	}
	i.FillBytes(u[:])
	return nil
}

func encodeUUID(e *encoder, u *UUID) (any, error) {
	state := NewDict()
	_ = state.Set("int", normBig(new(big.Int).SetBytes(u[:])))
	return &Object{Callable: gUUID, New: true, Args: Tuple{}, State: state}, nil
}
