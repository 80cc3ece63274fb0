package sse

import (
	"reflect"
	"strings"
	"testing"
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
