package messages

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// duplicateKey returns the path (dotted, as decode errors name fields, with the key as first
// given) of the first key that appears twice in one object of the JSON text b, and whether
// there is one.
// Keys are compared as encoding/json matches them to struct fields: after unescaping and
// regardless of case. b must be valid JSON (it has been decoded already); on anything else it
// reports no duplicate and leaves the problem to the decoder.
//
// It is one pass over the bytes, allocating only for the keys of each object, so the arrays of
// numbers that make up most of a large body cost little more than reading them.
func duplicateKey(b []byte) (path string, found bool) {
	s := dupScanner{b: b}
	return s.value("")
}

type dupScanner struct {
	b []byte
	i int
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
		for {
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
				continue
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
		b.WriteRune(least)
	}
	return b.String()
}
