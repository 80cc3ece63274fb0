package messages

import (
	"encoding/json"
	"reflect"
	"testing"
)

// MarshalWithRaw encodes what json.Marshal encodes with the field set: the same object once
// decoded, and for a JSend success the same bytes.
func TestMarshalWithRawEncodesWhatMarshalDoes(t *testing.T) {
	result, err := json.Marshal(map[string]any{"model": "m<1>&", "point": []float64{1.5, -2e-7}, "intervals": map[string]any{"80": map[string][]float64{"lower": {1}, "upper": {2}}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		without  any // the value with the field empty
		with     any // the same value with the field set to result
		key      string
		sameByte bool
	}{
		{"reply", Reply{JobID: "j", Kind: KindForecast, Model: "m", Type: ReplyResult},
			Reply{JobID: "j", Kind: KindForecast, Model: "m", Type: ReplyResult, Result: result}, "result", false},
		{"success", Envelope{Status: StatusSuccess}, Envelope{Status: StatusSuccess, Data: result}, "data", true},
		{"empty object", struct {
			R json.RawMessage `json:"r,omitempty"`
		}{}, struct {
			R json.RawMessage `json:"r,omitempty"`
		}{R: result}, "r", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := MarshalWithRaw(c.without, c.key, result)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(c.with)
			if err != nil {
				t.Fatal(err)
			}
			if c.sameByte && string(got) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("decoded differently:\ngot  %s\nwant %s", got, want)
			}
		})
	}
	if got, err := MarshalWithRaw(Envelope{Status: StatusFail}, "data", nil); err != nil || string(got) != `{"status":"fail"}` {
		t.Fatalf("no raw: %s, %v", got, err)
	}
	if _, err := MarshalWithRaw([]int{1}, "data", result); err == nil {
		t.Fatal("a value that is not an object was accepted")
	}
}
