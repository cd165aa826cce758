package pickle

import "iter"

// Tuple is a Python tuple.
type Tuple []any

// ByteArray is a Python bytearray. (Python bytes are plain []byte.)
type ByteArray []byte

// ByteString is a Python 2 str: a string of bytes with no encoding. It is
// encoded back as a Python 2 str (the STRING opcodes), which Python 3 reads
// as str or bytes according to its encoding argument.
type ByteString string

// Global is a reference to a class or function by module and qualified
// name, as the GLOBAL and STACK_GLOBAL opcodes write it. Decoding never
// imports or calls anything: a Global is just the two names. Names from
// Python 2 pickles (protocols 0-2) are mapped to their Python 3 spelling
// as Python's own unpickler does ("__builtin__" becomes "builtins").
type Global struct {
	Module string
	Name   string
}

func (g Global) String() string { return g.Module + "." + g.Name }

// PersistentRef is a persistent id (the PERSID and BINPERSID opcodes) that
// no [DecodeOptions.PersistentLoad] hook resolved. Encoding a PersistentRef
// writes the persistent id back.
type PersistentRef struct {
	ID any
}

// PickleBuffer is a buffer that protocol 5 can move out of band, the Go
// side of Python's pickle.PickleBuffer. Decoding NEXT_BUFFER yields one
// holding the caller's buffer from [DecodeOptions.Buffers]. Encoding one
// asks [EncodeOptions.BufferCallback] whether to send it out of band; in
// band (or below protocol 5) it is written as bytes when ReadOnly, else
// as a bytearray.
type PickleBuffer struct {
	Data     []byte
	ReadOnly bool
}

// Object is a Python object that Go knows nothing about: how Python builds
// it, and the state it then gives it. Re-encoding an Object writes the
// opcodes from which Python rebuilds an equal object; nothing is imported
// or run on the Go side.
//
// Python builds the object by calling Callable(*Args) (REDUCE), or, when New
// is set, by Callable.__new__(Callable, *Args, **Kwargs) (NEWOBJ,
// NEWOBJ_EX), or, when Inst is set, as a Python 2 classic instance (INST,
// OBJ). It then appends ListItems (APPENDS), sets DictItems (SETITEMS) and
// passes State to __setstate__ or updates __dict__ with it (BUILD).
type Object struct {
	Callable  any   // usually a Global naming the class or function
	Args      Tuple // positional arguments
	Kwargs    *Dict // keyword arguments for __new__; nil when none
	New       bool  // created with Callable.__new__ rather than by a call
	Inst      bool  // Python 2 classic instance (INST/OBJ opcodes)
	State     any   // argument of BUILD; nil when there is none
	ListItems []any // items appended to the object (list subclasses)
	DictItems *Dict // items set on the object (dict subclasses); nil when none
}

// At protocols 0 and 1, where there is no NEWOBJ, an Object with New set
// and no arguments is written as CPython writes instances:
// copyreg._reconstructor(cls, base, state), with base list when ListItems
// is not nil (even if empty), dict when DictItems is not nil, else object.

// Class returns the Global naming the object's class or constructor, and
// whether Callable is a Global.
func (o *Object) Class() (Global, bool) {
	g, ok := o.Callable.(Global)
	return g, ok
}

// String writes the object as its callable, its arguments and its state;
// an object that holds itself is written once, and as ... inside.
func (o *Object) String() string { return Format(o, 0) }

// smallDict is the size up to which a Dict or Set is searched linearly and
// has no hash index.
const smallDict = 8

type dictEntry struct {
	key, value any
}

// Dict is a Python dict: insertion-ordered, with keys compared by Python
// equality (1, 1.0 and True are the same key; tuples compare by their
// items). Keys must be hashable in Python's sense: nil, bool, numbers,
// strings, []byte, Tuple of hashables, *FrozenSet, Global, or *Object
// (compared by identity). A Dict is not safe for concurrent use while it
// is being modified; any number of goroutines may read it at once.
// The zero Dict is empty and ready to use.
type Dict struct {
	entries []dictEntry
	index   keyIndex
}

