package pickle

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"time"
)

// The datetime module: datetime ↔ time.Time, timedelta ↔ time.Duration,
// date ↔ Date, time ↔ TimeOfDay, and their time zones: timezone ↔ fixed
// zones, zoneinfo.ZoneInfo ↔ locations loaded by name.

// Naive is the Location of times that stand for Python's naive datetimes,
// those without tzinfo. Decoding gives a naive datetime this location, and
// encoding writes a time in it as a naive datetime, so naive stays naive
// both ways. Go treats it as UTC: Naive times compare and subtract as if
// their wall clock were UTC's.
var Naive = time.FixedZone("naive", 0)

var (
	gDatetime         = Global{"datetime", "datetime"}
	gDate             = Global{"datetime", "date"}
	gTimeOfDay        = Global{"datetime", "time"}
	gTimedelta        = Global{"datetime", "timedelta"}
	gTimezone         = Global{"datetime", "timezone"}
	gZoneInfoUnpickle = Global{"zoneinfo", "ZoneInfo._unpickle"}
	gZoneInfo         = Global{"zoneinfo", "ZoneInfo"}
)

// Date is a Python datetime.date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// In returns the time at midnight of the date in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// TimeOfDay is a Python datetime.time: a time of day, with a time zone
// (nil for a naive time).
type TimeOfDay struct {
	Hour, Minute, Second, Microsecond int
	Location                          *time.Location
	// Fold is Python's fold: for a wall time that a time zone's clock
	// shows twice, it selects the second one.
	Fold bool
}

func (t TimeOfDay) String() string {
	s := fmt.Sprintf("%02d:%02d:%02d", t.Hour, t.Minute, t.Second)
	if t.Microsecond != 0 {
		s += fmt.Sprintf(".%06d", t.Microsecond)
	}
	return s
}

func init() {
	addBuiltin(decodeTime, encodeTime)
	addBuiltin(decodeDuration, encodeDuration)
	addBuiltin(decodeDate, encodeDate)
	addBuiltin(decodeTimeOfDay, encodeTimeOfDay)
}

// stateBytes returns the bytes of a datetime's state: bytes in Python 3's
// pickles, a Python 2 str in Python 2's.
func stateBytes(c *conv, v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case ByteString:
		return []byte(x), true
	case string:
		if c.cfg.Py2Str == Py2StrLatin1 {
			return latin1Bytes(x)
		}
		return []byte(x), true
	}
	return nil, false
}

// dateParts are the fields of a datetime, date or time.
type dateParts struct {
	year, month, day, hour, minute, second, micro int
	fold                                          bool
	tz                                            any
}

// intArgs reads ints from the arguments of a constructor call
// (datetime(2020, 1, 2, ...)), as custom reducers write them.
func intArgs(args Tuple, into ...*int) (rest Tuple, ok bool) {
	for i, p := range into {
		if i >= len(args) {
			return nil, i > 0
		}
		n, isInt := args[i].(int64)
		if !isInt {
			return args[i:], i > 0
		}
		*p = int(n)
	}
	return args[len(into):], true
}

func parseDatetime(c *conv, args Tuple) (dateParts, error) {
	var d dateParts
	if len(args) >= 1 && len(args) <= 2 {
		if b, ok := stateBytes(c, args[0]); ok {
			if len(b) != 10 {
				return d, fmt.Errorf("datetime state of %d bytes", len(b))
			}
			d.year, d.month, d.day = int(b[0])<<8|int(b[1]), int(b[2]&0x7f), int(b[3])
			d.fold = b[2]&0x80 != 0
			d.hour, d.minute, d.second = int(b[4]), int(b[5]), int(b[6])
			d.micro = int(b[7])<<16 | int(b[8])<<8 | int(b[9])
			if len(args) == 2 {
				d.tz = args[1]
			}
			return d, nil
		}
	}
	rest, ok := intArgs(args, &d.year, &d.month, &d.day, &d.hour, &d.minute, &d.second, &d.micro)
	if !ok || len(rest) > 1 {
		return d, errors.New("unexpected datetime arguments")
	}
	if len(rest) == 1 {
		d.tz = rest[0]
	}
	return d, nil
}

func parseDate(c *conv, args Tuple) (dateParts, error) {
	var d dateParts
	if len(args) == 1 {
		if b, ok := stateBytes(c, args[0]); ok {
			if len(b) != 4 {
				return d, fmt.Errorf("date state of %d bytes", len(b))
			}
			d.year, d.month, d.day = int(b[0])<<8|int(b[1]), int(b[2]), int(b[3])
			return d, nil
		}
	}
	if rest, ok := intArgs(args, &d.year, &d.month, &d.day); !ok || len(rest) > 0 {
		return d, errors.New("unexpected date arguments")
	}
	return d, nil
}

