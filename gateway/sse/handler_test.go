package sse

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/forecastd/forecastd/gateway/live"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

func TestWriterFramesEvents(t *testing.T) {
	rec := httptest.NewRecorder()
	w := Start(rec)
	_ = w.RetryFrom(1500*time.Millisecond, "")
	_ = w.Event("1-0", "progress", map[string]int{"percent": 50})
	_ = w.Event("", "succeeded", "ok")
	_ = w.Comment("keep-alive")
	want := "retry: 1500\n\nid: 1-0\nevent: progress\ndata: {\"percent\":50}\n\nevent: succeeded\ndata: \"ok\"\n\n: keep-alive\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("stream %q, want %q", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestRefusalsGoToTheGatewaysWriter: a stream that cannot start is answered by the error
// writer it was given, with the code that says why.
func TestRefusalsGoToTheGatewaysWriter(t *testing.T) {
	m := live.Metrics{
		Sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "s"}, []string{"transport"}),
		Closed:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"transport", "reason"}),
	}
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	hub := live.New(live.Config{}, st, m, slog.New(slog.NewTextHandler(io.Discard, nil))) // never started: not ready
	var got error
	h := New(Config{}, hub, func(_ http.ResponseWriter, _ *http.Request, err error) { got = err }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tc := range []struct {
		target string
		header string
		code   messages.Code
	}{
		{"/v1/events?model=no%20spaces", "", messages.CodeInvalid},
		{"/v1/events?last_event_id=yesterday", "", messages.CodeInvalid},
		{"/v1/events", "bad", messages.CodeInvalid},
		{"/v1/events", "", messages.CodeUnavailable},
	} {
		got = nil
		r := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if tc.header != "" {
			r.Header.Set("Last-Event-ID", tc.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var f *messages.Failure
		if !errors.As(got, &f) || f.Code != tc.code {
			t.Errorf("%s (Last-Event-ID %q): refused with %v, want code %s", tc.target, tc.header, got, tc.code)
		}
		if rec.Body.Len() > 0 {
			t.Errorf("%s: the handler wrote %q itself", tc.target, rec.Body.String())
		}
	}
}
