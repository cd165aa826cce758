// Package pickle reads and writes Python pickles, protocols 0 to 5, the
// format in which Python's multiprocessing connections carry objects.
//
// Use [Marshal] and [Unmarshal] as with encoding/json:
//
//	data, err := pickle.Marshal(map[string]any{"id": 1, "tags": []string{"a"}})
//	var v any
//	err = pickle.Unmarshal(data, &v) // v is a *pickle.Dict
//
// [EncodeOptions] and [DecodeOptions] choose the protocol, hooks and
// limits; [Encoder] and [Decoder] read and write streams of pickles;
// [EncodeOptions.AppendMarshal] appends to a caller's buffer. Options are
// plain values, never modified, safe to share between goroutines; so are
// Marshal and Unmarshal. An Encoder or Decoder serves one goroutine.
//
// # Values
//
// Decoding into an any builds values of this package's model; encoding
// accepts that model and plain Go values. Arrows give the direction:
//
//	Python                   Go
//	------                   --
//	None                ↔    nil (and → from nil pointers and interfaces)
//	bool                ↔    bool
//	int                 ↔    int64 when it fits, else *big.Int
//	int                 ←    int, int8…int32, uint…uint64 (beyond int64 too), big.Int
//	float               ↔    float64 (nan, ±inf and -0.0 kept, NaN payloads too)
//	float               ←    float32
//	complex             ↔    complex128 (and ← complex64)
//	str                 ↔    string: UTF-8, lone surrogates as their 3-byte sequences
//	bytes               ↔    []byte (and ← [N]byte, other byte slices)
//	bytearray           ↔    ByteArray
//	Python 2 str        →    string, ByteString or []byte: see Py2Str
//	Python 2 str        ←    ByteString
//	list                ↔    []any (and ← other slices and arrays; a nil slice is [])
//	tuple               ↔    Tuple
//	dict                ↔    *Dict: insertion order and Python key equality
//	dict                ←    maps (keys in sorted order; a nil map is {})
//	dict                ←    structs: field name → value, with `pickle` tags
//	set                 ↔    *Set
//	frozenset           ↔    *FrozenSet
//	class or function   ↔    Global{Module, Name}
//	any other object    ↔    *Object: how Python builds it, and its state
//	persistent id       ↔    PersistentRef (or what DecodeOptions.PersistentLoad returns)
//	PickleBuffer        ↔    PickleBuffer (protocol 5 out-of-band buffers)
//	anything            ←    a Marshaler's MarshalPickle result
//	og-rek's values     ←    ogórek.None, Tuple, Bytes, ByteString, Dict, Class, Call, Ref
//
// Numbers that Python finds equal are the same dict key or set element
// (1, 1.0, True and 1+0j); [Equal] is Python's == on these values. A str
// holds UTF-8: Python allows lone surrogates in str and pickles them with
// "surrogatepass", so they decode to their 3-byte encodings (also from the
// \udXXX escapes of protocol 0), and re-encode unchanged.
//
// An object of any class decodes to an [*Object] recording how Python
// builds it: REDUCE (Callable(*Args)), NEWOBJ and NEWOBJ_EX
// (Callable.__new__(Callable, *Args, **Kwargs), with New set) or Python 2's
// INST and OBJ (Inst set), then APPENDS (ListItems), SETITEMS (DictItems)
// and BUILD (State). Encoding it writes the opcodes from which Python
// builds an equal object, so objects cross Go unchanged even when Go knows
// nothing of their class. A few standard constructions whose meaning is
// certain decode to native values: set(), frozenset(), bytes(),
// bytearray() and complex() calls, _codecs.encode(s, 'latin1') (bytes at
// protocols 0-2), getattr(Global, name) (nested class names at protocols
// 0-3), and copyreg's __newobj__, __newobj_ex__ and _reconstructor (how
// protocols 0 and 1 write instances, and how they are written back).
//
// Lists are []any. A list shared between places, or containing itself,
// decodes to one backing array that every place holds, and the encoder,
// which knows slices by address, writes the sharing back. Pointers, maps,
// slices and the model's containers reached more than once are written
// once and referred to through the memo, so Python sees the same sharing,
// and cycles end. (Strings are memoized as CPython does, but only the
// first few thousand, and recent ones, are looked up again: sharing of
// immutable strings does not change what Python rebuilds.)
//
// Struct fields encode under their Go name unless a `pickle:"name"` tag
// says otherwise; `pickle:"-"` skips a field, `pickle:",omitempty"` skips
// an empty one, and embedded structs are flattened as encoding/json
// flattens them; `pickle:",extra"` names a map[string]T or *Dict field
// whose entries are written after the fields (and which collects unknown
// keys when decoding), and `pickle:",class"` a Global field that makes the
// struct an instance of that class.
//
// # Go types
//
// Unmarshal decodes into typed Go values as encoding/json does, straight
// from the pickle's opcodes with no model values in between, and Marshal
// encodes them; Unmarshal's documentation gives the rules, which include
// how dict keys find struct fields (exactly, then ignoring case and
// underscores) and what happens to keys and classes a Go type has no
// place for (DecodeOptions.UnknownFields, UnknownClasses). Besides numbers,
// strings, slices, maps and structs, these Go types stand for Python
// classes, both ways unless an arrow says otherwise:
//
//	Python                   Go
//	------                   --
//	datetime.datetime   ↔    time.Time (see Time zones below)
//	datetime.date       ↔    Date (and → time.Time, at midnight, Naive)
//	datetime.time       ↔    TimeOfDay
//	datetime.timedelta  ↔    time.Duration (an int decodes as nanoseconds)
//	decimal.Decimal     ↔    Decimal, exactly (and → big.Float, big.Rat)
//	decimal.Decimal     ←    big.Float
//	fractions.Fraction  ↔    big.Rat
//	uuid.UUID           ↔    UUID
//	OrderedDict         ↔    OrderedDict[K, V] (and → maps and structs)
//	deque               ↔    Deque[T] (and → slices)
//	pathlib's paths     ↔    Path
//	set, frozenset      ↔    map[K]struct{} (and → map[K]bool, slices)
//	tuple dict keys     ↔    array and struct map keys
//	numpy.ndarray       ↔    NDArray: dtype, shape, order and bytes
//	a registered class  ↔    its Go type, by its Form (see Registry)
//	anything            ↔    a type with MarshalPickle and UnmarshalPickle
//
// A registered class is one that a Registry maps to a Go type: instances
// of dataclasses and plain classes (ObjectForm, SlotsForm), namedtuples
// (TupleForm) and enum members (EnumForm) decode into it, and its values
// encode as instances that Python rebuilds from its own class.
//
// Time zones: a naive datetime (no tzinfo) is a time.Time in the location
// Naive, and a time.Time in Naive encodes as a naive datetime; timezone.utc
// is time.UTC; a fixed timezone(offset, name) is a fixed zone of that name
// and offset (time.FixedZone); a zoneinfo.ZoneInfo is the location of its
// key, loaded with time.LoadLocation from the system's time zone database,
// and encodes back as one, as does any location with an IANA name; other
// locations (time.Local among them) encode as a timezone with the offset
// in force at that instant. Python's fold (which of a repeated wall time)
// is kept both ways at protocols 4 and 5. Times are rounded to Python's
// microseconds, and must fall in the years 1 to 9999.
//
// # Protocols
//
// Marshal writes protocol 4 ([DefaultProtocol]), which Python 3.4 and later
// read and Python 3.8 to 3.13 send; Python 2 reads protocols 0 to 2.
// EncodeOptions.Protocol picks another ([Protocol0] for 0). The encoder
// follows CPython's C pickler opcode for opcode: short forms, MEMOIZE,
// FRAME from protocol 4 with large payloads outside frames, batches of
// 1000, Python 2 module names and _codecs.encode for bytes at protocols
// 0-2. Its output is as compact as CPython's, and for values decoded from
// CPython's pickles it is byte for byte the same. Decoding applies
// Python's fix_imports to protocols 0-2, so globals carry Python 3 names.
// [Protocol] tells which protocol a pickle uses.
//
// # Security
//
// Decoding never imports modules, calls functions or runs code: a class or
// function is only a name (Global), an object only the description of its
// construction (*Object). Any input is therefore safe to decode, pickles
// from untrusted peers included, within the limits below on memory and
// time. No pass of this package recurses on the Go stack beyond a fixed
// depth. Errors are typed: a [*DecodeError] gives the opcode, its offset
// and the cause, a sentinel error of this package or a [*LimitError];
// an [*EncodeError] gives the Go path of the value that failed.
//
// Code that acts on what it decodes may still want to see only the classes
// it expects. DecodeOptions.Classes = [KnownClasses] is the untrusted-input
// mode: a pickle may then name only the globals that Python writes for
// built-in types, the standard classes this package models, the classes
// registered in the Registry and those listed in AllowGlobals; any other
// global (os.system, an unexpected class) fails at the opcode that names
// it with an error matching [ErrForbiddenClass].
//
//	opts := pickle.DecodeOptions{
//		Classes:      pickle.KnownClasses,
//		AllowGlobals: []pickle.Global{{Module: "shop", Name: "Order"}},
//	}
//
// # Limits
//
// DecodeOptions bounds what one pickle may ask for; the zero value gives
// these defaults (zero means the default, negative means no limit):
//
//	MaxDepth         10000    nesting of containers and objects (at most 100000)
//	MaxMemo          16M      memo entries
//	MaxStringLen     1 GiB    one str, bytes or bytearray
//	MaxContainerLen  64M      items of one list, tuple, dict or set
//	MaxAllocFactor   128      memory allocated, as a multiple of the pickle's size, plus 1 MiB
//
// A declared length is checked against the limit and the remaining input
// before anything is allocated, so a 100-byte pickle that claims 2^60
// bytes fails at once; the stream Decoder grows its buffer only as data
// arrives. Nesting is counted as values are built, so a million nested
// lists fail quickly with a *LimitError.
//
// # Speed
//
// The decoder takes boxed numbers, strings and small containers from
// shared chunks rather than allocating each, sizes long lists and dicts
// from an estimate of their length instead of doubling them, and keeps its
// memo in pooled chunks. Runs of numbers, and a str with the MEMOIZE that
// follows it, are read without a turn of the main loop per opcode (a
// batch of numbers appended to a list goes straight into the list, or
// into the []float64 or []int64 being decoded), and a
// run of short strs (a dict of str keys and values) in a loop that keeps
// its state in registers and copies text 32 bytes at a time.
// DecodeOptions.ZeroCopy lets strings and bytes share the input's memory,
// and ShareLarge does so for a value that is most of the input (package
// conn's Recv uses it). The encoder finds values already written through
// address-ordered tables that stay in the processor's cache, writes runs
// of numbers and dict keys it has seen before on paths of their own, and
// AppendMarshalBuffers leaves large payloads where they are, for a writev
// (package conn's Send uses it).
//
// Decoding into a typed target ([]float64, map[string]string, a slice of
// structs) skips the boxing of the model altogether and is the fastest
// way to read data of a known shape. It also matters after decoding: each
// boxed value of the model is a pointer that every garbage collection
// cycle must follow while the value is kept (about 9 ms a cycle for a
// list of a million floats), where a []float64 holds none. testdata/bench.py,
// TestCompareCPython and TestCompareCPythonTyped compare both directions
// with CPython's C pickle (PICKLE_BENCH=1).
package pickle
