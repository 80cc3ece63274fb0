package messages_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
)

// A reply goes through its header and payload unchanged, whatever it carries; the result is
// the payload itself.
func TestReplyEncodesAndDecodesWhole(t *testing.T) {
	result := messages.JSON(messages.ForecastResult{Model: "m", Generation: 3, JobID: "j", Horizon: 2, Point: messages.Values{1.5, 2}})
	replies := []messages.Reply{
		{JobID: "j", Kind: messages.KindForecast, Model: "m", Type: messages.ReplyResult, Result: result},
		{JobID: "j", Kind: messages.KindFit, Model: "m", Type: messages.ReplyProgress, Progress: &forecast.Progress{Stage: "arima", Candidate: 2, Candidates: 5, Percent: 40}},
		{JobID: "j", Kind: messages.KindFit, Model: "m", Type: messages.ReplyResult, Failure: messages.FailField(messages.CodeInvalid, "values", "too short")},
		{JobID: "j", Kind: messages.KindFit, Model: "m", Type: messages.ReplyRunning},
	}
	for _, r := range replies {
		head, payload, err := messages.EncodeReply(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(payload) != string(r.Result) {
			t.Errorf("%s reply: payload %s, want the result %s", r.Type, payload, r.Result)
		}
		got, err := messages.DecodeReply(head, payload)
		if err != nil {
			t.Fatal(err)
		}
		// Compared as their JSON: a failure's cause is not carried.
		if g, w := messages.JSON(got), messages.JSON(r); string(g) != string(w) {
			t.Errorf("%s reply decoded as %s, want %s", r.Type, g, w)
		}
	}
}

// A message without the header is a reply of an earlier release, all in its payload.
func TestReplyOfAnEarlierReleaseIsRead(t *testing.T) {
	old := []byte(`{"job_id":"j","kind":"forecast","model":"m","type":"result","result":{"model":"m","generation":1}}`)
	got, err := messages.DecodeReply("", old)
	if err != nil {
		t.Fatal(err)
	}
	var want messages.Reply
	if err := json.Unmarshal(old, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || string(got.Result) != `{"model":"m","generation":1}` {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

func TestMalformedReplyIsAnError(t *testing.T) {
	for _, c := range []struct{ head, payload string }{
		{"", `{"job_id":`},
		{`{"job_id":`, `{}`},
		{`{"job_id":"j","result":{}}`, `{}`},
		{`{"job_id":"j","type":"result"}`, `{"model":"m","generation":1`}, // cut short
		{`{"job_id":"j","type":"result"}`, `not json`},
		{`{"job_id":"j","type":"result"}`, `[1,2]`},
	} {
		if _, err := messages.DecodeReply(c.head, []byte(c.payload)); err == nil {
			t.Errorf("header %q, payload %q: no error", c.head, c.payload)
		}
	}
}

// A reply whose fields would not fit in one AMQP header frame goes whole in its payload, the
// earlier form, and reads back the same.
func TestReplyTooLargeForAHeaderGoesInThePayload(t *testing.T) {
	problems := messages.Problems{}
	for i := range 5000 {
		problems[fmt.Sprintf("series[%d].values", i)] = "must be numbers"
	}
	r := messages.Reply{JobID: "j", Kind: messages.KindFit, Model: "m", Type: messages.ReplyResult,
		Failure: &messages.Failure{Code: messages.CodeInvalid, Message: "bad series", Problems: problems}}
	head, payload, err := messages.EncodeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	if head != "" {
		t.Fatalf("a %d-byte header was sent", len(head))
	}
	got, err := messages.DecodeReply(head, payload)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := messages.JSON(got), messages.JSON(r); string(g) != string(w) {
		t.Errorf("decoded %.200s…, want %.200s…", g, w)
	}
}
