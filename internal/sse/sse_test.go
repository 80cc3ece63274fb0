package sse

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	stream := "retry: 2000\n\n: keep-alive\n\nid: 1-0\nevent: model_ready\ndata: {\"a\":1}\n\nevent: x\ndata: one\ndata: two\n\n\n"
	var got []Message
	if err := Read(strings.NewReader(stream), func(m Message) { got = append(got, m) }); err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{Retry: "2000"},
		{Comment: "keep-alive"},
		{ID: "1-0", Event: "model_ready", Data: `{"a":1}`},
		{Event: "x", Data: "one\ntwo"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Last-Event-ID") != "7-0" {
			http.Error(w, "want Accept and Last-Event-ID", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, ": hello\n\nid: 8-0\nevent: model_ready\ndata: {}\n\nretry: 10\n\n")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, srv.Client(), srv.URL, http.Header{"Last-Event-ID": {"7-0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Response.StatusCode != http.StatusOK {
		t.Fatalf("status %d", s.Response.StatusCode)
	}
	if m, err := s.NextEvent(ctx); err != nil || m != (Message{ID: "8-0", Event: "model_ready", Data: "{}"}) {
		t.Fatalf("NextEvent = %+v, %v; want the event after the comment", m, err)
	}
	if m, err := s.Next(ctx); err != nil || m.Retry != "10" {
		t.Fatalf("Next = %+v, %v; want the retry hint", m, err)
	}
	if _, err := s.Next(ctx); err != io.EOF {
		t.Fatalf("Next at the end = %v, want io.EOF", err)
	}
}
