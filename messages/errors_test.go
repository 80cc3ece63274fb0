package messages

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Problems are read by users: the text of Go's decoder (its type names, "json:", "invalid
// character", time layouts) stays out of them.
func TestDecodeProblemsHaveNoGoText(t *testing.T) {
	type fit struct {
		Values     Values      `json:"values"`
		Timestamps []time.Time `json:"timestamps"`
	}
	for _, body := range []string{`[1,2]`, `"x"`, `{"values":[1,}`, `{"timestamps":["yesterday"]}`, `{"values":{"a":1}}`, `x`} {
		var v fit
		p := problemsOf(t, DecodeJSONBytes([]byte(body), &v))
		var h struct {
			Type string `json:"type"`
		}
		for _, err := range []error{p.Err(), DecodeHeader([]byte(body), &h)} {
			if err == nil {
				continue
			}
			text := fmt.Sprint(problemsOf(t, err))
			for _, leak := range []string{"json:", "Go value", "messages.", "invalid character", "2006", "cannot unmarshal"} {
				if strings.Contains(text, leak) {
					t.Errorf("%s: problems %s mention %q", body, text, leak)
				}
			}
		}
	}
}

func TestCodeOf(t *testing.T) {
	errNoThing := NewSentinel(CodeNotFound, "no thing")
	tests := []struct {
		err  error
		want Code
	}{
		{Invalid("x", "is bad"), CodeInvalid},
		{fmt.Errorf("read: %w", errNoThing), CodeNotFound},
		{Errorf(CodeUnavailable, errors.New("dial tcp: refused"), "the store is unavailable"), CodeUnavailable},
		{errors.New("plain"), CodeInternal},
		{&Failure{Status: 404}, CodeInternal}, // a record of an earlier version has no code
	}
	for _, tc := range tests {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// A failure travels (job records, replies) without its cause, and reads back.
func TestFailureOnTheWireLeavesItsCause(t *testing.T) {
	f := Errorf(CodeInternal, errors.New("redis: connection refused"), "the fit failed").WithJob("j1")
	b, _ := json.Marshal(f)
	if strings.Contains(string(b), "redis") {
		t.Fatalf("encoded failure %s carries its cause", b)
	}
	var back Failure
	if err := json.Unmarshal(b, &back); err != nil || back.Code != CodeInternal || back.Message != "the fit failed" || back.Data["job_id"] != "j1" {
		t.Fatalf("decoded %+v (%v) from %s", back, err, b)
	}
}

// A failure said in one line (a failed fit's reason, a forecast's fallback) names each field
// before its problem, as a batch's CSV results do.
func TestDescribeNamesEachFieldBeforeItsProblem(t *testing.T) {
	f := Fail(CodeInvalid, Problems{"values": "all 3 values are missing", "method": `unknown method "x"`})
	if got, want := f.Describe(), `method: unknown method "x"; values: all 3 values are missing`; got != want {
		t.Errorf("Describe() = %q; want %q", got, want)
	}
	if got := Errorf(CodeInternal, nil, "the fit failed").Describe(); got != "the fit failed" {
		t.Errorf("Describe() of a message = %q", got)
	}
}
