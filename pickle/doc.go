// Package pickle reads and writes Python pickles, protocols 0 to 5, the
// format in which Python's multiprocessing connections carry objects.
//
// Use [Marshal] and [Unmarshal] as with encoding/json:
//
//	data, err := pickle.Marshal(map[string]any{"id": 1, "tags": []string{"a"}})
//	var v any
//	err = pickle.Unmarshal(data, &v) // v is a *pickle.Dict
//
// [EncodeOptions] and [DecodeOptions] select the protocol, hooks and limits;
// [Encoder] and [Decoder] work on streams of pickles.
//
// # Values
//
// Decoding into an any builds values of this package's model; encoding
// accepts that model and plain Go values. The arrows give the direction:
//
//	Python                        Go
//	------                        --
//	None                     ↔    nil (also nil pointers and interfaces →)
//	bool                     ↔    bool
//	int                      ↔    int64 when it fits, else *big.Int
//	int                      ←    int, int8…int32, uint…uint64 (beyond int64 too), big.Int
//	float                    ↔    float64 (nan, ±inf and -0.0 kept)
//	float                    ←    float32
//	complex                  ↔    complex128 (complex64 →)
//	str                      ↔    string: UTF-8; lone surrogates as their 3-byte sequences
//	bytes                    ↔    []byte ([N]byte and other byte slices →)
//	bytearray                ↔    ByteArray
//	Python 2 str             ↔    string, ByteString or []byte on decoding: see Py2Str; ByteString →
//	list                     ↔    []any (other slices and arrays →; a nil slice → empty list)
//	tuple                    ↔    Tuple
//	dict                     ↔    *Dict: insertion order and Python key equality
//	dict                     ←    maps (keys in sorted order; a nil map → empty dict)
//	dict                     ←    structs: field name → value, with `pickle` tags
//	set                      ↔    *Set
//	frozenset                ↔    *FrozenSet
//	class or function        ↔    Global{Module, Name}
//	other objects            ↔    *Object: callable, arguments, state, items
//	persistent id            ↔    PersistentRef (or DecodeOptions.PersistentLoad's value)
//	PickleBuffer             ↔    PickleBuffer (protocol 5 out-of-band buffers)
//	what MarshalPickle gives ←    Marshaler
//	og-rek values            ←    ogórek.None, Tuple, Bytes, ByteString, Dict, Class, Call, Ref
//
// Python int equal to 1, 1.0, True and complex(1, 0) are the same dict key
// or set element, as in Python; [Equal] is Python's == on these values.
// Strings hold UTF-8; since Python allows lone surrogates in str (and
// pickles them with "surrogatepass"), they decode to their 3-byte
// encodings so that re-encoding is lossless, and the encoder accepts them.
//
// An object of any class decodes to an [*Object] recording how Python
// builds it: REDUCE (Callable(*Args)), NEWOBJ and NEWOBJ_EX
// (Callable.__new__(Callable, *Args, **Kwargs), New set), or Python 2's
// INST and OBJ (Inst set), followed by APPENDS (ListItems), SETITEMS
// (DictItems) and BUILD (State). Re-encoding it writes the opcodes from
// which Python builds an equal object, so values cross Go unchanged even
// when Go knows nothing about their class. A few standard reductions with
// a certain meaning decode to native values: set(), frozenset(), bytes(),
// bytearray(), complex(), _codecs.encode(s, 'latin1') (how protocols 0-2
// write bytes), getattr(Global, name) (how they name nested classes) and
// copyreg's __newobj__, __newobj_ex__ and _reconstructor(cls, object,
// None) (plain instances at protocols 0 and 1, written back the same way).
//
// Lists are []any. A list appended to itself, or shared between places,
// decodes to one backing array: every place holds the same slice, so the
// encoder, which memoizes slices by address, writes the sharing back.
//
// Struct fields encode under their Go name unless a `pickle:"name"` tag
// says otherwise; `pickle:"-"` skips a field and `pickle:",omitempty"`
// skips an empty one; embedded structs are flattened as by encoding/json.
// Pointers, maps, slices and model containers reached more than once are
// written once and referred to through the memo, so Python sees the same
// sharing and cycles terminate.
//
// Decoding into typed Go values (structs, []T) is not implemented yet:
// Unmarshal needs a *any.
//
// # Protocols
//
// Marshal writes protocol 4 ([DefaultProtocol]), which Python 3.4 and
// later read; Python 2 reads protocols 0 to 2. EncodeOptions.Protocol
// picks another (use [Protocol0] for 0). The encoder follows CPython's C
// pickler opcode for opcode — short forms, MEMOIZE, FRAME at protocol 4
// and up with large bytes outside frames, batches of 1000 — so its output
// is as compact as CPython's, and byte-identical for the same object where
// Go can tell shared objects apart. At protocols 0 to 2 module names are
// written in their Python 2 spelling (fix_imports) and bytes as
// _codecs.encode calls, as CPython does; decoding maps Python 2 names to
// Python 3 ones. [Protocol] reports the protocol of a pickle.
//
// # Security
//
// Decoding never imports modules, calls functions or runs any code: a
// class or function is only its name (a Global) and an object only the
// description of its construction (an *Object). Any input is therefore
// safe to decode, including pickles from untrusted peers, as long as the
// limits below bound the memory and time it may take. Errors are typed:
// a [*DecodeError] gives the opcode, its offset and the cause, one of the
// sentinel errors of this package or a [*LimitError].
//
// # Limits
//
// DecodeOptions bounds what one pickle may ask for; the zero value gives
// these defaults:
//
//	MaxDepth         10000    nesting of containers and objects
//	MaxMemo          16M      memo entries
//	MaxStringLen     1 GiB    one str, bytes or bytearray
//	MaxContainerLen  64M      items of one list, tuple, dict or set
//	MaxAllocFactor   128      memory allocated, as a multiple of the pickle's size (+1 MiB)
//
// A declared length is checked against the limit and the remaining input
// before anything is allocated, so a 100-byte pickle claiming 2^60 bytes
// fails at once. Nesting is counted while decoding, so a million nested
// lists fail quickly with a *LimitError; no pass of this package recurses
// on the Go stack beyond a fixed bound.
package pickle