// NewDict returns an empty Dict.
func NewDict() *Dict { return &Dict{} }

// NewDictSize returns an empty Dict with room for n entries.
func NewDictSize(n int) *Dict { return &Dict{entries: make([]dictEntry, 0, n)} }

// Len returns the number of entries.
func (d *Dict) Len() int {
	if d == nil {
		return 0
	}
	return len(d.entries)
}

// Get returns the value for key and whether it is present. An unhashable
// key is never present.
func (d *Dict) Get(key any) (any, bool) {
	if d == nil {
		return nil, false
	}
	i, _ := d.find(key)
	if i < 0 {
		return nil, false
	}
	return d.entries[i].value, true
}

// Set sets the value for key, keeping the position of an existing equal
// key (and, as Python does, that key's original spelling). It fails only
// for unhashable keys.
func (d *Dict) Set(key, value any) error {
	i, h, err := d.findHash(key)
	if err != nil {
		return err
	}
	if i >= 0 {
		d.entries[i].value = value
		return nil
	}
	d.entries = append(d.entries, dictEntry{key, value})
	d.indexAdded(h)
	return nil
}

// Delete removes key and reports whether it was present. It takes time
// proportional to the size of the Dict.
func (d *Dict) Delete(key any) bool {
	if d == nil {
		return false
	}
	i, _ := d.find(key)
	if i < 0 {
		return false
	}
	copy(d.entries[i:], d.entries[i+1:])
	d.entries[len(d.entries)-1] = dictEntry{}
	d.entries = d.entries[:len(d.entries)-1]
	d.index = nil
	if len(d.entries) > smallDict {
		d.rebuildIndex()
	}
	return true
}

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []any {
	if d == nil {
		return nil
	}
	keys := make([]any, len(d.entries))
	for i, e := range d.entries {
		keys[i] = e.key
	}
	return keys
}

// Values returns the values in insertion order.
func (d *Dict) Values() []any {
	if d == nil {
		return nil
	}
	vals := make([]any, len(d.entries))
	for i, e := range d.entries {
		vals[i] = e.value
	}
	return vals
}

// All iterates over key, value pairs in insertion order.
func (d *Dict) All() iter.Seq2[any, any] {
	return func(yield func(any, any) bool) {
		if d == nil {
			return
		}
		for _, e := range d.entries {
			if !yield(e.key, e.value) {
				return
			}
		}
	}
}

// At returns the i'th key and value in insertion order.
func (d *Dict) At(i int) (key, value any) {
	e := d.entries[i]
	return e.key, e.value
}

// String writes the dict as {key: value, ...}, with fmt's %v for keys and
// values; a dict that holds itself is written once, and as {...} inside.
func (d *Dict) String() string { return Format(d, 0) }

// find returns the position of key, or -1.
func (d *Dict) find(key any) (int, error) {
	i, _, err := d.findHash(key)
	return i, err
}

// findHash returns the position of key (or -1) and, when the Dict has an
// index, key's hash. A Dict has an index exactly when it holds more than
// smallDict entries, so lookups never modify it.
func (d *Dict) findHash(key any) (pos int, h uint64, err error) {
	if d.index == nil {
		if s, ok := key.(string); ok {
			for i := range d.entries {
				if k, ok := d.entries[i].key.(string); ok && k == s {
					return i, 0, nil
				}
			}
			// A string equals only strings (and ASCII ByteStrings).
			if !d.hasNonString() {
				return -1, 0, nil
			}
		}
		if err := checkHashable(key); err != nil {
			return -1, 0, err
		}
		for i := range d.entries {
			if keyEqual(d.entries[i].key, key) {
				return i, 0, nil
			}
		}
		return -1, 0, nil
	}
	h, err = hashKey(key)
	if err != nil {
		return -1, 0, err
	}
	return d.index.lookup(h, func(p int32) bool { return keyEqual(d.entries[p].key, key) }), h, nil
}

