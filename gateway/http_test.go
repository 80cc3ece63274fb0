package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// noRedirects is a client that hands back a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Every path, known or not, clean or not, is answered in JSend and never redirected: the API
// documents no 3xx, and a POST sent on to a redirect's Location loses its body.
func TestEveryPathIsAnsweredInJSend(t *testing.T) {
	_, srv := newAPIGateway(t)
	tests := []struct {
		method, path string
		want         int
		field, says  string // the field the fail names and what its problem says
	}{
		{"GET", "/v1//models", 404, "path", "not clean (it has an empty, . or .. segment); did you mean /v1/models?"},
		{"GET", "//v1/models", 404, "path", "not clean"},
		{"GET", "/v1/models/../models", 404, "path", "not clean"},
		// The clean path is offered only where an endpoint is.
		{"POST", "/v1/x/../fit", 404, "path", "not clean (it has an empty, . or .. segment); see /openapi.json"},
		{"GET", "/v1/models/.", 404, "path", "not clean"},
		{"GET", "/v1/models/a/..", 404, "path", "not clean"},
		{"GET", "/v1/models/%2E%2E/models", 404, "path", "no endpoint"}, // ServeMux reads the escaped path
		{"POST", "/v1/models/./a/forecast", 404, "path", "not clean"},
		{"POST", "/v1/models/a//fit", 404, "path", "not clean"},
		{"POST", "/v1/models/a/./fit", 404, "path", "not clean"},
		{"POST", "/api/../api/forecast", 404, "path", "not clean"},
		{"GET", "/docs/.", 404, "path", "not clean"},
		{"GET", "/static/../openapi.json", 404, "path", "not clean"},
		{"GET", "/v1/models/", 404, "path", "no endpoint"},
		{"POST", "/v1/models/a/fit/", 404, "path", "no endpoint"},
		{"GET", "/v2/nothing", 404, "path", "no endpoint"},
		{"POST", "/v1/models/a%2Fb/fit", 400, "model", "must match"},
		{"POST", "/v1/models/a%2F..%2Fb/fit", 400, "model", "must match"},
		{"DELETE", "/v1/models", 405, "method", "not allowed"},
		{"POST", "/healthz", 405, "method", "not allowed"},
		{"POST", "/", 405, "method", "not allowed"},
		{"DELETE", "/static/app.js", 405, "method", "not allowed"},
		// A query that cannot be read whole is refused, not read in part.
		{"GET", "/v1/events?model=%ZZ", 400, "query", "malformed %-escape"},
		{"GET", "/v1/events?model=a;b", 400, "query", "';'"},
		{"POST", "/v1/batches?method=naive&horizon=2&levels=%ZZ", 400, "query", "malformed %-escape"},
		// A command reads no query parameter: one given is refused, not ignored.
		{"POST", "/v1/models/a/fit?method=drift&season_length=abc", 400, "method", "is not read here"},
		{"POST", "/v1/models/a/forecast?horizon=3", 400, "horizon", "JSON body"},
		{"POST", "/v1/models/a/backtest?windows=2", 400, "windows", "is not read here"},
		{"POST", "/api/fit_model?method=drift", 400, "method", "is not read here"},
		{"POST", "/api/forecast?num_steps=3", 400, "num_steps", "JSON body"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var body io.Reader
			if tc.method == http.MethodPost {
				body = strings.NewReader("{}")
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := noRedirects.Do(req) // checked against openapi.json (TestMain)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s (Location %q): %s; want %d JSend", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), b, tc.want)
			}
			var env struct {
				Status string            `json:"status"`
				Data   map[string]string `json:"data"`
			}
			if err := json.Unmarshal(b, &env); err != nil || env.Status != "fail" {
				t.Fatalf("not a JSend fail (%v): %s", err, b)
			}
			if problem, ok := env.Data[tc.field]; !ok || !strings.Contains(problem, tc.says) {
				t.Errorf("the fail does not say %s %q: %s", tc.field, tc.says, b)
			}
		})
	}
}

