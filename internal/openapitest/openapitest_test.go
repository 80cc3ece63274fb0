package openapitest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const spec = `{
  "openapi": "3.1.0",
  "info": { "title": "t", "version": "1" },
  "paths": {
    "/thing": { "get": { "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": {
      "type": "object", "additionalProperties": false, "required": ["name"], "properties": { "name": { "type": "string" } } } } } } } } },
    "/lines": { "get": { "responses": { "200": { "description": "ok", "content": {
      "application/x-ndjson": { "schema": { "type": "object", "additionalProperties": false, "required": ["n"], "properties": { "n": { "type": ["integer", "null"] } } } },
      "text/csv": { "schema": { "type": "string", "pattern": "^n,m\\r?\\n" } } } } } } }
  },
  "components": { "responses": {
    "NotFound": { "description": "none", "content": { "application/json": { "schema": { "type": "object" } } } },
    "MethodNotAllowed": { "description": "no", "content": { "application/json": { "schema": { "type": "object" } } } }
  } }
}`

// The transport hands a matching answer through untouched and turns a mismatch into the
// request's error, remembering it for Main.
func TestTransport(t *testing.T) {
	v, err := New([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"name":"a"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	client := &http.Client{Transport: v.Transport(http.DefaultTransport)}

	resp, err := client.Get(srv.URL + "/thing")
	if err != nil {
		t.Fatalf("a matching answer: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != body {
		t.Errorf("body %q, want %q", got, body)
	}
	if f := v.Failures(); len(f) != 0 {
		t.Errorf("failures after a matching answer: %v", f)
	}

	body = `{"name":"a","extra":1}`
	if _, err := client.Get(srv.URL + "/thing"); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("an answer with an undocumented field: error %v, want one naming the field", err)
	}
	if f := v.Failures(); len(f) != 1 || !strings.Contains(f[0], "GET /thing → 200") {
		t.Errorf("failures %q, want the one mismatch", f)
	}
}

// NDJSON and CSV bodies are checked against their schemas: NDJSON line by line, CSV as
// rectangular rows whose text matches the schema's pattern.
func TestTextBodies(t *testing.T) {
	v, err := New([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	var contentType, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	client := &http.Client{Transport: v.Transport(http.DefaultTransport)}
	tests := []struct {
		contentType, body string
		bad               string // part of the error; "" = the body matches
	}{
		{"application/x-ndjson", "{\"n\":1}\n{\"n\":null}\n", ""},
		{"application/x-ndjson", "{\"n\":1}\n{\"n\":1,\"extra\":2}\n", "NDJSON line 2"},
		{"application/x-ndjson", "{\"n\":1}\n{\"n\":\n", "line 2 is not JSON"},
		{"text/csv", "n,m\n1,2\n3,\n", ""},
		{"text/csv", "n,m\n1,2\n3\n", "wrong number of fields"},
		{"text/csv", "m,n\n1,2\n", "CSV body"},
	}
	for _, tc := range tests {
		contentType, body = tc.contentType, tc.body
		resp, err := client.Get(srv.URL + "/lines")
		if tc.bad == "" {
			if err != nil {
				t.Errorf("%s %q: %v; want it to match", tc.contentType, tc.body, err)
				continue
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tc.body {
				t.Errorf("body %q, want %q handed through", got, tc.body)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%s %q: error %v; want one saying %q", tc.contentType, tc.body, err, tc.bad)
		}
	}
}
