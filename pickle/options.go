package pickle

import "math"

// Protocols.
const (
	// DefaultProtocol is the protocol Marshal writes: what Python 3.8 to
	// 3.13 send by default. Python 2 reads at most protocol 2.
	DefaultProtocol = 4
	// HighestProtocol is the highest protocol this package reads and writes.
	HighestProtocol = 5
	// Protocol0 selects protocol 0 in EncodeOptions.Protocol, whose zero
	// value means DefaultProtocol.
	Protocol0 = -1
)

// Default limits of DecodeOptions.
const (
	DefaultMaxDepth        = 10000
	DefaultMaxMemo         = 1 << 24
	DefaultMaxStringLen    = 1 << 30
	DefaultMaxContainerLen = 1 << 26
	DefaultMaxAllocFactor  = 128
	// allocAllowance is allocation granted to every pickle on top of
	// MaxAllocFactor times its size, so that small pickles are never
	// refused for their ratio.
	allocAllowance = 1 << 20
)

// Py2Str selects how Python 2 str values (the STRING, BINSTRING and
// SHORT_BINSTRING opcodes, which hold bytes of no stated encoding) decode.
type Py2Str uint8

const (
	// Py2StrString decodes them to string, requiring valid UTF-8 (ASCII
	// always is). This is Python 3's own default for ASCII, and also
	// accepts text that Python 2 programs encoded in UTF-8.
	Py2StrString Py2Str = iota
	// Py2StrLatin1 decodes them to string from Latin-1, as Python 3 does
	// with encoding="latin1": every byte becomes one character.
	Py2StrLatin1
	// Py2StrByteString decodes them to ByteString, which re-encodes as a
	// Python 2 str: lossless.
	Py2StrByteString
	// Py2StrBytes decodes them to []byte, as Python 3 does with
	// encoding="bytes".
	Py2StrBytes
)

// DecodeOptions configures decoding. The zero value gives the documented
// defaults. Decoding never imports or runs anything, so any input is safe;
// the limits bound the time and memory a hostile input can take. Options
// are read, never modified, so one value may be shared by any number of
// goroutines.
type DecodeOptions struct {
	// Py2Str says what Python 2 str values decode to; see Py2Str.
	Py2Str Py2Str

	// MaxDepth bounds the nesting of containers and objects. Zero means
	// DefaultMaxDepth (10000); negative, or more than 100000, means 100000:
	// deeper values would exhaust the Go stack of recursive consumers.
	MaxDepth int

	// MaxMemo bounds the number of memo entries. Zero means
	// DefaultMaxMemo (16M); negative means no limit.
	MaxMemo int

	// MaxStringLen bounds the length in bytes of one str, bytes or
	// bytearray. Zero means DefaultMaxStringLen (1 GiB); negative means
	// no limit. A declared length is also always checked against the
	// input that remains, before anything is allocated.
	MaxStringLen int

	// MaxContainerLen bounds the items of one list, tuple, dict, set or
	// frozenset. Zero means DefaultMaxContainerLen (64M); negative means
	// no limit.
	MaxContainerLen int

	// MaxAllocFactor bounds the memory that decoding allocates, as a
	// multiple of the pickle's size (plus 1 MiB). Zero means
	// DefaultMaxAllocFactor (128); negative means no limit. The account
	// is an estimate of Go heap bytes for the values built: through
	// Unmarshal into a typed target, mostly the typed values, which take
	// less than the model's, so that a pickle refused as an any may
	// decode into a []int32.
	MaxAllocFactor int

	// PersistentLoad, if set, resolves persistent ids (PERSID, BINPERSID)
	// into values. Without it a persistent id decodes to a PersistentRef.
	PersistentLoad func(id any) (any, error)

	// Extensions is the extension registry (Python's copyreg.add_extension)
	// for the EXT1, EXT2 and EXT4 opcodes: code to global. An EXT opcode
	// with a code not in it is an error.
	Extensions map[int]Global

	// Buffers are the out-of-band buffers that NEXT_BUFFER opcodes take,
	// in order (Python's buffers argument to pickle.loads). They are not
	// copied.
	Buffers [][]byte

	// ZeroCopy makes decoded strings, bytes and bytearrays share memory
	// with the input instead of copying it, which makes decoding large
	// pickles of text and binary data much faster. The caller must then
	// never modify the input while any decoded value is in use: strings
	// would change, breaking Go's guarantee that strings are immutable.
	// Use it when the input buffer is handed over, as a received message
	// usually is.
	ZeroCopy bool

	// ShareLarge makes a str, bytes or bytearray share memory with the
	// input, as ZeroCopy does, when it takes at least half of the input
	// (and 4 KiB): a message that is mostly one large binary or text
	// payload then decodes without copying it, while what the value keeps
	// alive of the input is at most twice its own size. The caller must
	// not modify the input afterwards. Package conn's PickleCodec decodes
	// received messages this way, since their bodies are never reused.
	ShareLarge bool

	// UnknownFields says what decoding a dict into a struct does with a
	// key that matches none of the struct's fields and that no ",extra"
	// field collects: IgnoreUnknown (the zero value) skips it, as
	// encoding/json does; RejectUnknown fails with an *UnmarshalTypeError
	// matching ErrUnknownField.
	UnknownFields UnknownPolicy

	// UnknownClasses says what decoding into a struct does with an
	// instance of a Python class that is not registered for the struct's
	// type: IgnoreUnknown (the zero value) decodes the instance's
	// attributes as it would a dict's items; RejectUnknown fails with an
	// *UnmarshalTypeError matching ErrUnknownClass. Either way a ",class"
	// field records the class, and an any or *Object target keeps the
	// whole object.
	UnknownClasses UnknownPolicy

	// Registry maps Python classes to Go types (see Registry). Nil means
	// DefaultRegistry.
	Registry *Registry

	// Classes says which globals (classes and functions named by the
	// GLOBAL, STACK_GLOBAL, INST and EXT opcodes) a pickle may name.
	// AnyClass, the zero value, accepts all: decoding never imports or
	// runs anything, so this is safe for the decoding process itself.
	// KnownClasses is for untrusted peers, where code that acts on the
	// decoded classes should only ever see expected ones. It accepts:
	//   - the globals Python's pickler writes for built-in types
	//     (builtins.set, frozenset, bytes, bytearray, complex, ...,
	//     _codecs.encode, copyreg._reconstructor, __newobj__ and
	//     __newobj_ex__, and getattr, whose class is checked on its own);
	//   - the classes this package models in Go (datetime, decimal,
	//     fractions, uuid, collections, pathlib, zoneinfo, numpy arrays);
	//   - the classes registered in Registry;
	//   - the globals in AllowGlobals;
	// and fails on any other with an error matching ErrForbiddenClass.
	// Python 2 names are mapped to Python 3 ones (copy_reg._reconstructor
	// is copyreg._reconstructor) before the check.
	Classes ClassPolicy

	// AllowGlobals lists further globals that KnownClasses accepts, such
	// as the classes of objects decoded into *Object or a function that
	// a REDUCE calls.
	AllowGlobals []Global
}

