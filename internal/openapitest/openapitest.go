// Package openapitest checks HTTP responses against an OpenAPI document. Installed as the
// default transport of a test binary (Main), it validates every response the tests receive
// (status, headers and, for JSON, the body), so an answer the document does not describe
// fails the run even where the test itself does not look at it.
package openapitest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator validates responses against one OpenAPI document and keeps the mismatches.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	// Answers to requests the document has no operation for, from components.responses.
	notFound, methodNotAllowed *routers.Route

	mu       sync.Mutex
	failures []string
}

// New loads and validates the document spec.
func New(spec []byte) (*Validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	v := &Validator{doc: doc, router: router}
	if v.notFound, err = v.fallbackRoute(http.StatusNotFound, "NotFound"); err != nil {
		return nil, err
	}
	if v.methodNotAllowed, err = v.fallbackRoute(http.StatusMethodNotAllowed, "MethodNotAllowed"); err != nil {
		return nil, err
	}
	return v, nil
}

// fallbackRoute is an operation answering only status with the named component response.
func (v *Validator) fallbackRoute(status int, name string) (*routers.Route, error) {
	ref := v.doc.Components.Responses[name]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("OpenAPI document: components.responses has no %s", name)
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(status, ref))
	return &routers.Route{Spec: v.doc, Operation: op}, nil
}

// Check validates resp, the answer to req. It reads a JSON, NDJSON or CSV body and puts it
// back, so the caller reads it as if nothing happened; a stream (text/event-stream) or a
// protocol switch is checked by its status and headers alone, its body left untouched.
func (v *Validator) Check(req *http.Request, resp *http.Response) error {
	if req.Method == http.MethodHead {
		return nil // no body to check; the GET it stands for is checked
	}
	route, params, err := v.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		route = v.notFound
	case errors.Is(err, routers.ErrMethodNotAllowed):
		route = v.methodNotAllowed
	case err != nil:
		return fmt.Errorf("find route: %w", err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	opts.WithCustomSchemaErrorFunc(schemaError) // the schema and the value are long; the body is shown once
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                opts,
	}
	if !jsonBody(resp) {
		if err := documentedContentType(route, resp); err != nil {
			return err
		}
		in.Options.ExcludeResponseBody = true
		in.Body = http.NoBody
		if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
			return err
		}
		return checkTextBody(route, resp)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("%w\nbody: %s", err, clip(body))
	}
	return nil
}

func schemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

// jsonBody reports whether resp carries a JSON body to read and validate.
func jsonBody(resp *http.Response) bool {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return false
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// documentedContentType checks, for a body that is not validated, that its status is
// documented and, unless it switches protocols, that its media type is one documented for it.
func documentedContentType(route *routers.Route, resp *http.Response) error {
	ref := route.Operation.Responses.Status(resp.StatusCode)
	if ref == nil {
		ref = route.Operation.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not documented", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols || len(ref.Value.Content) == 0 {
		return nil
	}
	ct := resp.Header.Get("Content-Type")
	if ref.Value.Content.Get(ct) == nil {
		return fmt.Errorf("status %d: Content-Type %q is not documented", resp.StatusCode, ct)
	}
	return nil
}

// checkTextBody checks a body of a media type read line by line against the schema documented
// for it: NDJSON, each line against the schema; CSV, rows of as many fields as the header, the
// whole text against the schema (a string schema's pattern describes the header).
func checkTextBody(route *routers.Route, resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/x-ndjson" && mt != "text/csv" {
		return nil
	}
	ref := route.Operation.Responses.Status(resp.StatusCode)
	if ref == nil {
		ref = route.Operation.Responses.Default()
	}
	media := ref.Value.Content.Get(resp.Header.Get("Content-Type"))
	if media.Schema == nil || media.Schema.Value == nil {
		return fmt.Errorf("%s has no schema", mt)
	}
	schema := media.Schema.Value
	opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors(), openapi3.VisitAsResponse()}
	if route.Spec.IsOpenAPI31OrLater() { // as openapi3filter validates JSON bodies
		opts = append(opts, openapi3.EnableJSONSchema2020())
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if mt == "text/csv" {
		if _, err := csv.NewReader(bytes.NewReader(body)).ReadAll(); err != nil {
			return fmt.Errorf("CSV body: %w\nbody: %s", err, clip(body))
		}
		if err := schema.VisitJSON(string(body), opts...); err != nil {
			return fmt.Errorf("CSV body: %s\nbody: %s", schemaErrors(err), clip(body))
		}
		return nil
	}
	for i, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("NDJSON line %d is not JSON: %w\nline: %s", i+1, err, clip(line))
		}
		if err := schema.VisitJSON(v, opts...); err != nil {
			return fmt.Errorf("NDJSON line %d: %s\nline: %s", i+1, schemaErrors(err), clip(line))
		}
	}
	return nil
}

// schemaErrors is err, a schema's verdict on a value, in the short form schemaError gives.
func schemaErrors(err error) string {
	var multi openapi3.MultiError
	if !errors.As(err, &multi) {
		multi = openapi3.MultiError{err}
	}
	msgs := make([]string, len(multi))
	for i, e := range multi {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			msgs[i] = schemaError(se)
		} else {
			msgs[i] = e.Error()
		}
	}
	return strings.Join(msgs, "; ")
}

func clip(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// Failures lists the mismatches recorded by the transport so far.
func (v *Validator) Failures() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.failures...)
}

// Transport wraps next: every response is checked, a mismatch is recorded and returned as the
// request's error, so the call that got it fails where it was made.
func (v *Validator) Transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper{v: v, next: next}
}

type roundTripper struct {
	v    *Validator
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if err := rt.v.Check(req, resp); err != nil {
		resp.Body.Close()
		msg := fmt.Sprintf("%s %s → %d does not match the OpenAPI document: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
		rt.v.mu.Lock()
		rt.v.failures = append(rt.v.failures, msg)
		rt.v.mu.Unlock()
		return nil, errors.New(msg)
	}
	return resp, nil
}

// Main runs a package's tests (call it from TestMain) with http.DefaultTransport checking
// every response against spec, and fails the run if any did not match.
func Main(m *testing.M, spec []byte) int {
	v, err := New(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapitest:", err)
		return 2
	}
	prev := http.DefaultTransport
	http.DefaultTransport = v.Transport(prev)
	defer func() { http.DefaultTransport = prev }()
	code := m.Run()
	if f := v.Failures(); len(f) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d responses do not match the OpenAPI document:\n", len(f))
		for _, msg := range f {
			fmt.Fprintln(os.Stderr, "  "+msg)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}
