package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/gateway/auth"
)

const (
	readToken  = "read-token-0123456789"
	writeToken = "write-token-0123456789"
)

func withTokens(c *gateway.Config) {
	c.Tokens = []auth.Token{{Secret: readToken, Scope: auth.ScopeRead}, {Secret: writeToken, Scope: auth.ScopeWrite}}
}

// request sends method path with an optional Authorization header and body and returns the
// response (body read) and its JSend fail data.
func request(t *testing.T, base, method, path, auth, body string) (*http.Response, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	var env struct {
		Data map[string]string `json:"data"`
	}
	_ = json.Unmarshal(raw, &env)
	res.Body = io.NopCloser(bytes.NewReader(raw))
	return res, env.Data
}

func TestAuthStatuses(t *testing.T) {
	e := newLiveEnv(t, withTokens)
	fit := `{"values":[1,2,3,4,5,6,7,8],"method":"naive"}`
	forecast := `{"horizon":2}`
	read, write := "Bearer "+readToken, "Bearer "+writeToken
	const insufficient = `Bearer realm="forecastd", error="insufficient_scope", scope="write"`
	for _, tc := range []struct {
		name, method, path, auth, body string
		want                           int
		challenge                      string // WWW-Authenticate
	}{
		{"no token", "GET", "/v1/models", "", "", 401, `Bearer realm="forecastd"`},
		{"unknown token", "GET", "/v1/models", "Bearer not-a-token-at-all-000", "", 401, `Bearer realm="forecastd", error="invalid_token"`},
		{"another scheme is no token", "GET", "/v1/models", "Basic " + readToken, "", 401, `Bearer realm="forecastd"`},
		{"empty bearer is no token", "GET", "/v1/models", "Bearer ", "", 401, `Bearer realm="forecastd"`},
		{"query token outside streams", "GET", "/v1/models?access_token=" + readToken, "", "", 401, `Bearer realm="forecastd"`},
		{"read lists models", "GET", "/v1/models", read, "", 200, ""},
		{"write reads too", "GET", "/v1/models", write, "", 200, ""},
		{"HEAD needs a token", "HEAD", "/v1/models", "", "", 401, `Bearer realm="forecastd"`},
		{"HEAD with a token", "HEAD", "/v1/models", read, "", 200, ""},
		{"scheme is case-insensitive", "GET", "/v1/models", "bearer " + readToken, "", 200, ""},
		{"read may not fit", "POST", "/v1/models/m/fit", read, fit, 403, insufficient},
		{"read may not fit the legacy way", "POST", "/api/fit_model", read, `{"data":[1,2,3]}`, 403, insufficient},
		{"no token may not fit", "POST", "/v1/models/m/fit", "", fit, 401, `Bearer realm="forecastd"`},
		{"write fits", "POST", "/v1/models/m/fit", write, fit, 200, ""},
		{"read forecasts", "POST", "/v1/models/m/forecast", read, forecast, 200, ""},
		{"no token may not forecast", "POST", "/v1/models/m/forecast", "", forecast, 401, `Bearer realm="forecastd"`},
		{"read reads a model", "GET", "/v1/models/m", read, "", 200, ""},
		{"jobs need a token", "GET", "/v1/jobs/nope", "", "", 401, `Bearer realm="forecastd"`},
		{"read reads jobs", "GET", "/v1/jobs/nope", read, "", 404, ""},
		{"health is open", "GET", "/healthz", "", "", 200, ""},
		{"API description is open", "GET", "/openapi.json", "", "", 200, ""},
		{"metrics are open", "GET", "/metrics", "", "", 200, ""},
		{"unknown paths stay 404", "GET", "/v2/nothing", "", "", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, fail := request(t, e.srv.URL, tc.method, tc.path, tc.auth, tc.body)
			if res.StatusCode != tc.want {
				body, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if (tc.want == 401 || tc.want == 403) && tc.method != "HEAD" && fail["authorization"] == "" {
				t.Errorf("fail data %v does not explain the authorization problem", fail)
			}
		})
	}
	_, fail := request(t, e.srv.URL, "POST", "/v1/models/m/fit", read, fit)
	if got := fail["authorization"]; !strings.Contains(got, "read") || !strings.Contains(got, "write") {
		t.Errorf("403 says %q; want it to name the token's scope and the one needed", got)
	}
	// A header that is there is not said to be missing: it holds no bearer token.
	for _, auth := range []string{"Basic " + readToken, "Bearer ", readToken} {
		_, fail := request(t, e.srv.URL, "GET", "/v1/models", auth, "")
		if got := fail["authorization"]; strings.Contains(got, "missing") || !strings.Contains(got, "no bearer token") {
			t.Errorf("Authorization %q: 401 says %q; want it to say the header holds no bearer token", auth, got)
		}
	}
	if _, fail := request(t, e.srv.URL, "GET", "/v1/models", "", ""); !strings.Contains(fail["authorization"], "is missing") {
		t.Errorf("no Authorization: 401 says %q; want it missing", fail["authorization"])
	}
}

