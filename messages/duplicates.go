package messages

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// bodyProblem finds what decoding b (valid JSON text, decoded into a t already) lets through:
// the first key given twice in one object, or the first null element of an array that decoding
// turned into a zero. It returns the path (dotted, as decode errors name fields, with a key as
// first given; an element with its index: options.order[1]), whether it is a null, and whether
// there is a finding. On text that is not valid JSON it finds nothing and leaves the problem to
// the decoder.
//
// Keys are compared as encoding/json matches them to struct fields: after unescaping and
// regardless of case. encoding/json reads a null element as "leave it alone", so [2,null,1]
// would be the order (2,0,1) the client never asked for; arrays whose elements may be null (a
// pointer, or a type that decodes itself, such as Values, where null is a missing observation)
// are left alone.
//
// It is one pass over the bytes, allocating only for the keys of each object and looking at t
// only at nulls, so the arrays of numbers that make up most of a large body cost little more
// than reading them.
func bodyProblem(b []byte, t reflect.Type) (path string, null, found bool) {
	s := dupScanner{b: b, t: t}
	path, found = s.value("")
	return path, s.null, found
}

type dupScanner struct {
	b []byte
	i int
	// t is what b was decoded into: a null element of an array at a path where t has no room
	// for one (nullableElements) is the scan's finding, named path[index].
	t     reflect.Type
	known map[string]bool // nullableElements' answers by path
	null  bool            // the finding is a null, not a duplicate key
}

// nullFound reports whether the value at s.i, an element of the array at path, is a null that
// s.t has no room for.
func (s *dupScanner) nullFound(path string) bool {
	if s.b[s.i] != 'n' {
		return false
	}
	ok, asked := s.known[path]
	if !asked {
		ok = nullableElements(s.t, path)
		if s.known == nil {
			s.known = map[string]bool{}
		}
		s.known[path] = ok
	}
	return !ok
}

// nullableElements reports whether the array at path (dotted JSON field names, as the scanner
// gives them) inside a t may hold nulls: a path that leads nowhere in t (a field decoded
// generically, or unknown) is not this check's business.
func nullableElements(t reflect.Type, path string) bool {
	segments := strings.Split(path, ".")
	if path == "" {
		segments = nil
	}
	for {
		if decodesItself(t) {
			return true
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
			continue
		case reflect.Slice, reflect.Array:
			if len(segments) == 0 {
				e := t.Elem()
				return e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface || decodesItself(e)
			}
			t = t.Elem()
			continue
		case reflect.Struct:
			if len(segments) == 0 {
				return true
			}
			f, ok := jsonField(t, segments[0])
			if !ok {
				return true
			}
			t, segments = f, segments[1:]
			continue
		}
		return true
	}
}

// decodesItself reports whether t or *t has an UnmarshalJSON of its own.
func decodesItself(t reflect.Type) bool {
	return t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler)
}

// jsonField is the type of t's field that encoding/json decodes key into (matched regardless
// of case, through embedded structs).
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if ft, ok := jsonField(et, key); ok {
					return ft, true
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return f.Type, true
		}
	}
	return nil, false
}

// byteClass marks JSON whitespace (1) and the delimiters that end a number or literal (2).
var byteClass = [256]uint8{' ': 1, '\t': 1, '\n': 1, '\r': 1, ',': 2, ']': 2, '}': 2}

func (s *dupScanner) space() {
	i, b := s.i, s.b
	for i < len(b) && byteClass[b[i]] == 1 {
		i++
	}
	s.i = i
}

// value skips one value, reporting the first duplicate key inside it.
func (s *dupScanner) value(path string) (string, bool) {
	s.space()
	if s.i >= len(s.b) {
		return "", false
	}
	switch s.b[s.i] {
	case '{':
		return s.object(path)
	case '[':
		s.i++
		for index := 0; ; index++ {
			s.space()
			if s.i >= len(s.b) {
				return "", false
			}
			switch s.b[s.i] {
			case ']':
				s.i++
				return "", false
			case ',':
				s.i++
				index--
				continue
			}
			if s.nullFound(path) {
				s.null = true
				return path + "[" + strconv.Itoa(index) + "]", true
			}
			if p, ok := s.value(path); ok {
				return p, true
			}
		}
	case '"':
		s.str()
		return "", false
	}
	// A number, true, false or null: up to the next delimiter or whitespace.
	i, b := s.i, s.b
	for i < len(b) && byteClass[b[i]] == 0 {
		i++
	}
	s.i = i
	return "", false
}

// object skips an object at s.i ('{'), checking its keys.
func (s *dupScanner) object(path string) (string, bool) {
	s.i++
	var seen []seenKey // keys so far; a map from folded to given key once there are many
	var seenSet map[string]string
	for {
		s.space()
		if s.i >= len(s.b) {
			return "", false
		}
		switch s.b[s.i] {
		case '}':
			s.i++
			return "", false
		case ',':
			s.i++
			continue
		case '"':
		default:
			return "", false // not valid JSON: the decoder reports it
		}
		raw, escaped := s.str()
		key := string(raw)
		if escaped {
			if err := json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &key); err != nil {
				return "", false
			}
		}
		folded := foldKey(key)
		if seenSet != nil {
			if first, dup := seenSet[folded]; dup {
				return join(path, first), true
			}
			seenSet[folded] = key
		} else {
			for _, k := range seen {
				if k.folded == folded {
					return join(path, k.key), true
				}
			}
			seen = append(seen, seenKey{folded, key})
			if len(seen) > 16 {
				seenSet = make(map[string]string, 2*len(seen))
				for _, k := range seen {
					seenSet[k.folded] = k.key
				}
			}
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return "", false
		}
		s.i++
		if p, ok := s.value(join(path, key)); ok {
			return p, true
		}
	}
}

// seenKey is a key of an object as given and as compared.
type seenKey struct{ folded, key string }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str skips a string at s.i ('"') and returns its raw contents and whether they hold escapes.
func (s *dupScanner) str() (raw []byte, escaped bool) {
	s.i++
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i += 2
			continue
		case '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped
		}
		s.i++
	}
	return s.b[start:], escaped
}

// foldKey maps a key to one representative of the keys encoding/json takes for the same
// field: ASCII lowered, other letters to the smallest rune of their case-folding orbit.
func foldKey(k string) string {
	ascii := true
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(k)
	}
	var b strings.Builder
	for _, r := range k {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		if least < utf8.RuneSelf {
			least = unicode.ToLower(least) // as the ASCII keys above: ſ and K (Kelvin) fold to s and k
		}
		b.WriteRune(least)
	}
	return b.String()
}