func parseTimeOfDay(c *conv, args Tuple) (dateParts, error) {
	var d dateParts
	if len(args) >= 1 && len(args) <= 2 {
		if b, ok := stateBytes(c, args[0]); ok {
			if len(b) != 6 {
				return d, fmt.Errorf("time state of %d bytes", len(b))
			}
			d.hour, d.fold = int(b[0]&0x7f), b[0]&0x80 != 0
			d.minute, d.second = int(b[1]), int(b[2])
			d.micro = int(b[3])<<16 | int(b[4])<<8 | int(b[5])
			if len(args) == 2 {
				d.tz = args[1]
			}
			return d, nil
		}
	}
	rest, ok := intArgs(args, &d.hour, &d.minute, &d.second, &d.micro)
	if !ok || len(rest) > 1 {
		return d, errors.New("unexpected time arguments")
	}
	if len(rest) == 1 {
		d.tz = rest[0]
	}
	return d, nil
}

func (d dateParts) valid() error {
	if d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31 ||
		d.hour > 23 || d.minute > 59 || d.second > 59 || d.micro > 999999 {
		return errors.New("date or time out of range")
	}
	return nil
}

func decodeTime(c *conv, v any, t *time.Time) error {
	if v == nil {
		return nil
	}
	w, g, ok := objectOf(v, gDatetime, gDate)
	if !ok {
		return mismatch(v, timeType)
	}
	var d dateParts
	var err error
	if g == gDate {
		d, err = parseDate(c, w.args)
	} else {
		d, err = parseDatetime(c, w.args)
	}
	if err == nil {
		err = d.valid()
	}
	if err != nil {
		return failure(v, timeType, err)
	}
	loc := Naive
	if d.tz != nil {
		if loc, err = locationOf(c, d.tz); err != nil {
			return failure(v, timeType, err)
		}
	}
	*t = wallTime(d.year, time.Month(d.month), d.day, d.hour, d.minute, d.second, d.micro*1000, loc, d.fold)
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

// locationOf returns the Location of a Python tzinfo: a timezone (fixed
// offset) or a zoneinfo.ZoneInfo.
func locationOf(c *conv, tz any) (*time.Location, error) {
	w, g, ok := objectOf(tz, gTimezone, gZoneInfoUnpickle, gZoneInfo)
	if !ok {
		return nil, fmt.Errorf("unsupported tzinfo %s", pyDesc(tz))
	}
	if g == gTimezone {
		if len(w.args) < 1 || len(w.args) > 2 {
			return nil, errors.New("unexpected timezone arguments")
		}
		var off time.Duration
		if err := decodeDuration(c, w.args[0], &off); err != nil {
			return nil, fmt.Errorf("timezone offset: %w", err)
		}
		if off%time.Second != 0 || off <= -24*time.Hour || off >= 24*time.Hour {
			return nil, fmt.Errorf("timezone offset %v is not whole seconds within a day", off)
		}
		name := ""
		if len(w.args) == 2 {
			s, ok := w.args[1].(string)
			if !ok {
				return nil, errors.New("timezone name is not a str")
			}
			name = s
		}
		if off == 0 && name == "" {
			return time.UTC, nil
		}
		return fixedZone(name, int(off/time.Second)), nil
	}
	if len(w.args) < 1 {
		return nil, errors.New("ZoneInfo without a key")
	}
	key, ok := w.args[0].(string)
	if !ok {
		return nil, errors.New("ZoneInfo key is not a str")
	}
	return zoneInfo(key)
}

var (
	fixedZones sync.Map // fixedKey -> *time.Location
	zoneInfos  sync.Map // key -> *time.Location; also *time.Location -> key
)

type fixedKey struct {
	name string
	off  int
}

// fixedZone returns one Location per name and offset, so that decoding
// many datetimes does not make as many Locations.
func fixedZone(name string, off int) *time.Location {
	k := fixedKey{name, off}
	if l, ok := fixedZones.Load(k); ok {
		return l.(*time.Location)
	}
	l, _ := fixedZones.LoadOrStore(k, time.FixedZone(name, off))
	return l.(*time.Location)
}

// zoneInfo loads the IANA time zone key, once, and remembers that the
// Location came from a ZoneInfo so that it is encoded back as one.
func zoneInfo(key string) (*time.Location, error) {
	if l, ok := zoneInfos.Load(key); ok {
		return l.(*time.Location), nil
	}
	if key == "" || key == "Local" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") {
		return nil, fmt.Errorf("invalid time zone key %q", key)
	}
	l, err := time.LoadLocation(key)
	if err != nil {
		return nil, err
	}
	if key == "UTC" {
		// time.LoadLocation("UTC") is time.UTC, which encodes as
		// timezone.utc: keep the ZoneInfo's own Location.
		l = time.FixedZone("UTC", 0)
	}
	actual, _ := zoneInfos.LoadOrStore(key, l)
	zoneInfos.Store(actual, key)
	return actual.(*time.Location), nil
}

