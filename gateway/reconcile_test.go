package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/messages"
)

// dropResults loses every result reply, as a broker restart loses what was in a gateway's
// transient reply queue; progress replies still pass.
type dropResults struct{ message.Publisher }

func (d dropResults) Publish(topic string, msgs ...*message.Message) error {
	var keep []*message.Message
	for _, m := range msgs {
		var rep messages.Reply
		if json.Unmarshal(m.Payload, &rep) == nil && rep.Type == messages.ReplyResult {
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
