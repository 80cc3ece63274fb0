package messages

import "encoding/json"

// JSend statuses.
const (
	StatusSuccess = "success"
	StatusFail    = "fail"
	StatusError   = "error"
)

// Envelope is a JSend response body. Data holds the payload for success, the per-field problems
// for fail; Message explains an error.
type Envelope struct {
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message,omitempty"`
	Code    int             `json:"code,omitempty"`
}

// Success wraps data in a success envelope; data that cannot be encoded (a NaN that slipped
// through) becomes an error envelope rather than a success carrying nothing.
func Success(data any) Envelope {
	b, err := json.Marshal(data)
	if err != nil {
		return Envelope{Status: StatusError, Message: "the result cannot be encoded: " + err.Error(), Code: 500}
	}
	return Envelope{Status: StatusSuccess, Data: b}
}

// Fail wraps per-field problems, e.g. {"values": "must not be empty"}.
func Fail(problems map[string]string) Envelope {
	return Envelope{Status: StatusFail, Data: JSON(problems)}
}

// FailField is Fail with a single field.
func FailField(field, problem string) Envelope {
	return Fail(map[string]string{field: problem})
}

// Error is an error envelope: the request was fine but the service could not answer it.
// data may be nil.
func Error(message string, code int, data any) Envelope {
	e := Envelope{Status: StatusError, Message: message, Code: code}
	if data != nil {
		e.Data = JSON(data)
	}
	return e
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

// Failure is what a failed job's record keeps (store.Job.Error): the HTTP status and the JSend
// body its client got, so that a poll or a redelivery can give the same answer.
type Failure struct {
	Status int      `json:"status"`
	Body   Envelope `json:"body"`
}