// wallTime returns the instant that a wall clock reading shows in loc.
// Where loc's clock shows the reading twice (when it is set back) fold
// picks the second; where it never shows it (set forward), fold false
// reads it with the offset before the change and true with the one after,
// as Python does (PEP 495).
func wallTime(y int, mo time.Month, d, h, mi, s, ns int, loc *time.Location, fold bool) time.Time {
	w := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	_, oa := w.Add(-30 * time.Hour).In(loc).Zone()
	_, ob := w.Add(30 * time.Hour).In(loc).Zone()
	if oa == ob {
		t := w.Add(-time.Duration(oa) * time.Second).In(loc)
		if _, o := t.Zone(); o == oa {
			return t
		}
		return time.Date(y, mo, d, h, mi, s, ns, loc)
	}
	ta := w.Add(-time.Duration(oa) * time.Second).In(loc)
	tb := w.Add(-time.Duration(ob) * time.Second).In(loc)
	_, a := ta.Zone()
	_, b := tb.Zone()
	validA, validB := a == oa, b == ob
	switch {
	case validA && !validB:
		return ta
	case validB && !validA:
		return tb
	case fold:
		return tb
	}
	return ta
}

// foldOf reports whether t is the second of two instants that show the
// same wall clock reading in t's location.
func foldOf(t time.Time) bool {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return wallTime(y, mo, d, h, mi, s, t.Nanosecond(), t.Location(), false) != t
}

func decodeDate(c *conv, v any, d *Date) error {
	if v == nil {
		return nil
	}
	w, g, ok := objectOf(v, gDate, gDatetime)
	if !ok {
		return mismatch(v, dateType)
	}
	var p dateParts
	var err error
	if g == gDate {
		p, err = parseDate(c, w.args)
	} else {
		p, err = parseDatetime(c, w.args)
	}
	if err == nil {
		err = p.valid()
	}
	if err != nil {
		return failure(v, dateType, err)
	}
	*d = Date{p.year, time.Month(p.month), p.day}
	return nil
}

var dateType = reflect.TypeFor[Date]()

func decodeTimeOfDay(c *conv, v any, t *TimeOfDay) error {
	if v == nil {
		return nil
	}
	w, _, ok := objectOf(v, gTimeOfDay)
	if !ok {
		return mismatch(v, timeOfDayType)
	}
	p, err := parseTimeOfDay(c, w.args)
	if err == nil {
		p.year, p.month, p.day = 1, 1, 1
		err = p.valid()
	}
	if err != nil {
		return failure(v, timeOfDayType, err)
	}
	var loc *time.Location
	if p.tz != nil {
		if loc, err = locationOf(c, p.tz); err != nil {
			return failure(v, timeOfDayType, err)
		}
	}
	*t = TimeOfDay{p.hour, p.minute, p.second, p.micro, loc, p.fold}
	return nil
}

var timeOfDayType = reflect.TypeFor[TimeOfDay]()

func decodeDuration(c *conv, v any, d *time.Duration) error {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		*d = time.Duration(x)
		return nil
	case *big.Int:
		return outOfRange(v, durationType)
	}
	w, _, ok := objectOf(v, gTimedelta)
	if !ok {
		return mismatch(v, durationType)
	}
	var days, secs, micros int64
	for i, p := range []*int64{&days, &secs, &micros} {
		if i >= len(w.args) {
			break
		}
		n, ok := w.args[i].(int64)
		if !ok {
			return failure(v, durationType, errors.New("timedelta arguments are not ints"))
		}
		*p = n
	}
	if len(w.args) > 3 {
		return failure(v, durationType, errors.New("unexpected timedelta arguments"))
	}
	total := new(big.Int).Mul(big.NewInt(days), big.NewInt(86400*1e9))
	total.Add(total, new(big.Int).Mul(big.NewInt(secs), big.NewInt(1e9)))
	total.Add(total, new(big.Int).Mul(big.NewInt(micros), big.NewInt(1e3)))
	if !total.IsInt64() {
		return &decErr{python: "datetime.timedelta", value: fmt.Sprintf("(%d, %d, %d)", days, secs, micros), typ: durationType}
	}
	*d = time.Duration(total.Int64())
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// Encoding.

