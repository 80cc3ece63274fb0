package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/openapitest"
	"github.com/forecastd/forecastd/internal/stack"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/web"
)

// newAPIGateway builds a gateway that is routed but not started: enough to check every route
// answers, without processors.
func newAPIGateway(t *testing.T, mods ...func(*gateway.Config)) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	g := stack.New(t, stack.Config{}).AddGateway(stack.GatewayOptions{
		Config: func(c *gateway.Config) {
			for _, mod := range mods {
				mod(c)
			}
		},
		Web:       web.Handler,
		Unstarted: true,
	})
	return g.Gateway, g.Server
}

// spec is the part of an OpenAPI document the tests read.
type spec struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Security    []map[string][]string      `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
	RequestBody json.RawMessage            `json:"requestBody"`
}

var operationMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// fetchSpec gets /openapi.json as served and decodes it both typed and generically.
func fetchSpec(t *testing.T, srv *httptest.Server) (spec, any) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d, body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET /openapi.json: Content-Type %q, want application/json", ct)
	}
	var s spec
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return s, doc
}

func TestOpenAPIIsWellFormed(t *testing.T) {
	_, srv := newAPIGateway(t)
	s, doc := fetchSpec(t, srv)

	if !regexp.MustCompile(`^3\.[01]\.\d+$`).MatchString(s.OpenAPI) {
		t.Errorf("openapi = %q, want a 3.0.x or 3.1.x version", s.OpenAPI)
	}
	if s.Info.Title == "" || s.Info.Version == "" {
		t.Errorf("info needs title and version, got %+v", s.Info)
	}
	if len(s.Paths) == 0 {
		t.Fatal("no paths")
	}
	ids := map[string]string{}
	for path, item := range s.Paths {
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q must start with /", path)
		}
		for method, op := range item {
			if !slices.Contains(operationMethods, method) {
				continue // parameters, summary, …
			}
			where := strings.ToUpper(method) + " " + path
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q already used by %s", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			for code := range op.Responses {
				if !regexp.MustCompile(`^([1-5]\d\d|[1-5]XX|default)$`).MatchString(code) {
					t.Errorf("%s: response key %q is not a status code", where, code)
				}
			}
		}
		for _, name := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			if !pathParamDeclared(t, doc, path, name[1]) {
				t.Errorf("%s: path parameter %q is not declared on every operation", path, name[1])
			}
		}
	}

	// Every reference resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := pointer(doc, ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, x := range v {
				walk(x, at+"/"+k)
			}
		case []any:
			for _, x := range v {
				walk(x, at)
			}
		}
	}
	walk(doc, "#")
}

// pathParamDeclared reports whether every operation of path declares the path parameter name.
func pathParamDeclared(t *testing.T, doc any, path, name string) bool {
	t.Helper()
	item, err := pointer(doc, "#/paths/"+strings.ReplaceAll(path, "/", "~1"))
	if err != nil {
		return false
	}
	for _, method := range operationMethods {
		op, ok := item.(map[string]any)[method].(map[string]any)
		if !ok {
			continue
		}
		params, _ := op["parameters"].([]any)
		found := false
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				r, err := pointer(doc, ref)
				if err != nil {
					continue
				}
				pm, _ = r.(map[string]any)
			}
			if pm["in"] == "path" && pm["name"] == name && pm["required"] == true {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// pointer resolves a local JSON reference ("#/a/b~1c").
func pointer(doc any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, errors.New("reference " + ref + " is not local")
	}
	cur := doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, errors.New("reference " + ref + " does not resolve")
		}
		if cur, ok = m[part]; !ok {
			return nil, errors.New("reference " + ref + " does not resolve")
		}
	}
	return cur, nil
}

// Every route the gateway registers is described, with its method.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	g, srv := newAPIGateway(t)
	s, _ := fetchSpec(t, srv)
	endpoints := g.Endpoints()
	if len(endpoints) < 10 {
		t.Fatalf("the gateway lists only %d endpoints: %v", len(endpoints), endpoints)
	}
	for _, ep := range endpoints {
		item, ok := s.Paths[ep.Path]
		if !ok {
			t.Errorf("%s %s is routed but openapi.json has no path %q", ep.Method, ep.Path, ep.Path)
			continue
		}
		if _, ok := item[strings.ToLower(ep.Method)]; !ok {
			t.Errorf("%s %s is routed but openapi.json does not describe method %s there", ep.Method, ep.Path, ep.Method)
		}
	}
}

// callEachOperation sends every documented operation a request without credentials (a POST
// with an empty JSON object, invalid for every command, so answered at once) and hands the
// response or the error to check, in a subtest per operation. Requests give up after 2 s.
func callEachOperation(t *testing.T, srv *httptest.Server, s spec, check func(t *testing.T, method string, op operation, resp *http.Response, err error)) {
	params := strings.NewReplacer("{model}", "openapi-test", "{id}", "no-such-job", "{file}", "app.js")
	for _, path := range slices.Sorted(maps.Keys(s.Paths)) {
		for method, op := range s.Paths[path] {
			if !slices.Contains(operationMethods, method) {
				continue
			}
			method := strings.ToUpper(method)
			t.Run(method+" "+path, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader("{}")
				}
				req, err := http.NewRequestWithContext(ctx, method, srv.URL+params.Replace(path), body)
				if err != nil {
					t.Fatal(err)
				}
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := http.DefaultClient.Do(req) // checked against openapi.json (TestMain)
				if err == nil {
					defer resp.Body.Close()
				}
				check(t, method, op, resp, err)
			})
		}
	}
}

// Every described path and method is routed: a request gets past the router, neither the JSend
// 404 for unknown paths nor a 405.
func TestOpenAPIPathsAreRouted(t *testing.T) {
	_, srv := newAPIGateway(t)
	s, _ := fetchSpec(t, srv)
	callEachOperation(t, srv, s, func(t *testing.T, method string, _ operation, resp *http.Response, err error) {
		if errors.Is(err, context.DeadlineExceeded) {
			// Only a routed handler can keep a request waiting: the unknown-path handler
			// answers at once.
			t.Logf("no answer within the deadline (a stream waiting for events)")
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case http.StatusNotFound:
			var env struct {
				Status string            `json:"status"`
				Data   map[string]string `json:"data"`
			}
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatalf("404 with a body that is not JSend: %s", b)
			}
			if _, unrouted := env.Data["path"]; unrouted {
				t.Errorf("documented but not routed: %s", b)
			}
		case http.StatusMethodNotAllowed:
			t.Errorf("documented but the route does not take %s (Allow: %s)", method, resp.Header.Get("Allow"))
		}
	})
}

// With authentication on, exactly the operations documented with a security requirement
// answer a request without a token with 401, and document that 401.
func TestOpenAPISecurityMatchesRoutes(t *testing.T) {
	_, srv := newAPIGateway(t, withTokens)
	s, _ := fetchSpec(t, srv)
	callEachOperation(t, srv, s, func(t *testing.T, _ string, op operation, resp *http.Response, err error) {
		if err != nil {
			t.Fatal(err)
		}
		documented := len(op.Security) > 0
		if got := resp.StatusCode == http.StatusUnauthorized; got != documented {
			t.Errorf("status %d without a token; documented security %v", resp.StatusCode, op.Security)
		}
		if _, ok := op.Responses["401"]; ok != documented {
			t.Errorf("401 documented: %v; security documented: %v", ok, documented)
		}
	})
}

// The documented limits and enumerations are the ones the code enforces.
func TestOpenAPIDocumentsLimits(t *testing.T) {
	_, srv := newAPIGateway(t)
	_, doc := fetchSpec(t, srv)
	tests := []struct {
		ref  string
		want any
	}{
		{"#/components/schemas/FitRequest/properties/values/maxItems", float64(messages.MaxValues)},
		{"#/components/schemas/FitRequest/properties/values/items/maximum", messages.MaxAbsValue},
		{"#/components/schemas/FitRequest/properties/values/items/minimum", -messages.MaxAbsValue},
		{"#/components/schemas/FitRequest/properties/season_length/minimum", float64(1)},
		{"#/components/schemas/FitRequest/properties/season_length/maximum", float64(messages.MaxSeasonLength)},
		{"#/components/schemas/FitRequest/properties/timestamps/maxItems", float64(messages.MaxValues)},
		{"#/components/schemas/LegacyFitRequest/properties/data/maxItems", float64(messages.MaxValues)},
		{"#/components/schemas/ForecastRequest/properties/horizon/minimum", float64(1)},
		{"#/components/schemas/ForecastRequest/properties/horizon/maximum", float64(messages.MaxHorizon)},
		{"#/components/schemas/LegacyForecastRequest/properties/num_steps/maximum", float64(messages.MaxHorizon)},
		{"#/components/schemas/ForecastRequest/properties/levels/maxItems", float64(messages.MaxLevels)},
		{"#/components/schemas/ForecastRequest/properties/levels/default", toAny(messages.DefaultLevels)},
		{"#/components/schemas/Method/enum", toAny(forecast.Methods)},
		{"#/components/schemas/Method/default", forecast.MethodAuto},
		{"#/components/schemas/History/properties/values/maxItems", float64(messages.MaxHistory)},
		{"#/components/schemas/BatchRequest/properties/series/maxItems", float64(messages.MaxBatchSeries)},
		{"#/components/schemas/BatchRequest/properties/horizon/maximum", float64(messages.MaxHorizon)},
		{"#/components/schemas/History/properties/timestamps/maxItems", float64(messages.MaxHistory)},
		{"#/components/schemas/BacktestRequest/properties/windows/maximum", float64(messages.MaxBacktestWindows)},
		{"#/components/schemas/BacktestRequest/properties/methods/maxItems", float64(messages.MaxBacktestMethods)},
		{"#/components/schemas/BacktestRequest/properties/step/maximum", float64(messages.MaxValues)},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := pointer(doc, tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, tt.want) {
				t.Errorf("documented %v, the code uses %v", got, tt.want)
			}
		})
	}

	t.Run("answer sizes", func(t *testing.T) {
		b, _ := json.Marshal(doc)
		for _, n := range []int{messages.MaxBatchForecastValues, messages.MaxBacktestValues} {
			if want := strconv.Itoa(n) + " "; !bytes.Contains(b, []byte(want)) {
				t.Errorf("the limit of %d values in an answer is not documented", n)
			}
		}
	})

	t.Run("body limit", func(t *testing.T) {
		b, _ := json.Marshal(doc)
		if want := strconv.Itoa(messages.MaxBodyBytes); !bytes.Contains(b, []byte(want+" bytes")) {
			t.Errorf("the body limit of %s bytes is not documented", want)
		}
	})

	t.Run("body timeout", func(t *testing.T) {
		b, _ := json.Marshal(doc)
		if want := "within " + gateway.DefaultConfig().BodyTimeout.String(); !bytes.Contains(b, []byte(want)) {
			t.Errorf("the default body timeout (%q) is not documented", want)
		}
	})

	t.Run("model name pattern", func(t *testing.T) {
		p, err := pointer(doc, "#/components/schemas/ModelName/pattern")
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(p.(string))
		for _, name := range []string{"sales", "a", "A.b_c-9", strings.Repeat("x", 64), strings.Repeat("x", 65), "", "-a", ".a", "a b", "a/b", "ü"} {
			if documented, enforced := re.MatchString(name), messages.ValidModelName(name) == ""; documented != enforced {
				t.Errorf("model name %q: documented valid %v, accepted %v", name, documented, enforced)
			}
		}
	})
}

// Each status code of the design appears, and error answers are JSend.
func TestOpenAPIDocumentsStatusCodes(t *testing.T) {
	_, srv := newAPIGateway(t)
	s, doc := fetchSpec(t, srv)
	seen := map[string]bool{}
	for path, item := range s.Paths {
		for method, op := range item {
			if op.RequestBody != nil {
				for _, code := range []string{"408", "413"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("%s %s reads a body but does not document %s", strings.ToUpper(method), path, code)
					}
				}
			}
			for code, raw := range op.Responses {
				seen[code] = true
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				var resp any
				if err := json.Unmarshal(raw, &resp); err != nil {
					t.Fatal(err)
				}
				if ref, ok := resp.(map[string]any)["$ref"].(string); ok {
					var err error
					if resp, err = pointer(doc, ref); err != nil {
						t.Fatal(err)
					}
				}
				b, _ := json.Marshal(resp)
				if !bytes.Contains(b, []byte(`"#/components/schemas/JSendFail"`)) && !bytes.Contains(b, []byte(`"#/components/schemas/JSendError"`)) {
					t.Errorf("%s %s %s: the body is not described as JSend fail or error: %s", strings.ToUpper(method), path, code, b)
				}
			}
		}
	}
	for _, code := range []string{"200", "202", "400", "401", "403", "404", "405", "408", "413", "415", "429", "500", "503", "504"} {
		if !seen[code] {
			t.Errorf("status %s is not documented on any operation", code)
		}
	}
}

// /docs is an HTML page that names every operation and schema of openapi.json.
func TestDocsPage(t *testing.T) {
	_, srv := newAPIGateway(t)
	s, _ := fetchSpec(t, srv)
	resp, err := http.Get(srv.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /docs: status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /docs: Content-Type %q, want text/html", ct)
	}
	page := string(b)
	if strings.Contains(page, "ZgotmplZ") {
		t.Error("the page holds a value html/template refused as unsafe (ZgotmplZ)")
	}
	for path, item := range s.Paths {
		for method := range item {
			if slices.Contains(operationMethods, method) && !strings.Contains(page, `<span class="path">`+path+`</span>`) {
				t.Errorf("the page does not show %s %s", strings.ToUpper(method), path)
			}
		}
	}
	for name := range s.Components.Schemas {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("the page does not describe schema %s", name)
		}
	}
	for _, banned := range []string{"<script src=", "cdn.", "unpkg", "jsdelivr"} {
		if strings.Contains(page, banned) {
			t.Errorf("the page must be self-contained but contains %q", banned)
		}
	}
}

func toAny[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// jsonEqual compares two values as JSON, so 80 and 80.0 are equal.
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var na, nb any
	_ = json.Unmarshal(ja, &na)
	_ = json.Unmarshal(jb, &nb)
	ja, _ = json.Marshal(na)
	jb, _ = json.Marshal(nb)
	return bytes.Equal(ja, jb)
}

// The check every test's responses go through (TestMain) rejects answers that differ from
// openapi.json: it is not a check that cannot fail.
func TestOpenAPIValidatorRejectsWrongAnswers(t *testing.T) {
	v, err := openapitest.New(gateway.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	const fit = `{"model":"m","generation":1,"job_id":"j","method":"Naive","params":{},"aicc":null,"sigma2":2.5,"n":3,"missing":0,"duration_ms":1,"current":true,"fitted_at":"2026-01-01T00:00:00Z"}`
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"a fit summary", "POST", "/v1/models/m/fit", 200, jsonType, `{"status":"success","data":` + fit + `}`, true},
		{"an extra field in the summary", "POST", "/v1/models/m/fit", 200, jsonType, `{"status":"success","data":` + strings.Replace(fit, `"n":3`, `"n":3,"colour":"red"`, 1) + `}`, false},
		{"a required field missing", "POST", "/v1/models/m/fit", 200, jsonType, `{"status":"success","data":` + strings.Replace(fit, `"n":3,`, ``, 1) + `}`, false},
		{"a field of the wrong type", "POST", "/v1/models/m/fit", 200, jsonType, `{"status":"success","data":` + strings.Replace(fit, `"n":3`, `"n":"3"`, 1) + `}`, false},
		{"an extra field in the envelope", "POST", "/v1/models/m/fit", 200, jsonType, `{"status":"success","data":` + fit + `,"code":200}`, false},
		{"a fail", "POST", "/v1/models/m/fit", 400, jsonType, `{"status":"fail","data":{"values":"must not be empty"}}`, true},
		{"an error where a fail is documented", "POST", "/v1/models/m/fit", 400, jsonType, `{"status":"error","message":"bad"}`, false},
		{"an undocumented status", "POST", "/v1/models/m/fit", 418, jsonType, `{"status":"fail","data":{}}`, false},
		{"a body that is not JSON", "POST", "/v1/models/m/fit", 400, http.Header{"Content-Type": {"text/plain"}}, `bad request`, false},
		{"a 405 without Allow", "DELETE", "/v1/models/m/fit", 405, jsonType, `{"status":"fail","data":{"method":"DELETE is not allowed here; use POST"}}`, false},
		{"a 405", "DELETE", "/v1/models/m/fit", 405, http.Header{"Content-Type": {"application/json"}, "Allow": {"POST"}}, `{"status":"fail","data":{"method":"DELETE is not allowed here; use POST"}}`, true},
		{"a 202 without Location", "POST", "/v1/models/m/forecast", 202, jsonType, `{"status":"success","data":{"job_id":"j","status":"queued","model":"m"}}`, false},
		{"an unknown path answered 404 JSend", "GET", "/v2/nothing", 404, jsonType, `{"status":"fail","data":{"path":"no endpoint"}}`, true},
		{"an unknown path answered 200", "GET", "/v2/nothing", 200, jsonType, `{"status":"success","data":{}}`, false},
		{"a rate limit without Retry-After", "POST", "/v1/models/m/forecast", 429, jsonType, `{"status":"fail","data":{"rate":"slow down"}}`, false},
		{"a rate limit", "POST", "/v1/models/m/forecast", 429, http.Header{"Content-Type": {"application/json"}, "Retry-After": {"1"}}, `{"status":"fail","data":{"rate":"slow down"}}`, true},
		{"an event stream", "GET", "/v1/events", 200, http.Header{"Content-Type": {"text/event-stream"}}, ": keep-alive\n\n", true},
		{"an event stream of the wrong type", "GET", "/v1/events", 200, jsonType, `{}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://gateway.test"+tc.path, nil)
			resp := &http.Response{StatusCode: tc.status, Header: tc.header, Body: io.NopCloser(strings.NewReader(tc.body))}
			err := v.Check(req, resp)
			if (err == nil) != tc.ok {
				t.Fatalf("Check: %v; want ok=%v", err, tc.ok)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != tc.body {
				t.Errorf("the body after the check is %q, want %q", b, tc.body)
			}
		})
	}
}

