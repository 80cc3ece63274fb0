package messages

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Code says what kind of failure an error is, independently of any transport: processors and
// stores speak codes, and the gateway maps each to an HTTP status and a JSend body in one place.
type Code string

// Codes. The client's codes (invalid up to rate_limited) are answered as JSend fail, naming the
// problem per field; the service's codes (internal, unavailable, timeout) as JSend error.
const (
	CodeInvalid          Code = "invalid"            // the input cannot be accepted
	CodeUnauthenticated  Code = "unauthenticated"    // no valid credentials
	CodeForbidden        Code = "forbidden"          // the credentials do not allow this
	CodeNotFound         Code = "not_found"          // no such model, job, endpoint
	CodeMethodNotAllowed Code = "method_not_allowed" // the endpoint does not take this method
	CodeBodyTimeout      Code = "body_timeout"       // the request body did not arrive in time
	CodeGone             Code = "gone"               // no longer retained (events past the history)
	CodeTooLarge         Code = "too_large"          // the input is larger than the limit
	CodeUnsupportedMedia Code = "unsupported_media"  // the input is not in a format understood
	CodeUpgradeRequired  Code = "upgrade_required"   // the endpoint speaks another protocol
	CodeRateLimited      Code = "rate_limited"       // too many requests from this client
	CodeInternal         Code = "internal"           // a failure of the service itself
	CodeUnavailable      Code = "unavailable"        // the broker or the store is unreachable
	CodeTimeout          Code = "timeout"            // no answer in time; the job goes on
)

// Failure is an error with a code, what its client is told, and its cause, which is logged and
// never shown. It is also what a failed job's record and result reply carry (the cause stays
// behind), so that a poll, a lost reply or a redelivery get the same answer.
type Failure struct {
	Code Code `json:"code"`
	// Message tells the client what went wrong and what to do; written for users, never a Go
	// error's text.
	Message string `json:"message,omitempty"`
	// Problems names the bad fields of a client's failure.
	Problems Problems `json:"problems,omitempty"`
	// Data is extra data for the client, such as the job_id to poll.
	Data  map[string]any `json:"data,omitempty"`
	Cause error          `json:"-"`

	// Status and Body are what records and replies of versions before codes carried instead:
	// the HTTP status and JSend body. They are read (a rolling upgrade meets them), never written.
	Status int       `json:"status,omitempty"`
	Body   *Envelope `json:"body,omitempty"`
}

// Fail is a client's failure with one problem per field.
func Fail(code Code, problems Problems) *Failure {
	return &Failure{Code: code, Problems: problems}
}

// FailField is Fail with a single field.
func FailField(code Code, field, format string, args ...any) *Failure {
	p := Problems{}
	p.Add(field, format, args...)
	return Fail(code, p)
}

// Errorf is a failure of the service with a message for users and the cause behind it (nil if
// none).
func Errorf(code Code, cause error, format string, args ...any) *Failure {
	return &Failure{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// WithJob adds the job the failure belongs to, so the client can poll it.
func (f *Failure) WithJob(id string) *Failure {
	if f.Data == nil {
		f.Data = map[string]any{}
	}
	f.Data["job_id"] = id
	return f
}

func (f *Failure) Error() string {
	s := string(f.Code)
	if d := f.Describe(); d != "" {
		s += ": " + d
	}
	if f.Cause != nil {
		s += ": " + f.Cause.Error()
	}
	return s
}

// Describe is what the client is told, in one line: the message, or each field's problem
// ("values: all 3 values are missing; method: …", as a batch's CSV results say them).
func (f *Failure) Describe() string {
	if f.Message != "" || len(f.Problems) == 0 {
		return f.Message
	}
	parts := make([]string, 0, len(f.Problems))
	for _, k := range slices.Sorted(maps.Keys(f.Problems)) {
		parts = append(parts, k+": "+f.Problems[k])
	}
	return strings.Join(parts, "; ")
}

func (f *Failure) Unwrap() error { return f.Cause }

// RenameField is err with the problem of field from, if it is an invalid Failure with one,
// named to instead: the same problem in the words of another interface (the original API's
// data, a WebSocket message rather than a body). err itself is not changed.
func RenameField(err error, from, to string) error {
	f, ok := err.(*Failure)
	if !ok || f.Code != CodeInvalid {
		return err
	}
	p, ok := f.Problems[from]
	if !ok {
		return err
	}
	out := *f
	out.Problems = maps.Clone(f.Problems)
	delete(out.Problems, from)
	out.Problems[to] = p
	return &out
}

// ClientFault reports whether code is the client's doing (answered as JSend fail) rather than
// the service's (JSend error).
func (c Code) ClientFault() bool {
	switch c {
	case CodeInternal, CodeUnavailable, CodeTimeout:
		return false
	}
	return true
}

// sentinel is a package's error for a concept it owns (store.ErrNoModel), with the code it
// stands for.
type sentinel struct {
	code Code
	text string
}

func (e *sentinel) Error() string { return e.text }

// NewSentinel makes a sentinel error with a code; compare with errors.Is, read the code with
// CodeOf. Its text is for logs: callers tell users in their own words.
func NewSentinel(code Code, text string) error { return &sentinel{code, text} }

// CodeOf is the code of the first Failure or sentinel in err's chain; CodeInternal when none has
// one.
func CodeOf(err error) Code {
	var f *Failure
	var s *sentinel
	switch {
	case errors.As(err, &f) && f.Code != "":
		return f.Code
	case errors.As(err, &s):
		return s.code
	}
	return CodeInternal
}
