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
      "type": "object", "additionalProperties": false, "required": ["name"], "properties": { "name": { "type": "string" } } } } } } } } }
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
