package messages

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Values is a series on the wire: JSON numbers, with null for a missing observation, which is
// NaN in Go. (JSON has no NaN or Infinity, so NaN can only come from null.)
type Values []float64

// MarshalJSON writes NaN as null.
func (v Values) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+len(v)*10)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads null as NaN.
func (v *Values) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*v = nil
		return nil
	}
	var raw []*float64
	if err := json.Unmarshal(data, &raw); err != nil {
		return inValue(data, err)
	}
	out := make(Values, len(raw))
	for i, p := range raw {
		if p == nil {
			out[i] = math.NaN()
		} else {
			out[i] = *p
		}
	}
	*v = out
	return nil
}

// inValue is err, the error of decoding data as Values, naming the element it is in when it
// is a type error (values[31337], as for Times): the decoder's own names the array alone,
// which in a series of thousands of values does not say which one.
func inValue(data []byte, err error) error {
	var elems []json.RawMessage
	if !errors.As(err, new(*json.UnmarshalTypeError)) || json.Unmarshal(data, &elems) != nil {
		return err
	}
	for i, e := range elems {
		var v *float64
		var typeErr *json.UnmarshalTypeError
		if errors.As(json.Unmarshal(e, &v), &typeErr) {
			return &json.UnmarshalTypeError{Value: typeErr.Value, Type: typeErr.Type, Field: "[" + strconv.Itoa(i) + "]"}
		}
	}
	return err
}

// Times are the timestamps of a series on the wire: RFC 3339 strings.
type Times []time.Time

// UnmarshalJSON reads an array of RFC 3339 strings. A bad element is a *json.UnmarshalTypeError
// naming its index as the field, so that the decoder puts the field's path in front of it and
// decodeProblem can tell the client which element is wrong (timestamps[1]).
func (ts *Times) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil { // null
		*ts = nil
		return nil
	}
	out := make(Times, len(raw))
	for i, r := range raw {
		// time.Time reads null as no time at all; a timestamp must be given.
		if r[0] != '"' || out[i].UnmarshalJSON(r) != nil || !writable(out[i]) {
			return &json.UnmarshalTypeError{Value: Clip(string(r)), Type: reflect.TypeFor[time.Time](), Field: "[" + strconv.Itoa(i) + "]"}
		}
	}
	*ts = out
	return nil
}

// writable reports whether t can be written back as RFC 3339, as commands and answers carry it:
// Go reads zone offsets of 24:00 to 24:59 hours, which RFC 3339 does not have and Go cannot
// write, so a series with one would be accepted and then fail in every processor.
func writable(t time.Time) bool {
	_, off := t.Zone()
	return off > -24*3600 && off < 24*3600
}

// Clip shortens s, a piece of the client's input quoted back to it, to at most about 40 bytes.
func Clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