// The dashboard's handler serves files and nothing else: a path naming no file, a directory
// included, gets the JSend 404, never a listing, a redirect or net/http's text.
func TestOnlyFilesAreServed(t *testing.T) {
	_, srv := newAPIGateway(t)
	for path, want := range map[string]string{
		"/":                  "text/html",
		"/static/app.js":     "text/javascript",
		"/static/app.css":    "text/css",
		"/static/batch.html": "text/html",
	} {
		resp, err := noRedirects.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: %d %s, want 200 %s", path, resp.StatusCode, ct, want)
		}
	}
	for _, path := range []string{
		"/static/",        // the directory of the files
		"/static",         // the same without its slash
		"/static/%2E",     // the directory as a file of itself
		"/static/nope.js", // no such file
		"/static/app.js/", // a file as a directory
		"/static/sub/app.js",
		"/index.html", // served at / only
	} {
		t.Run(path, func(t *testing.T) {
			resp, err := noRedirects.Get(srv.URL + path) // checked against openapi.json (TestMain)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var env struct {
				Status string            `json:"status"`
				Data   map[string]string `json:"data"`
			}
			if resp.StatusCode != http.StatusNotFound || json.Unmarshal(b, &env) != nil || env.Status != "fail" || env.Data["path"] == "" {
				t.Fatalf("%d %s (Location %q): %s; want the JSend 404 naming the path", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), b)
			}
		})
	}
}

// Headers are read as HTTP defines them: a media type in Accept matches regardless of case,
// q=0 refuses it and a stream is answered unless JSON is preferred to it; Prefer's respond-async is found among other preferences and with parameters
// after it; a body with a Content-Encoding other than identity is refused (415 naming
// it), not read as it came and refused as malformed at its first byte.
func TestAcceptPreferAndContentEncodingAreReadAsHTTPDefinesThem(t *testing.T) {
	s := newAPIServer(t)
	const fit = `{"values":[1,2,3,4,5,6,7,8],"method":"naive"}`
	for _, tc := range []struct{ accept, wantType string }{
		{"TEXT/EVENT-STREAM", "text/event-stream"},
		{"text/event-stream;q=0, application/json", "application/json"},
		{"application/json, text/event-stream;q=0.1", "application/json"},
		{"text/event-stream;q=0.5, */*;q=0.8", "application/json"},
		{"text/event-stream, application/json", "text/event-stream"}, // a tie streams
		{"application/json;q=0.2, text/event-stream;q=0.5", "text/event-stream"},
		{"text/event-stream, */*;q=0.1", "text/event-stream"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), "POST", s.url+"/v1/models/m/fit", strings.NewReader(fit))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", tc.accept)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
			t.Errorf("Accept %q: answered %s; want %s", tc.accept, ct, tc.wantType)
		}
	}
	// RFC 7240: a preference may carry a value and parameters; respond-async is its token.
	for _, prefer := range []string{"respond-async; wait=5", "Respond-Async;foo", "handling=lenient, respond-async"} {
		req, err := http.NewRequestWithContext(t.Context(), "POST", s.url+"/v1/models/m/fit", strings.NewReader(fit))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", prefer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted || res.Header.Get("Location") == "" {
			t.Errorf("Prefer %q: answered %d; want 202 with a Location", prefer, res.StatusCode)
		}
	}
	for _, tc := range []struct{ path, contentType string }{
		{"/v1/models/m/fit", "application/json"},
		{"/v1/batches?method=naive&horizon=2", "text/csv"},
	} {
		code, env := s.sendWith(t, "POST", tc.path, tc.contentType, []byte("\x1f\x8b\x08\x00compressed"), "Content-Encoding", "gzip")
		var problem string
		_ = json.Unmarshal(env.Data["Content-Encoding"], &problem)
		if code != http.StatusUnsupportedMediaType || env.Status != "fail" || !strings.Contains(problem, "uncompressed") {
			t.Errorf("POST %s, Content-Encoding gzip: %d %+v; want 415 naming Content-Encoding", tc.path, code, env)
		}
	}
}

// A body with several bad fields, one of the wrong type, is answered with a problem for each,
// not only the first the decoder meets.
func TestEveryBadFieldIsNamedAtOnce(t *testing.T) {
	s := newAPIServer(t)
	code, env := s.send(t, "POST", "/v1/models/m/fit", "application/json", []byte(`{"values":"x","season_length":0,"method":"bad","foo":1}`))
	if code != http.StatusBadRequest || env.Status != "fail" || len(env.Data) != 4 {
		t.Errorf("fit: %d %s; want 400 naming values, season_length, method and foo", code, env.Data)
	}
	for _, field := range []string{"values", "season_length", "method", "foo"} {
		if env.Data[field] == nil {
			t.Errorf("fit: %s does not name %s", env.Data, field)
		}
	}
}