// The examples show batch ids as POST /v1/batches makes them now, not the UUIDs of an earlier
// version: every batch_id example, in JSON or inside an SSE example's text.
func TestOpenAPIBatchIDExamplesAreCurrent(t *testing.T) {
	_, srv := newAPIGateway(t)
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range regexp.MustCompile(`"batch_id\\?"\s*:\s*\\?"([^"\\]*)`).FindAllSubmatch(body, -1) {
		id := string(m[1])
		if strings.Contains(id, " ") {
			continue // a fail's message about the field, not an id
		}
		found++
		if len(id) != messages.BatchIDLength || messages.ValidBatchID(id) != "" {
			t.Errorf("example batch_id %q; want %d base32 characters as messages.NewBatchID makes", id, messages.BatchIDLength)
		}
	}
	if found == 0 {
		t.Fatal("no batch_id example found")
	}
}

// TestOpenAPICommandStreamEventsAreTheOnesSent: CommandStreamEvent names exactly the events a
// command's SSE stream sends, in its enum and in the description that gives each its data.
func TestOpenAPICommandStreamEventsAreTheOnesSent(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				CommandStreamEvent struct {
					Description string `json:"description"`
					Properties  struct {
						Event struct {
							Enum []string `json:"enum"`
						} `json:"event"`
					} `json:"properties"`
				} `json:"CommandStreamEvent"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(gateway.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas.CommandStreamEvent
	sent := slices.Sorted(slices.Values(gateway.CommandStreamEvents))
	if enum := slices.Sorted(slices.Values(schema.Properties.Event.Enum)); !slices.Equal(enum, sent) {
		t.Errorf("CommandStreamEvent's event enum is %v; the stream sends %v", enum, sent)
	}
	// The description maps each event to its data: "`accepted` → …", "`succeeded` / `failed` → …".
	mapped, name := regexp.MustCompile("(?:`[a-z_]+` / )*`[a-z_]+` →"), regexp.MustCompile("`([a-z_]+)`")
	var described []string
	for _, names := range mapped.FindAllString(schema.Description, -1) {
		for _, m := range name.FindAllStringSubmatch(names, -1) {
			described = append(described, m[1])
		}
	}
	if described = slices.Compact(slices.Sorted(slices.Values(described))); !slices.Equal(described, sent) {
		t.Errorf("CommandStreamEvent's description gives data for %v; the stream sends %v", described, sent)
	}
}