// toMicros rounds t to the microsecond, Python's resolution.
func toMicros(t time.Time) time.Time { return t.Round(time.Microsecond) }

func datetimeState(t time.Time, proto int) ([]byte, error) {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	us := t.Nanosecond() / 1000
	if y < 1 || y > 9999 {
		return nil, fmt.Errorf("year %d is out of Python's range 1..9999", y)
	}
	m := byte(mo)
	if proto > 3 && t.Location() != Naive && foldOf(t) {
		m |= 0x80
	}
	return []byte{byte(y >> 8), byte(y), m, byte(d), byte(h), byte(mi), byte(s), byte(us >> 16), byte(us >> 8), byte(us)}, nil
}

func encodeTime(e *encoder, t *time.Time) (any, error) {
	tt := toMicros(*t)
	state, err := datetimeState(tt, e.proto)
	if err != nil {
		return nil, err
	}
	tz, err := tzinfoOf(tt)
	if err != nil {
		return nil, err
	}
	if tz == nil {
		return call(gDatetime, state), nil
	}
	return call(gDatetime, state, tz), nil
}

// tzinfoOf returns the Python tzinfo for t's location: nil for Naive,
// timezone.utc for UTC, a zoneinfo.ZoneInfo for a location that decoding
// made from one or that has an IANA name with changes of offset, and else
// a timezone with t's offset (and the zone's name, if it has one).
func tzinfoOf(t time.Time) (any, error) {
	loc := t.Location()
	switch {
	case loc == Naive:
		return nil, nil
	case loc == time.UTC:
		return call(gTimezone, call(gTimedelta, int64(0), int64(0), int64(0))), nil
	}
	if key, ok := zoneKey(t); ok {
		return call(gZoneInfoUnpickle, key, int64(1)), nil
	}
	name, off := t.Zone()
	delta := timedeltaOf(time.Duration(off) * time.Second)
	if loc == time.Local || name == "" {
		return call(gTimezone, delta), nil
	}
	return call(gTimezone, delta, name), nil
}

// zoneKey returns the IANA key under which Python's zoneinfo finds t's
// location.
func zoneKey(t time.Time) (string, bool) {
	loc := t.Location()
	if k, ok := zoneInfos.Load(loc); ok {
		return k.(string), true
	}
	name := loc.String()
	if loc == time.Local || name == "" || name == "Local" || name == "UTC" {
		return "", false
	}
	start, end := t.ZoneBounds()
	if start.IsZero() && end.IsZero() && !strings.Contains(name, "/") {
		return "", false // a fixed zone, such as time.FixedZone makes
	}
	if l, err := time.LoadLocation(name); err != nil || l.String() != name {
		return "", false
	}
	return name, true
}

func timedeltaOf(d time.Duration) *Object {
	us := d.Round(time.Microsecond) / time.Microsecond
	days := int64(math.Floor(float64(us) / 86400e6))
	rest := int64(us) - days*86400e6
	return call(gTimedelta, days, rest/1e6, rest%1e6)
}

func encodeDuration(e *encoder, d *time.Duration) (any, error) {
	return timedeltaOf(*d), nil
}

func encodeDate(e *encoder, d *Date) (any, error) {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		return nil, fmt.Errorf("date %v is out of Python's range", *d)
	}
	return call(gDate, []byte{byte(d.Year >> 8), byte(d.Year), byte(d.Month), byte(d.Day)}), nil
}

func encodeTimeOfDay(e *encoder, t *TimeOfDay) (any, error) {
	if t.Hour < 0 || t.Hour > 23 || t.Minute < 0 || t.Minute > 59 || t.Second < 0 || t.Second > 59 || t.Microsecond < 0 || t.Microsecond > 999999 {
		return nil, fmt.Errorf("time %v is out of range", *t)
	}
	h := byte(t.Hour)
	if t.Fold && e.proto > 3 {
		h |= 0x80
	}
	us := t.Microsecond
	state := []byte{h, byte(t.Minute), byte(t.Second), byte(us >> 16), byte(us >> 8), byte(us)}
	if t.Location == nil || t.Location == Naive {
		return call(gTimeOfDay, state), nil
	}
	// A time's tzinfo applies to no particular day: take the offset now.
	tz, err := tzinfoOf(time.Now().In(t.Location))
	if err != nil {
		return nil, err
	}
	return call(gTimeOfDay, state, tz), nil
}
