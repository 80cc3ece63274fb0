package ws

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/forecastd/forecastd/messages"
)

func TestCheckOrigin(t *testing.T) {
	allowed := []string{"*.example.com", "http://localhost:*"}
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                        // not a browser
		{"https://gw.test", true},         // same origin
		{"https://app.example.com", true}, // a pattern's host
		{"http://localhost:5173", true},   // a pattern with a scheme
		{"https://localhost:5173", false}, // the wrong scheme
		{"https://evil.test", false},
		{"::not a url", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://gw.test/v1/ws", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		err := checkOrigin(r, allowed)
		var f *messages.Failure
		switch {
		case tc.ok && err != nil:
			t.Errorf("origin %q refused: %v", tc.origin, err)
		case !tc.ok && (!errors.As(err, &f) || f.Code != messages.CodeForbidden):
			t.Errorf("origin %q: %v, want a forbidden failure", tc.origin, err)
		}
	}
}

// TestPlainRequestsGoToTheGatewaysWriter: a request that is no upgrade is refused through the
// error writer the handler was given, with no upgrade attempted.
func TestPlainRequestsGoToTheGatewaysWriter(t *testing.T) {
	var got error
	h := New(Config{}, Deps{Fail: func(_ http.ResponseWriter, _ *http.Request, err error) { got = err }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/ws", nil))
	var f *messages.Failure
	if !errors.As(got, &f) || f.Code != messages.CodeUpgradeRequired {
		t.Errorf("refused with %v, want upgrade_required", got)
	}
	if rec.Header().Get("Upgrade") != "websocket" {
		t.Errorf("Upgrade header %q, want websocket", rec.Header().Get("Upgrade"))
	}
}

func TestHeaderHasToken(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive, Upgrade"}}
	if !headerHasToken(h, "Connection", "upgrade") || headerHasToken(h, "Connection", "close") {
		t.Errorf("tokens of %q misread", h.Get("Connection"))
	}
}
