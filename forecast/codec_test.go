package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	y := []float64{12, 15, 11, 18, 13, 16, 12, 19, 14, nan, 13, 21, 15, 18, 14, 22}
	for _, method := range []string{MethodNaive, MethodSNaive, MethodDrift, MethodMean, MethodAuto} {
		t.Run(method, func(t *testing.T) {
			m, err := Fit(context.Background(), y, Spec{Method: method, SeasonLength: 4}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]any
			if err := json.Unmarshal(b, &env); err != nil || env["v"] != float64(encodingVersion) || env["kind"] != m.(missingModel).Model.Kind() {
				t.Fatalf("envelope %s is not self-describing (err %v)", b, err)
			}
			d := assertRoundTrip(t, m, 17, 50, 80, 95, 99.9)
			if d.Summary().Missing != 1 {
				t.Errorf("missing count %d lost in the round trip", d.Summary().Missing)
			}
		})
	}
}

// assertRoundTrip checks that Decode(Encode(m)) is the same kind of model with the same
// summary and forecasts identically over h steps at levels; it returns the decoded model.
func assertRoundTrip(t *testing.T, m Model, h int, levels ...float64) Model {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(%s): %v", b, err)
	}
	if d.Kind() != m.Kind() || !reflect.DeepEqual(d.Summary(), m.Summary()) {
		t.Fatalf("decoded %s %+v, want %s %+v", d.Kind(), d.Summary(), m.Kind(), m.Summary())
	}
	want, err := m.Forecast(h, levels)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Forecast(h, levels)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded model forecasts\n%v\nwant\n%v", got, want)
	}
	return d
}

func TestDecodeRejects(t *testing.T) {
	valid := `{"method":"naive","lag":1,"future":[3],"mse":1,"sigma2":1,"n":5}`
	tests := map[string]string{
		"garbage":          `not json`,
		"empty":            ``,
		"null":             `null`,
		"empty object":     `{}`,
		"old version":      `{"v":0,"kind":"baseline","model":` + valid + `}`,
		"future version":   `{"v":2,"kind":"baseline","model":` + valid + `}`,
		"unknown kind":     `{"v":1,"kind":"prophet","model":{}}`,
		"no model":         `{"v":1,"kind":"baseline"}`,
		"model not object": `{"v":1,"kind":"baseline","model":[1,2]}`,
		"negative missing": `{"v":1,"kind":"baseline","missing":-1,"model":` + valid + `}`,
		"unknown method":   `{"v":1,"kind":"baseline","model":{"method":"magic","lag":1,"future":[3],"mse":1,"n":5}}`,
		"lag mismatch":     `{"v":1,"kind":"baseline","model":{"method":"snaive","lag":4,"future":[3],"mse":1,"n":5}}`,
		"zero lag":         `{"v":1,"kind":"baseline","model":{"method":"naive","lag":0,"future":[],"mse":1,"n":5}}`,
		"negative mse":     `{"v":1,"kind":"baseline","model":{"method":"naive","lag":1,"future":[3],"mse":-1,"n":5}}`,
		"naive with drift": `{"v":1,"kind":"baseline","model":{"method":"naive","lag":1,"future":[3],"drift":2,"mse":1,"n":5}}`,
		"mean of one":      `{"v":1,"kind":"baseline","model":{"method":"mean","future":[3],"mse":1,"n":1}}`,
		"huge number":      `{"v":1,"kind":"baseline","model":{"method":"naive","lag":1,"future":[1e999],"mse":1,"n":5}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if m, err := Decode([]byte(in)); !errors.Is(err, ErrBadEncoding) {
				t.Errorf("Decode(%s) = %v, %v; want ErrBadEncoding", in, m, err)
			}
		})
	}
	// The valid body above does decode: the rejections are about what each case changes.
	if _, err := Decode([]byte(`{"v":1,"kind":"baseline","model":` + valid + `}`)); err != nil {
		t.Errorf("valid model: %v", err)
	}
}

func TestEncodeNil(t *testing.T) {
	if _, err := Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}
