package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// errRedis is what a store down says; its text must stay in the gateway's log.
var errRedis = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// downStore fails every read as an unreachable Redis does.
type downStore struct{ store.Store }

func (downStore) GetJob(context.Context, string) (store.Job, error) { return store.Job{}, errRedis }
func (downStore) Info(context.Context, string) (store.ModelInfo, error) {
	return store.ModelInfo{}, errRedis
}
func (downStore) List(context.Context) ([]store.ModelInfo, error) { return nil, errRedis }
func (downStore) Sequence(context.Context, string) (int64, error) { return 0, errRedis }
func (downStore) AcceptFit(context.Context, string, string, time.Duration) (int64, error) {
	return 0, errRedis
}
func (downStore) AcceptForecast(context.Context, string, store.Job, time.Duration) (store.Acceptance, error) {
	return store.Acceptance{}, errRedis
}
func (downStore) Ping(context.Context) error { return errRedis }

// Connection errors are the gateway's to log, not the client's to read: every answer is a 503
// with a message written for users.
func TestStoreErrorsAreMaskedFromClients(t *testing.T) {
	s := newAPIServer(t, apiOption{wrap: func(st store.Store) store.Store { return downStore{st} }})
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/jobs/j1", ""},
		{"GET", "/v1/models/m", ""},
		{"GET", "/v1/models", ""},
		{"POST", "/v1/models/m/forecast", `{"horizon":3}`},
		{"POST", "/v1/models/m/fit", `{"values":[1,2,3,4],"method":"naive"}`},
	} {
		code, env := s.send(t, tc.method, tc.path, "application/json", []byte(tc.body))
		text := env.Message + fmt.Sprint(env.Data)
		if code != http.StatusServiceUnavailable || env.Status != "error" || env.Message == "" {
			t.Errorf("%s %s: %d %+v, want a 503 error", tc.method, tc.path, code, env)
		}
		for _, leak := range []string{"dial tcp", "6379", "connection refused"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s %s: the answer %q shows the store's error", tc.method, tc.path, text)
			}
		}
	}
}

// noModelStore reports a model without fits as a store may: its sentinel wrapped in context.
type noModelStore struct{ store.Store }

func (noModelStore) Info(_ context.Context, model string) (store.ModelInfo, error) {
	return store.ModelInfo{}, fmt.Errorf("redis info %s: %w", model, store.ErrNoModel)
}

// The "no model" answer is the gateway's own words, whatever the store's error says.
func TestNoModelIsAnsweredInTheGatewaysWords(t *testing.T) {
	s := newAPIServer(t, apiOption{wrap: func(st store.Store) store.Store { return noModelStore{st} }})
	code, env := s.send(t, "GET", "/v1/models/ghost", "", nil)
	var problem string
	_ = json.Unmarshal(env.Data["model"], &problem)
	if code != http.StatusNotFound || env.Status != "fail" || problem != `model "ghost" has no fitted model; fit it first` {
		t.Fatalf("GET a model without fits: %d %+v (%q)", code, env, problem)
	}
}

// Job records written before codes hold the HTTP status and JSend body of their answer; a
// rolling upgrade meets them in Redis, and they answer as they did.
func TestJobRecordsOfEarlierVersionsAnswerTheSame(t *testing.T) {
	s := newAPIServer(t)
	old := map[string]string{
		"j-fail":    `{"status":400,"body":{"status":"fail","data":{"values":"has too few observations"}}}`,
		"j-expired": `{"status":503,"body":{"status":"error","message":"fit generation 2 expired before it finished","code":503,"data":{"job_id":"j-expired"}}}`,
		"j-error":   `{"status":500,"body":{"status":"error","message":"the fit failed"}}`,
	}
	want := map[string]struct {
		status int
		body   string
	}{
		"j-fail":    {400, `{"status":"fail","data":{"values":"has too few observations"}}`},
		"j-expired": {503, `{"status":"error","data":{"job_id":"j-expired"},"message":"fit generation 2 expired before it finished","code":503}`},
		"j-error":   {500, `{"status":"error","message":"the fit failed","code":500}`},
	}
	for id, rec := range old {
		job := store.Job{ID: id, Kind: messages.KindFit, Model: "m", Status: store.JobFailed, Error: json.RawMessage(rec), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := s.store.PutJob(t.Context(), job, time.Hour); err != nil {
			t.Fatal(err)
		}
		code, env := s.send(t, "GET", "/v1/jobs/"+id, "", nil)
		var status int
		_ = json.Unmarshal(env.Data["http_status"], &status)
		if code != http.StatusOK || status != want[id].status || string(env.Data["error"]) != want[id].body {
			t.Errorf("job %s: %d, http_status %d, error %s; want %d %s", id, code, status, env.Data["error"], want[id].status, want[id].body)
		}
	}
}

// legacyReplies turns result replies into those of processors before codes: the HTTP status
// and JSend body.
type legacyReplies struct{ message.Publisher }

func (l legacyReplies) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		rep, err := messages.DecodeReply(m.Metadata.Get(messages.ReplyHeader), m.Payload)
		if err != nil || rep.Type != messages.ReplyResult {
			continue
		}
		if rep.Failure != nil {
			status := map[messages.Code]int{messages.CodeInvalid: 400, messages.CodeNotFound: 404}[rep.Failure.Code]
			rep.Status, rep.Body = status, &messages.Envelope{Status: "fail", Data: messages.JSON(rep.Failure.Problems)}
		} else {
			rep.Status, rep.Body = 200, &messages.Envelope{Status: "success", Data: rep.Result}
		}
		rep.Failure, rep.Result = nil, nil
		m.Payload = message.Payload(messages.JSON(rep)) // all in the payload, as then
		delete(m.Metadata, messages.ReplyHeader)
	}
	return l.Publisher.Publish(topic, msgs...)
}

// Replies of processors before codes are answered as they were.
func TestRepliesOfEarlierVersionsAreAnswered(t *testing.T) {
	s := newAPIServer(t, apiOption{procPub: func(p message.Publisher) message.Publisher { return legacyReplies{p} }})
	code, env := s.send(t, "POST", "/v1/models/old/fit", "application/json", []byte(`{"values":[1,2,3],"method":"ets"}`))
	if code != http.StatusBadRequest || env.Status != "fail" || len(env.Data["values"]) == 0 {
		t.Fatalf("failed fit through an old processor: %d %+v", code, env)
	}
	code, env = s.send(t, "POST", "/v1/models/old/fit", "application/json", []byte(`{"values":[1,2,3,4,5,6],"method":"naive"}`))
	if code != http.StatusOK || env.Status != "success" || string(env.Data["generation"]) != "2" {
		t.Fatalf("fit through an old processor: %d %+v", code, env)
	}
}
