package pickle

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Per-type plans, computed once per reflect.Type and cached as
// encoding/json caches its struct fields: how a struct's fields are named,
// and how values of a type are decoded and encoded.

// A field is one struct field that takes part in encoding and decoding.
type field struct {
	name      string // the dict key
	fold      string // name folded for loose matching (see foldName)
	goName    string // the Go field name, for error paths
	index     []int  // reflect index path from the outer struct
	offset    uintptr
	direct    bool // reachable at offset, with no embedded pointer on the way
	built     bool // a struct, map or pointer: the typed decoder may build its value in place
	typ       reflect.Type
	omitEmpty bool
	tagged    bool
}

// structInfo is the plan of a struct type.
type structInfo struct {
	fields []field // in the order of their reflect index: the encoding order
	byName map[string]int
	byFold map[string]int
	extra  *field // the ",extra" field collecting unknown keys, if any
	class  *field // the ",class" field recording the Python class, if any
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoFor(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si, _ := structInfos.LoadOrStore(t, buildStructInfo(t))
	return si.(*structInfo)
}

// find returns the index of the field a dict key names: the field of that
// exact name, else the one whose name matches loosely (foldName), else -1.
func (si *structInfo) find(key string) int {
	if si.byName != nil {
		if i, ok := si.byName[key]; ok {
			return i
		}
	} else {
		for i := range si.fields {
			if len(si.fields[i].name) == len(key) && si.fields[i].name == key {
				return i
			}
		}
	}
	if i, ok := si.byFold[foldName(key)]; ok {
		return i
	}
	return -1
}

// foldName folds a name for loose matching: case is ignored, as
// encoding/json ignores it, and so are underscores, so that the snake_case
// names of Python (user_id) find the Go names of the same words (UserID).
func foldName(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c == '_' || ('A' <= c && c <= 'Z') {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == '_' {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type fieldTag struct {
	name                    string
	omitEmpty, extra, class bool
}

func parseTag(tag string) fieldTag {
	name, opts, _ := strings.Cut(tag, ",")
	t := fieldTag{name: name}
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		switch o {
		case "omitempty":
			t.omitEmpty = true
		case "extra":
			t.extra = true
		case "class":
			t.class = true
		}
	}
	return t
}

// buildStructInfo finds the fields of t as encoding/json does: exported
// fields, embedded structs flattened, the `pickle` tag naming a field ("-"
// skips it), and among fields of the same name the shallowest wins (a
// tagged one among equals), or none if that is ambiguous.
func buildStructInfo(t reflect.Type) *structInfo {
	type queued struct {
		typ    reflect.Type
		index  []int
		offset uintptr
		direct bool
	}
	type candidate struct {
		field
		special int // 1 extra, 2 class
	}
	var fields []candidate
	var current []queued
	next := []queued{{typ: t, direct: true}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := 0; i < q.typ.NumField(); i++ {
				sf := q.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				raw := sf.Tag.Get("pickle")
				if raw == "-" {
					continue
				}
				tag := parseTag(raw)
				index := make([]int, len(q.index)+1)
				copy(index, q.index)
				index[len(q.index)] = i
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				special := 0
				switch {
				case tag.extra:
					special = 1
				case tag.class:
					special = 2
				}
				if tag.name != "" || special != 0 || !sf.Anonymous || ft.Kind() != reflect.Struct || hasOwnForm(ft) {
					tagged := tag.name != ""
					name := tag.name
					if name == "" {
						name = sf.Name
					}
					f := candidate{field{
						name: name, fold: foldName(name), goName: sf.Name, index: index,
						offset: q.offset + sf.Offset, direct: q.direct, typ: sf.Type,
						built:     builtInPlace(sf.Type.Kind()),
						omitEmpty: tag.omitEmpty, tagged: tagged,
					}, special}
					if special != 0 {
						f.name = "\x00" + strings.Repeat("\x00", special) // never a dict key
					}
					fields = append(fields, f)
					if count[q.typ] > 1 {
						// Embedded more than once at this depth: a
						// duplicate makes the name ambiguous below.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					direct := q.direct && sf.Type.Kind() != reflect.Pointer
					next = append(next, queued{ft, index, q.offset + sf.Offset, direct})
				}
			}
		}
	}
	slices.SortStableFunc(fields, func(a, b candidate) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	var out []candidate
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		i = j
		if len(group) == 1 || len(group[0].index) < len(group[1].index) || (group[0].tagged && !group[1].tagged) {
			out = append(out, group[0])
		}
	}
	slices.SortFunc(out, func(a, b candidate) int { return slices.Compare(a.index, b.index) })
	si := &structInfo{byFold: map[string]int{}}
	for _, c := range out {
		f := c.field
		switch c.special {
		case 1:
			if si.extra == nil && isExtraType(f.typ) {
				si.extra = &f
			}
			continue
		case 2:
			if si.class == nil && f.typ == globalType {
				si.class = &f
			}
			continue
		}
		si.fields = append(si.fields, f)
	}
	for i := range si.fields {
		if _, dup := si.byFold[si.fields[i].fold]; !dup {
			si.byFold[si.fields[i].fold] = i
		}
	}
	if len(si.fields) > 12 {
		si.byName = make(map[string]int, len(si.fields))
		for i := range si.fields {
			si.byName[si.fields[i].name] = i
		}
	}
	return si
}

var (
	globalType    = reflect.TypeFor[Global]()
	dictPtrType   = reflect.TypeFor[*Dict]()
	anyType       = reflect.TypeFor[any]()
	unmarshalerT  = reflect.TypeFor[Unmarshaler]()
	objectPtrType = reflect.TypeFor[*Object]()
)

// isExtraType reports whether a ",extra" field of type t can collect
// unknown keys: a map with string keys, or a *Dict.
func isExtraType(t reflect.Type) bool {
	return t == dictPtrType || (t.Kind() == reflect.Map && t.Key().Kind() == reflect.String)
}

// hasOwnForm reports whether values of struct type t are not encoded field
// by field: the model's types, big numbers, time.Time and the other types
// with a Python form of their own.
func hasOwnForm(t reflect.Type) bool {
	if isSpecial(t) || reflect.PointerTo(t).Implements(unmarshalerT) || reflect.PointerTo(t).Implements(marshalerType) {
		return true
	}
	return builtinFor(t) != nil
}

// fieldPtr returns the address of field f in the struct at p, allocating
// the embedded structs on the way that are nil pointers when alloc is set
// (else returning nil for them).
func fieldPtr(st reflect.Type, p unsafe.Pointer, f *field, alloc bool) unsafe.Pointer {
	if f.direct {
		return unsafe.Add(p, f.offset)
	}
	v := reflect.NewAt(st, p).Elem()
	for i, x := range f.index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !alloc || !v.CanSet() {
					return nil
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return unsafe.Pointer(v.UnsafeAddr())
}

// builtInPlace reports whether a field of kind k may have its value built
// in place by the typed decoder (a dict into a struct or map, through
// pointers), which setFields must then see set only once.
func builtInPlace(k reflect.Kind) bool {
	return k == reflect.Struct || k == reflect.Map || k == reflect.Pointer
}
