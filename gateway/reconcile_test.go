package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/messages"
)

// dropResults loses every result reply, as a broker restart loses what was in a gateway's
// transient reply queue; progress replies still pass.
type dropResults struct{ message.Publisher }

func (d dropResults) Publish(topic string, msgs ...*message.Message) error {
	var keep []*message.Message
	for _, m := range msgs {
		rep, err := messages.DecodeReply(m.Metadata.Get(messages.ReplyHeader), m.Payload)
		if err == nil && rep.Type == messages.ReplyResult {
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		return nil
	}
	return d.Publisher.Publish(topic, keep...)
}

// TestLostRepliesAreAnsweredFromJobRecords: with every result reply lost, synchronous fits and
// forecasts still get their answers (success and fail alike) from the job records instead of a
// 504 at the request timeout.
func TestLostRepliesAreAnsweredFromJobRecords(t *testing.T) {
	s := newAPIServer(t, apiOption{
		procPub: func(p message.Publisher) message.Publisher { return dropResults{p} },
		cfg:     func(c *gateway.Config) { c.LostReplyCheck = 100 * time.Millisecond },
	})
	for _, tc := range []struct {
		path, body string
		want       int
		check      func(jsend) bool
	}{
		{"/v1/models/lost/fit", `{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`, http.StatusOK,
			func(e jsend) bool { return string(e.Data["generation"]) == "1" }},
		{"/v1/models/lost/forecast", `{"horizon":3}`, http.StatusOK,
			func(e jsend) bool { return strings.Count(string(e.Data["point"]), ",") == 2 }},
		{"/v1/models/lost/fit", `{"values":[1,2,3],"method":"ets"}`, http.StatusBadRequest,
			func(e jsend) bool { return e.Status == "fail" && len(e.Data["values"]) > 0 }},
	} {
		code, env := s.send(t, "POST", tc.path, "application/json", []byte(tc.body))
		if code != tc.want || !tc.check(env) {
			t.Fatalf("POST %s: %d %+v; want %d with the job's answer", tc.path, code, env, tc.want)
		}
	}
}

// TestLostReplyOfASlowJobIsAnsweredAtTheRequestTimeout: the job record is read at growing
// intervals (here the first reading is due after 10 s), so a reply lost for a job that ended
// between two readings reached its waiting client only as a 504 at the request timeout; the
// record is read once more then, and the client gets the job's answer.
func TestLostReplyOfASlowJobIsAnsweredAtTheRequestTimeout(t *testing.T) {
	s := newAPIServer(t, apiOption{
		procPub: func(p message.Publisher) message.Publisher { return dropResults{p} },
		cfg: func(c *gateway.Config) {
			c.LostReplyCheck = 10 * time.Second
			c.RequestTimeout = 2 * time.Second
		},
		fit: func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
			time.Sleep(500 * time.Millisecond)
			return forecast.Fit(ctx, y, spec, p)
		},
	})
	code, env := s.send(t, "POST", "/v1/models/slow/fit", "application/json", []byte(`{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`))
	if code != http.StatusOK || string(env.Data["generation"]) != "1" {
		t.Fatalf("POST fit: %d %+v; want 200 with the job's answer from its record", code, env)
	}
}