// UnknownPolicy says what decoding does with what a Go type has no place
// for; see DecodeOptions.UnknownFields and UnknownClasses.
type UnknownPolicy uint8

const (
	// IgnoreUnknown skips unknown dict keys and decodes instances of
	// unknown classes by their attributes.
	IgnoreUnknown UnknownPolicy = iota
	// RejectUnknown makes them an error.
	RejectUnknown
)

// decodeConfig is DecodeOptions with defaults applied.
type decodeConfig struct {
	DecodeOptions
	maxDepth, maxMemo, maxString, maxContainer int
	allocFactor                                int
	noRuns                                     bool // for tests: the main loops decode every opcode themselves (no strRun, no appendNumbers)
}

func limit(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return math.MaxInt
	}
	return v
}

func (o *DecodeOptions) config() decodeConfig {
	c := decodeConfig{DecodeOptions: *o}
	c.maxDepth = limit(o.MaxDepth, DefaultMaxDepth)
	if c.maxDepth > hardMaxDepth {
		c.maxDepth = hardMaxDepth
	}
	c.maxMemo = limit(o.MaxMemo, DefaultMaxMemo)
	c.maxString = limit(o.MaxStringLen, DefaultMaxStringLen)
	c.maxContainer = limit(o.MaxContainerLen, DefaultMaxContainerLen)
	c.allocFactor = limit(o.MaxAllocFactor, DefaultMaxAllocFactor)
	return c
}

// hardMaxDepth is the nesting no value of this package may exceed, even
// with MaxDepth negative: deeper values would exhaust the Go stack of
// recursive consumers.
const hardMaxDepth = 100000

// EncodeOptions configures encoding. The zero value writes DefaultProtocol.
// Options are read, never modified, so one value may be shared by any
// number of goroutines.
type EncodeOptions struct {
	// Protocol is the pickle protocol to write, 1 to 5; zero means
	// DefaultProtocol (4) and Protocol0 (-1) means protocol 0.
	Protocol int

	// PersistentID, if set, is asked about every value before it is
	// encoded (Python's persistent_id). A non-nil id is written as a
	// persistent id instead of the value; nil encodes the value normally.
	// At protocol 0 the id must be a string.
	PersistentID func(v any) (id any, err error)

	// BufferCallback, if set, is called at protocol 5 for each
	// PickleBuffer (Python's buffer_callback). Returning false sends the
	// buffer out of band: the pickle holds only a NEXT_BUFFER opcode, and
	// the receiver passes the buffers in DecodeOptions.Buffers, in the order
	// the callback saw them. Returning true, or no callback, or a protocol
	// below 5, writes the data in band. The callback runs while encoding,
	// so it is called even if encoding fails later.
	BufferCallback func(b PickleBuffer) (inBand bool)

	// Extensions is the extension registry (copyreg.add_extension) for
	// protocols 2 and up: a Global in it is written as its EXT code.
	// Codes must be between 1 and 2**31-1.
	Extensions map[Global]int

	// Registry maps Go types to the Python classes their values are
	// written as (see Registry). Nil means DefaultRegistry.
	Registry *Registry

	// MaxDepth bounds the nesting of the value being encoded; deeper
	// values (and cycles through values that the memo cannot refer to,
	// such as a struct holding a pointer to itself by value) fail with
	// ErrEncodeDepth. Zero means DefaultMaxDepth (10000); negative means
	// 100000.
	MaxDepth int
}

func (o *EncodeOptions) protocol() (int, bool) {
	switch p := o.Protocol; {
	case p == 0:
		return DefaultProtocol, true
	case p == Protocol0:
		return 0, true
	case p >= 1 && p <= HighestProtocol:
		return p, true
	}
	return 0, false
}

func (o *EncodeOptions) maxDepth() int {
	switch {
	case o.MaxDepth == 0:
		return DefaultMaxDepth
	case o.MaxDepth < 0 || o.MaxDepth > hardMaxDepth:
		return hardMaxDepth
	}
	return o.MaxDepth
}
