package messages

import (
	"encoding/json"
	"fmt"
)

// JSend statuses.
const (
	StatusSuccess = "success"
	StatusFail    = "fail"
	StatusError   = "error"
)

// Envelope is a JSend response body. Data holds the payload for success, the per-field problems
// for fail; Message explains an error, and Code repeats its HTTP status. The gateway builds the
// bodies of failures from a Failure (see there).
type Envelope struct {
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message,omitempty"`
	Code    int             `json:"code,omitempty"`
}

// Success wraps data in a success envelope. Data that cannot be encoded (a NaN that slipped
// through) is an error, rather than a success carrying nothing.
func Success(data any) (Envelope, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, Errorf(CodeInternal, err, "the result cannot be encoded")
	}
	return Envelope{Status: StatusSuccess, Data: b}, nil
}

// JSON marshals a value built by this module for the wire or the store. Such values marshal
// (no channels, funcs or non-finite floats reach here); should one not, the error is carried in
// the JSON instead of being dropped.
func JSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"marshal_error": err.Error()})
	}
	return b
}

// MarshalWithRaw is json.Marshal of v, an object whose field key is empty and omitempty, with
// raw as the value of that field, put last. raw must be JSON that json.Marshal made or
// json.Unmarshal accepted: json.Marshal would check and compact it again, which is a tenth of
// a processor's work on a forecast that passes its result on twice (job record and reply).
func MarshalWithRaw(v any, key string, raw json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(raw) == 0 {
		return b, err
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("marshal with %q: %T is not encoded as an object", key, v)
	}
	out := make([]byte, 0, len(b)+len(key)+len(raw)+4)
	out = append(out, b[:len(b)-1]...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, key...)
	out = append(out, '"', ':')
	out = append(out, raw...)
	return append(out, '}'), nil
}