func TestAuthEventStreamTakesQueryToken(t *testing.T) {
	e := newLiveEnv(t, withTokens)
	res, _ := request(t, e.srv.URL, "GET", "/v1/events?access_token=wrong-token-0123456789", "", "")
	if res.StatusCode != 401 {
		t.Fatalf("wrong query token: status %d, want 401", res.StatusCode)
	}
	c := openSSE(t, e.srv.URL, "/v1/events?access_token="+readToken)
	if c.Response.StatusCode != 200 || !strings.HasPrefix(c.Response.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("query token: status %d, Content-Type %q", c.Response.StatusCode, c.Response.Header.Get("Content-Type"))
	}
	h := openSSE(t, e.srv.URL, "/v1/events", "Authorization", "Bearer "+readToken)
	if h.Response.StatusCode != 200 {
		t.Fatalf("header token: status %d", h.Response.StatusCode)
	}
	// Basic credentials a browser repeats (behind a proxy, say) do not hide the query token.
	b := openSSE(t, e.srv.URL, "/v1/events?access_token="+readToken, "Authorization", "Basic dXNlcjpwYXNz")
	if b.Response.StatusCode != 200 {
		t.Fatalf("query token with a Basic header: status %d", b.Response.StatusCode)
	}
}

func TestAuthWebSocket(t *testing.T) {
	e := newLiveEnv(t, withTokens)
	ctx := context.Background()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws"

	for _, u := range []string{url, url + "?access_token=wrong-token-0123456789"} {
		_, res, err := websocket.Dial(ctx, u, nil)
		if err == nil || res == nil || res.StatusCode != 401 {
			t.Fatalf("dial %s: err %v, response %v; want a 401", u, err, res)
		}
	}

	// A read session may forecast and subscribe but not fit.
	c, _, err := websocket.Dial(ctx, url+"?access_token="+readToken, nil)
	if err != nil {
		t.Fatalf("dial with a read token: %v", err)
	}
	defer c.CloseNow()
	writeWS(t, c, map[string]any{"type": "fit", "id": "f", "model": "m", "values": testSeries(1, 20), "method": "naive"})
	got := readWS(t, c)
	var fail map[string]string
	_ = json.Unmarshal(got.Data, &fail)
	if got.Type != "result" || got.Status != "fail" || string(got.ID) != `"f"` || !strings.Contains(fail["authorization"], "write") {
		t.Fatalf("fit on a read session: %+v; want a fail result naming the scope", got)
	}
	writeWS(t, c, map[string]any{"type": "ping", "id": 1})
	if got := readWS(t, c); got.Type != "pong" {
		t.Fatalf("after the refused fit: %+v; want the session to go on", got)
	}
	writeWS(t, c, map[string]any{"type": "subscribe", "id": "s", "models": []string{"m"}})
	if got := readWS(t, c); got.Type != "result" || got.Status != "success" || string(got.ID) != `"s"` {
		t.Fatalf("subscribe on a read session: %+v", got)
	}

	// A write session fits; the read session then forecasts with that model.
	w, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + writeToken}}})
	if err != nil {
		t.Fatalf("dial with a write token: %v", err)
	}
	defer w.CloseNow()
	writeWS(t, w, map[string]any{"type": "fit", "id": "f", "model": "m", "values": testSeries(1, 20), "method": "naive"})
	if res, _ := readUntil(t, w, func(m wsMsg) bool { return m.Type == "result" }); res.Status != "success" {
		t.Fatalf("fit on a write session: %+v", res)
	}
	writeWS(t, c, map[string]any{"type": "forecast", "id": "p", "model": "m", "horizon": 2})
	res, before := readUntil(t, c, func(m wsMsg) bool { return m.Type == "result" && string(m.ID) == `"p"` })
	if res.Status != "success" {
		t.Fatalf("forecast on a read session: %+v", res)
	}
	// The subscription delivers the write session's fit (before or after the forecast).
	ready := func(m wsMsg) bool { return m.Type == "event" && m.Event == "model_ready" }
	if !slices.ContainsFunc(before, ready) {
		readUntil(t, c, ready)
	}
}