func (d *Dict) hasNonString() bool {
	for i := range d.entries {
		if _, ok := d.entries[i].key.(string); !ok {
			return true
		}
	}
	return false
}

// indexAdded records the last entry in the index, building it when the
// Dict outgrows linear search. h is the entry's hash if findHash computed
// one.
func (d *Dict) indexAdded(h uint64) {
	n := len(d.entries)
	if d.index == nil {
		if n > smallDict {
			d.rebuildIndex()
		}
		return
	}
	d.index.insert(h, int32(n-1))
}

func (d *Dict) rebuildIndex() {
	d.index = newKeyIndex(len(d.entries))
	for i := range d.entries {
		h, _ := hashKey(d.entries[i].key) // keys in a Dict are hashable
		d.index.insert(h, int32(i))
	}
}

// Set is a Python set: unordered in Python, kept in insertion order here,
// with Python equality for its elements. See [Dict] for what is hashable and
// for the concurrency contract. The zero Set is empty and ready to use.
type Set struct {
	items []any
	index keyIndex
}

// NewSet returns a set holding items; it fails if an item is unhashable.
func NewSet(items ...any) (*Set, error) {
	s := &Set{items: make([]any, 0, len(items))}
	for _, it := range items {
		if err := s.Add(it); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Len returns the number of elements.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.items)
}

// Has reports whether x is an element.
func (s *Set) Has(x any) bool {
	if s == nil {
		return false
	}
	i, _, _ := s.findHash(x)
	return i >= 0
}

// Add adds x; it fails only if x is unhashable.
func (s *Set) Add(x any) error {
	i, h, err := s.findHash(x)
	if err != nil {
		return err
	}
	if i >= 0 {
		return nil
	}
	s.items = append(s.items, x)
	n := len(s.items)
	if s.index == nil {
		if n > smallDict {
			s.rebuildIndex()
		}
	} else {
		s.index.insert(h, int32(n-1))
	}
	return nil
}

// Remove removes x and reports whether it was present. It takes time
// proportional to the size of the Set.
func (s *Set) Remove(x any) bool {
	if s == nil {
		return false
	}
	i, _, _ := s.findHash(x)
	if i < 0 {
		return false
	}
	copy(s.items[i:], s.items[i+1:])
	s.items[len(s.items)-1] = nil
	s.items = s.items[:len(s.items)-1]
	s.index = nil
	if len(s.items) > smallDict {
		s.rebuildIndex()
	}
	return true
}

// Items returns the elements in insertion order.
func (s *Set) Items() []any {
	if s == nil {
		return nil
	}
	return append([]any(nil), s.items...)
}

// All iterates over the elements in insertion order.
func (s *Set) All() iter.Seq[any] {
	return func(yield func(any) bool) {
		if s == nil {
			return
		}
		for _, x := range s.items {
			if !yield(x) {
				return
			}
		}
	}
}

// String writes the set as {a, b}, or set() when empty.
func (s *Set) String() string { return Format(s, 0) }

func (s *Set) findHash(x any) (int, uint64, error) {
	if s.index == nil {
		if err := checkHashable(x); err != nil {
			return -1, 0, err
		}
		for i := range s.items {
			if keyEqual(s.items[i], x) {
				return i, 0, nil
			}
		}
		return -1, 0, nil
	}
	h, err := hashKey(x)
	if err != nil {
		return -1, 0, err
	}
	return s.index.lookup(h, func(p int32) bool { return keyEqual(s.items[p], x) }), h, nil
}

func (s *Set) rebuildIndex() {
	s.index = newKeyIndex(len(s.items))
	for i := range s.items {
		h, _ := hashKey(s.items[i])
		s.index.insert(h, int32(i))
	}
}

// FrozenSet is a Python frozenset: an immutable, hashable [Set].
type FrozenSet struct {
	set Set
}

