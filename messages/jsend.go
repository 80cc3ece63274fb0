package messages

import "encoding/json"

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