// NewFrozenSet returns a frozenset holding items; it fails if an item is
// unhashable.
func NewFrozenSet(items ...any) (*FrozenSet, error) {
	f := &FrozenSet{set: Set{items: make([]any, 0, len(items))}}
	for _, it := range items {
		if err := f.set.Add(it); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Len returns the number of elements.
func (f *FrozenSet) Len() int {
	if f == nil {
		return 0
	}
	return len(f.set.items)
}

// Has reports whether x is an element.
func (f *FrozenSet) Has(x any) bool {
	if f == nil {
		return false
	}
	return f.set.Has(x)
}

// Items returns the elements in insertion order.
func (f *FrozenSet) Items() []any {
	if f == nil {
		return nil
	}
	return f.set.Items()
}

// All iterates over the elements in insertion order.
func (f *FrozenSet) All() iter.Seq[any] {
	if f == nil {
		return (*Set)(nil).All()
	}
	return f.set.All()
}

// String writes the set as frozenset({a, b}), or frozenset() when empty.
func (f *FrozenSet) String() string { return Format(f, 0) }

func (f *FrozenSet) elems() []any {
	if f == nil {
		return nil
	}
	return f.set.items
}

// keyIndex is an open-addressing hash index from key hash to entry
// position, used by Dict and Set once they outgrow linear search. Entries
// are only appended to it, so the number of entries tells its load.
type keyIndex []indexSlot

type indexSlot struct {
	hash uint32
	pos  int32 // position + 1; 0 is an empty slot
}

func newKeyIndex(n int) keyIndex {
	size := 16
	for size < n*2 {
		size <<= 1
	}
	return make(keyIndex, size)
}

func (x keyIndex) lookup(h uint64, eq func(int32) bool) int {
	mask := uint64(len(x) - 1)
	h32 := uint32(h)
	for i := h & mask; ; i = (i + 1) & mask {
		s := x[i]
		if s.pos == 0 {
			return -1
		}
		if s.hash == h32 && eq(s.pos-1) {
			return int(s.pos - 1)
		}
	}
}

// reserve grows a non-nil index so that it holds n entries without
// growing again.
func (x *keyIndex) reserve(n int) {
	if *x != nil && n*2 > len(*x) {
		x.resize(n)
	}
}

// shrink makes a non-nil index smaller if it is much larger than n
// entries need.
func (x *keyIndex) shrink(n int) {
	if *x != nil && len(*x) > 4*n && len(*x) > 16 {
		x.resize(n)
	}
}

// resize moves the index to a table sized for n entries.
func (x *keyIndex) resize(n int) {
	old := *x
	*x = newKeyIndex(n)
	for _, s := range old {
		if s.pos != 0 {
			x.place(s)
		}
	}
}

// lookupOrInsert is lookup, and on a miss insert of entry pos under h,
// into the slot the lookup ended at.
func (x *keyIndex) lookupOrInsert(h uint64, pos int32, eq func(int32) bool) int {
	x.makeRoom(pos)
	ix := *x
	mask := uint64(len(ix) - 1)
	h32 := uint32(h)
	for i := h & mask; ; i = (i + 1) & mask {
		s := ix[i]
		if s.pos == 0 {
			ix[i] = indexSlot{h32, pos + 1}
			return -1
		}
		if s.hash == h32 && eq(s.pos-1) {
			return int(s.pos - 1)
		}
	}
}

// makeRoom grows the index, if need be, to stay at most half full with
// entry pos in it.
func (x *keyIndex) makeRoom(pos int32) {
	if int(pos+1)*2 > len(*x) {
		x.resize(len(*x))
	}
}

// insert records entry pos (the entries before it are all recorded).
func (x *keyIndex) insert(h uint64, pos int32) {
	x.makeRoom(pos)
	x.place(indexSlot{uint32(h), pos + 1})
}

// place stores s; the hash kept in the slot is the low 32 bits, which is
// also enough to find its home bucket (tables stay below 2^31 slots).
func (x keyIndex) place(s indexSlot) {
	mask := uint32(len(x) - 1)
	for i := s.hash & mask; ; i = (i + 1) & mask {
		if x[i].pos == 0 {
			x[i] = s
			return
		}
	}
}
