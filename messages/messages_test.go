package messages

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
)

func TestValuesNullIsNaN(t *testing.T) {
	var v Values
	if err := json.Unmarshal([]byte(`[1, null, 2.5e3]`), &v); err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 || v[0] != 1 || !math.IsNaN(v[1]) || v[2] != 2500 {
		t.Fatalf("decoded %v", v)
	}
	b, err := json.Marshal(Values{1, math.NaN(), math.Inf(1), -0.5})
	if err != nil || string(b) != `[1,null,null,-0.5]` {
		t.Fatalf("encoded %s (%v)", b, err)
	}
}

func TestSuccessNeverCarriesAnUnencodableResult(t *testing.T) {
	env, err := Success(map[string]float64{"x": math.NaN()})
	if err == nil || CodeOf(err) != CodeInternal || env.Status != "" {
		t.Fatalf("Success(NaN) = %+v, %v; want no envelope and an internal failure", env, err)
	}
}

func problemsOf(t *testing.T, err error) Problems {
	t.Helper()
	var inv *Failure
	if !errors.As(err, &inv) || inv.Code != CodeInvalid {
		t.Fatalf("error %v is not an invalid *Failure", err)
	}
	return inv.Problems
}

func TestFitRequestValidation(t *testing.T) {
	ts := func(s ...string) []time.Time {
		out := make([]time.Time, len(s))
		for i, x := range s {
			out[i], _ = time.Parse(time.RFC3339, x)
		}
		return out
	}
	intp := func(i int) *int { return &i }
	tests := []struct {
		name  string
		req   FitRequest
		field string // "" = valid
	}{
		{"minimal", FitRequest{Values: Values{1, 2, 3}}, ""},
		{"nil values", FitRequest{}, "values"},
		{"inf", FitRequest{Values: Values{1, math.Inf(1)}}, "values"},
		{"too big", FitRequest{Values: Values{1, 2e100}}, "values"},
		{"season zero", FitRequest{Values: Values{1, 2}, SeasonLength: intp(0)}, "season_length"},
		{"spec on naive", FitRequest{Values: Values{1, 2}, Method: "naive", Options: forecast.Options{ETSSpec: "ANN"}}, "options.spec"},
		{"order on ets", FitRequest{Values: Values{1, 2}, Method: "ets", Options: forecast.Options{Order: []int{1, 1, 1}}}, "options"},
		{"good ets spec", FitRequest{Values: Values{1, 2}, Method: "ets", Options: forecast.Options{ETSSpec: "MAdM"}}, ""},
		{"decreasing timestamps", FitRequest{Values: Values{1, 2}, Timestamps: ts("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z")}, "timestamps"},
		{"good timestamps", FitRequest{Values: Values{1, 2}, Timestamps: ts("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				if tc.req.Method == "" || tc.req.SeasonLength == nil {
					t.Fatalf("defaults not filled: %+v", tc.req)
				}
				return
			}
			if _, ok := problemsOf(t, err)[tc.field]; !ok {
				t.Fatalf("problems %v do not name %q", err, tc.field)
			}
		})
	}
}

func TestDecodeJSONNamesTheField(t *testing.T) {
	tests := []struct{ body, field, mention string }{
		{`{"values":"x"}`, "values", "an array"},
		{`{"horizon":"x"}`, "horizon", "an integer"},
		{`{"values":[1,1e400]}`, "values[1]", "magnitude below about 1.8e308, got 1e400"},
		{`{"values":[1,2,null,"7"]}`, "values[3]", "must be a number, got JSON string"},
		{`{"values":[1,[2]]}`, "values[1]", "must be a number, got JSON array"},
		{`{"horizon":1.5}`, "horizon", "an integer, got JSON number 1.5"},
		{`{"nope":1}`, "nope", "not a known field"},
		{`{`, "body", "malformed"},
		{``, "body", "empty"},
		{`{"values":[1]} x`, "body", "nothing after"},
	}
	for _, tc := range tests {
		var v struct {
			Values  Values `json:"values"`
			Horizon *int   `json:"horizon"`
		}
		p := problemsOf(t, DecodeJSONBytes([]byte(tc.body), &v))
		if !strings.Contains(p[tc.field], tc.mention) {
			t.Errorf("%s: problems %v; want %q to mention %q", tc.body, p, tc.field, tc.mention)
		}
	}
}

// A timestamps field of the wrong shape is named, down to the element that is wrong, and the
// problem says what a timestamp must be; fits, backtests and batch series read it alike.
func TestDecodeJSONNamesTheTimestampsField(t *testing.T) {
	const rfc3339 = "must be an RFC 3339 time such as 2024-01-31T00:00:00Z"
	tests := []struct{ timestamps, field, mention string }{
		{`5`, "timestamps", "must be an array, got JSON number"},
		{`"2024-01-01T00:00:00Z"`, "timestamps", "must be an array, got JSON string"},
		{`{}`, "timestamps", "must be an array, got JSON object"},
		{`[1,2]`, "timestamps[0]", rfc3339 + ", got 1"},
		{`["not a time"]`, "timestamps[0]", rfc3339 + `, got "not a time"`},
		{`["2024-01-01T00:00:00Z","2024-01-32T00:00:00Z"]`, "timestamps[1]", `got "2024-01-32T00:00:00Z"`},
		{`["2024-01-01T00:00:00Z",true]`, "timestamps[1]", rfc3339 + ", got true"},
		{`["2024-01-01T00:00:00Z",null]`, "timestamps[1]", rfc3339 + ", got null"},
		{`["2024-01-01T00:00:00Z",["2024-01-02T00:00:00Z"]]`, "timestamps[1]", rfc3339},
		// Offsets RFC 3339 does not have, which Go reads and cannot write back.
		{`["2024-01-01T00:00:00+24:00"]`, "timestamps[0]", `got "2024-01-01T00:00:00+24:00"`},
		{`["2024-01-01T00:00:00Z","2024-01-02T00:00:00-24:59"]`, "timestamps[1]", `got "2024-01-02T00:00:00-24:59"`},
	}
	for _, tc := range tests {
		for _, r := range []struct {
			name, body, prefix string
			v                  any
		}{
			{"fit", `{"values":[1,2],"timestamps":` + tc.timestamps + `}`, "", &FitRequest{}},
			{"backtest", `{"values":[1,2],"timestamps":` + tc.timestamps + `}`, "", &BacktestRequest{}},
			{"batch", `{"series":[{"name":"a","values":[1,2]},{"name":"b","values":[1,2],"timestamps":` + tc.timestamps + `}]}`, "series[1].", &BatchRequest{}},
		} {
			t.Run(r.name+" "+tc.timestamps, func(t *testing.T) {
				p := problemsOf(t, DecodeJSONBytes([]byte(r.body), r.v))
				if want := r.prefix + tc.field; len(p) != 1 || !strings.Contains(p[want], tc.mention) {
					t.Errorf("problems %v; want only %q, mentioning %q", p, want, tc.mention)
				}
			})
		}
	}

	var fit FitRequest
	if err := DecodeJSONBytes([]byte(`{"values":[1,2],"timestamps":[ "2024-01-01T00:00:00Z" , "2024-01-02T00:00:00+01:00" ]}`), &fit); err != nil || len(fit.Timestamps) != 2 || !fit.Timestamps[1].Equal(time.Date(2024, 1, 1, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("valid timestamps: %v, %v", fit.Timestamps, err)
	}
}

// axis is NewTimeAxis on RFC 3339 times.
func axis(t *testing.T, ts ...string) (*TimeAxis, error) {
	t.Helper()
	return NewTimeAxis(times(t, ts...))
}

func TestTimeAxisFollowsTheCalendar(t *testing.T) {
	tests := []struct {
		name string
		ts   []string
		next []string
	}{
		{"daily", []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"}, []string{"2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"}},
		{"monthly", []string{"2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"}, []string{"2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"}},
		{"quarterly", []string{"2023-10-15T09:30:00Z", "2024-01-15T09:30:00Z", "2024-04-15T09:30:00Z"}, []string{"2024-07-15T09:30:00Z"}},
		{"month ends", []string{"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z"}, []string{"2024-05-31T00:00:00Z", "2024-06-30T00:00:00Z", "2024-07-31T00:00:00Z"}},
		{"quarter ends", []string{"2023-12-31T00:00:00Z", "2024-03-31T00:00:00Z", "2024-06-30T00:00:00Z", "2024-09-30T00:00:00Z"}, []string{"2024-12-31T00:00:00Z", "2025-03-31T00:00:00Z"}},
		{"year ends in February", []string{"2023-02-28T00:00:00Z", "2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"}, []string{"2026-02-28T00:00:00Z", "2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z"}},
		{"the 30th or the month's end", []string{"2024-01-30T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-30T00:00:00Z"}, []string{"2024-04-30T00:00:00Z", "2024-05-30T00:00:00Z"}},
		{"monthly at local midnight across a change of offset", []string{"2024-02-01T00:00:00+01:00", "2024-03-01T00:00:00+01:00", "2024-04-01T00:00:00+02:00"}, []string{"2024-05-01T00:00:00+02:00"}},
		{"daily across a daylight saving day", []string{"2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+02:00", "2024-04-01T00:00:00+02:00"}, []string{"2024-04-02T00:00:00+02:00"}},
		{"hourly across a daylight saving night", []string{"2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"}, []string{"2024-03-31T05:00:00+02:00"}},
		{"two times", []string{"2024-01-31T00:00:00Z", "2024-03-02T00:00:00Z"}, []string{"2024-04-02T00:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := axis(t, tc.ts...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range a.Next(len(tc.next)) {
				got = append(got, x.Format(time.RFC3339))
			}
			if !slices.Equal(got, tc.next) {
				t.Errorf("next = %v; want %v (axis %+v)", got, tc.next, a)
			}
		})
	}
}

func TestTimeAxisRejectsIrregularSteps(t *testing.T) {
	tests := []struct {
		name    string
		ts      []string
		mention []string
	}{
		{"a day missing", []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"},
			[]string{"entry 3 (2024-01-05T00:00:00Z) is 2 days after entry 2 (2024-01-03T00:00:00Z)", "1 day"}},
		{"the first step odd", []string{"2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"},
			[]string{"entry 1 (2024-01-03T00:00:00Z)", "entry 0 (2024-01-01T00:00:00Z)"}},
		{"a month missing", []string{"2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"},
			[]string{"entry 2 (2024-04-01T00:00:00Z) is 2 months after entry 1", "1 month"}},
		{"month end then not", []string{"2023-01-31T00:00:00Z", "2023-02-28T00:00:00Z", "2023-03-28T00:00:00Z", "2023-04-30T00:00:00Z"},
			[]string{"entry "}},
		{"an hour off", []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T01:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"},
			[]string{"entry 2 (2024-01-03T01:00:00Z) is 25h0m0s after entry 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := axis(t, tc.ts...)
			if err == nil {
				t.Fatalf("accepted as %+v", a)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not mention %q", err, m)
				}
			}
		})
	}
	day := func(d, h int) time.Time { return time.Date(2024, 1, d, h, 0, 0, 0, time.UTC) }
	req := FitRequest{Values: Values{1, 2, 3, 4}, Timestamps: []time.Time{day(1, 0), day(2, 0), day(3, 1), day(4, 0)}}
	if _, ok := problemsOf(t, req.Validate())["timestamps"]; !ok {
		t.Error("a fit with a time off its step is valid")
	}
	req = FitRequest{Values: Values{1, 2, 3}, Timestamps: []time.Time{day(1, 0), day(2, 0), day(4, 0)}}
	if err := req.Validate(); err != nil {
		t.Errorf("a fit with a day left out (a missing value): %v", err)
	}
}

func TestModelNames(t *testing.T) {
	for _, ok := range []string{"a", "sales.eu-1_B", strings.Repeat("x", 64)} {
		if p := ValidModelName(ok); p != "" {
			t.Errorf("%q rejected: %s", ok, p)
		}
	}
	for _, bad := range []string{"", "-a", ".a", "a b", "a/b", strings.Repeat("x", 65), "é"} {
		if ValidModelName(bad) == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNewHistory(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	short := NewHistory(Values{1, math.NaN(), 3}, nil)
	if len(short.Values) != 3 || short.Start != 0 || short.Truncated || short.Timestamps != nil {
		t.Errorf("short series: %+v, want all three values, no timestamps, not truncated", short)
	}
	long := make(Values, MaxHistory+10)
	ts := make([]time.Time, len(long))
	for i := range long {
		long[i] = float64(i)
		ts[i] = t0.AddDate(0, 0, i)
	}
	h := NewHistory(long, HistoryTimes(ts))
	if len(h.Values) != MaxHistory || h.Start != 10 || !h.Truncated || h.Values[0] != 10 {
		t.Errorf("long series: %d values from %d (truncated %v, first %v), want %d from 10", len(h.Values), h.Start, h.Truncated, h.Values[0], MaxHistory)
	}
	if len(h.Timestamps) != len(h.Values) || !h.Timestamps[0].Equal(ts[10]) {
		t.Errorf("long series: timestamps do not line up with the values")
	}
}

// Levels follow R's forecast(): all of them in (0, 1) are fractions; otherwise percentages.
func TestForecastLevelsMayBeFractions(t *testing.T) {
	tests := []struct {
		name   string
		levels []float64
		want   []float64 // nil: a fail naming levels
	}{
		{"percentages", []float64{80, 95}, []float64{80, 95}},
		{"one fraction", []float64{0.95}, []float64{95}},
		{"fractions", []float64{0.8, 0.95}, []float64{80, 95}},
		{"fraction scaled without rounding error", []float64{0.07, 0.001, 0.999}, []float64{7, 0.1, 99.9}},
		{"1 is a percentage, as in R", []float64{1}, []float64{1}},
		{"small percentages", []float64{1, 2.5}, []float64{1, 2.5}},
		{"fraction and percentage", []float64{0.8, 95}, nil},
		{"fraction and 1", []float64{0.5, 1}, nil},
		{"zero", []float64{0}, nil},
		{"100", []float64{100}, nil},
		{"negative fraction", []float64{-0.5, 0.5}, nil},
		{"default", nil, []float64{80, 95}},
		{"a level twice", []float64{80, 95, 80}, nil},
		{"a fraction twice", []float64{0.8, 0.80}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := 3
			req := ForecastRequest{Horizon: &h, Levels: tc.levels}
			err := req.Validate()
			if tc.want == nil {
				if _, ok := problemsOf(t, err)["levels"]; !ok {
					t.Fatalf("problems %v do not name levels", err)
				}
				return
			}
			if err != nil || !slices.Equal(req.Levels, tc.want) {
				t.Fatalf("levels %v validated to %v (%v); want %v", tc.levels, req.Levels, err, tc.want)
			}
		})
	}
}

// A key given twice would silently keep its last value; encoding/json also matches keys to
// fields regardless of case, so "Horizon" after "horizon" is the same key again.
func TestDecodeJSONRejectsDuplicateKeys(t *testing.T) {
	type body struct {
		Values  Values           `json:"values"`
		Horizon *int             `json:"horizon"`
		Method  string           `json:"method"`
		Options forecast.Options `json:"options"`
		Series  []struct {
			Name string `json:"name"`
			Unit string `json:"unit"`
		} `json:"series"`
	}
	tests := []struct{ body, field string }{
		{`{"horizon":3,"horizon":5}`, "horizon"},
		{`{"horizon":3,"values":[1],"horizon":3}`, "horizon"},
		{`{"values":[1],"options":{"spec":"ANN","spec":"AAN"}}`, "options.spec"},
		{`{"values":[1],"options":{"order":[1,1,1]},"options":{}}`, "options"},
		{`{"horizon":3,"Horizon":5}`, "horizon"},
		{`{"horizon":3,"hori\u007aon":5}`, "horizon"},
		{`{"series":[{"name":"a","unit":"kg"},{"name":"b","name":"c"}]}`, "series.name"},
		{` { "method" : "ets" , "method" : "ets" } `, "method"},
		// Folded as encoding/json folds them: the long s (U+017F) is an s.
		{`{"values":[1],"\u017feries":[],"series":[]}`, "\u017feries"},
		{`{"method":"ets","ſeries":[],"values":[1],"series":[]}`, "ſeries"},
	}
	for _, tc := range tests {
		var v body
		p := problemsOf(t, DecodeJSONBytes([]byte(tc.body), &v))
		if !strings.Contains(p[tc.field], "more than once") || len(p) != 1 {
			t.Errorf("%s: problems %v; want one naming %q as given more than once", tc.body, p, tc.field)
		}
	}
	for _, ok := range []string{
		`{"series":[{"name":"a","unit":"kg"},{"name":"b","unit":"kg"}],"options":{"spec":"ANN"},"method":"ets"}`,
		`{"method":"\"method\":","values":[1,null,{"x":1}],"horizon":2}`,
		`{"values":[],"options":{}}`,
	} {
		var v struct {
			body
			Values []any `json:"values"`
		}
		if err := DecodeJSONBytes([]byte(ok), &v); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// A message that embeds a request (the WebSocket fit message embeds FitRequest) has a bad field
// named as the client's JSON has it, not under the Go struct it is embedded from.
func TestDecodeJSONNamesEmbeddedFieldsAsSent(t *testing.T) {
	var m struct {
		Type string `json:"type"`
		FitRequest
	}
	for body, field := range map[string]string{
		`{"type":"fit","values":"x"}`:                      "values",
		`{"type":"fit","values":[1,2,3],"timestamps":[1]}`: "timestamps[0]",
	} {
		err := DecodeJSONBytes([]byte(body), &m)
		var f *Failure
		if !errors.As(err, &f) || f.Problems[field] == "" {
			t.Errorf("%s: %v; want a problem named %s", body, err, field)
		}
	}
}

// A decoding problem in one series of a batch is named with the series' index, so that a client
// can find it among thousands: a wrong type, an unknown field, a bad timestamp.
func TestDecodeJSONNamesTheSeriesOfABatch(t *testing.T) {
	const ok = `{"name":"a","values":[1,2,3]}`
	tests := []struct{ bad, field, mention string }{
		{`{"name":"d","values":[1,true]}`, "series[3].values[1]", "must be a number"},
		{`{"name":"d","values":[1,2],"valuez":[1]}`, "series[3].valuez", "not a known field"},
		{`{"name":7,"values":[1,2]}`, "series[3].name", "must be a string"},
		{`{"name":"d","values":[1,2],"season_length":"12"}`, "series[3].season_length", "must be an integer"},
		{`{"name":"d","values":[1,2],"timestamps":["x"]}`, "series[3].timestamps[0]", "RFC 3339"},
		{`[1,2]`, "series[3]", "must be"},
	}
	for _, tc := range tests {
		t.Run(tc.bad, func(t *testing.T) {
			body := `{"method":"naive","horizon":2,"series":[` + ok + "," + ok + "," + ok + "," + tc.bad + "," + ok + `]}`
			p := problemsOf(t, DecodeJSONBytes([]byte(body), &BatchRequest{}))
			if len(p) != 1 || !strings.Contains(p[tc.field], tc.mention) {
				t.Errorf("problems %v; want only %q, mentioning %q", p, tc.field, tc.mention)
			}
		})
	}
}

// A null in an array of numbers or strings is refused, named down to its element: decoding
// reads it as a zero (an order [2,null,1] as ARIMA(2,0,1), a level as 0, a method as ""),
// which the client never asked for. Where null means something (a missing observation in
// values) it stays accepted.
func TestDecodeJSONRefusesNullElements(t *testing.T) {
	tests := []struct {
		name, body, field string
		v                 any
	}{
		{"order", `{"values":[1,2,3],"method":"arima","options":{"order":[2,null,1]}}`, "options.order[1]", &FitRequest{}},
		{"seasonal order", `{"values":[1,2,3],"options":{"seasonal_order":[null,1,0]}}`, "options.seasonal_order[0]", &FitRequest{}},
		{"levels", `{"horizon":3,"levels":[80,null]}`, "levels[1]", &ForecastRequest{}},
		{"levels after spaces", `{"horizon":3,"levels":[ 80 , 90 ,  null ]}`, "levels[2]", &ForecastRequest{}},
		{"backtest methods", `{"values":[1,2,3],"horizon":1,"methods":["ets",null]}`, "methods[1]", &BacktestRequest{}},
		{"batch methods", `{"series":[{"name":"a","values":[1,null,3]}],"horizon":1,"methods":[null]}`, "methods[0]", &BatchRequest{}},
		{"batch levels", `{"series":[{"name":"a","values":[1,2,3]}],"horizon":1,"levels":[null]}`, "levels[0]", &BatchRequest{}},
		{"case-folded key", `{"values":[1,2,3],"Options":{"ORDER":[1,1,null]}}`, "Options.ORDER[2]", &FitRequest{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := problemsOf(t, DecodeJSONBytes([]byte(tc.body), tc.v))
			if len(p) != 1 || !strings.Contains(p[tc.field], "must not be null") {
				t.Errorf("problems %v; want only %q: must not be null", p, tc.field)
			}
		})
	}
	for _, body := range []string{
		`{"values":[1,null,3],"options":{"order":[1,0,0]}}`,
		`{"values":[null,null,3],"method":"naive"}`,
		`{"values":[1,2,3],"options":{"include_constant":null}}`,
	} {
		if err := DecodeJSONBytes([]byte(body), &FitRequest{}); err != nil {
			t.Errorf("%s: %v; want it accepted", body, err)
		}
	}
	var b BatchRequest
	if err := DecodeJSONBytes([]byte(`{"series":[{"name":"a","values":[1,null,3]},{"name":"b","values":[null,2]}],"horizon":1,"levels":[80]}`), &b); err != nil {
		t.Errorf("a batch with missing observations: %v; want it accepted", err)
	}
}

// An ARIMA order is checked at the door, entry by entry, against what the engine fits (at
// most d = 2 and D = 1), so that the client hears which entry is wrong at once and in the
// API's words, not after a fit in the engine's.
func TestValidateNamesTheWrongEntryOfAnARIMAOrder(t *testing.T) {
	tests := []struct{ options, field, mention string }{
		{`{"order":[2,3,1]}`, "options.order[1]", "d must be an integer from 0 to 2, got 3"},
		{`{"order":[-1,1,0]}`, "options.order[0]", "p must be an integer from 0 to 10, got -1"},
		{`{"order":[1,1,11]}`, "options.order[2]", "q must be an integer from 0 to 10, got 11"},
		{`{"order":[1,1]}`, "options.order", "must have three integers (p, d, q), got 2"},
		{`{"order":[0,1,1],"seasonal_order":[0,2,1]}`, "options.seasonal_order[1]", "D must be an integer from 0 to 1, got 2"},
		{`{"order":[0,1,1],"seasonal_order":[4,0,0]}`, "options.seasonal_order[0]", "P must be an integer from 0 to 3, got 4"},
		{`{"seasonal_order":[0,1,1]}`, "options.seasonal_order", "needs options.order as well"},
	}
	for _, tc := range tests {
		t.Run(tc.options, func(t *testing.T) {
			var r FitRequest
			body := `{"values":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26],"method":"arima","season_length":12,"options":` + tc.options + `}`
			if err := DecodeJSONBytes([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			p := problemsOf(t, r.Validate())
			if len(p) != 1 || !strings.Contains(p[tc.field], tc.mention) {
				t.Errorf("problems %v; want only %q, mentioning %q", p, tc.field, tc.mention)
			}
		})
	}
	long := FitRequest{Values: Values{1, 2, 3}, Method: "arima", SeasonLength: new(501)}
	if p := problemsOf(t, long.Validate()); !strings.Contains(p["season_length"], "at most 400 for method arima, got 501") {
		t.Errorf("a season longer than ARIMA's: problems %v", p)
	}
	var r FitRequest
	if err := DecodeJSONBytes([]byte(`{"values":[1,2,3,4,5,6],"method":"arima","options":{"order":[1,1,0],"seasonal_order":[0,1,1]}}`), &r); err != nil {
		t.Fatal(err)
	}
	if p := problemsOf(t, r.Validate()); !strings.Contains(p["options.seasonal_order"], "needs season_length of at least 2") {
		t.Errorf("seasonal order without a season: problems %v", p)
	}
	for _, ok := range []string{`{"order":[2,2,1],"seasonal_order":[3,1,3]}`, `{"order":[1,1,1],"seasonal_order":[0,0,0]}`} {
		r := FitRequest{}
		if err := DecodeJSONBytes([]byte(`{"values":[1,2,3],"method":"arima","season_length":4,"options":`+ok+`}`), &r); err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v; want it accepted", ok, err)
		}
	}
}

// What is quoted back of the client's input is clipped: a megabyte of method name gets a
// problem of a few dozen bytes, not a megabyte.
func TestProblemsQuoteLongInputClipped(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	r := FitRequest{Values: Values{1, 2, 3}, Method: long}
	p := problemsOf(t, r.Validate())
	if m := p["method"]; len(m) > 500 || !strings.Contains(m, "unknown method") {
		t.Errorf("method problem of %d bytes: %.120q…", len(m), m)
	}
}

// Malformed JSON is answered with where it is, the text around it and, for the usual slips,
// what is wrong.
func TestDecodeJSONExplainsMalformedJSON(t *testing.T) {
	tests := []struct{ body, mention string }{
		{`{"values":[1,NaN]}`, "NaN and Infinity are not JSON"},
		{`{"values":[1,-Infinity]}`, "NaN and Infinity are not JSON"},
		{`{"values":[1,2,]}`, "no trailing commas"},
		{`{"horizon":3,}`, "no trailing commas"},
		{`{"values":[01]}`, "leading zero"},
		{`{'values':[1]}`, `quoted with "`},
		{`{"values":[1] /* daily */}`, "no comments"},
		{"{\"values\":[1], # daily\n}", "no comments"},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "nest too deep"},
		{`{"values":[1 2]}`, `:[1 2]}"`}, // the text around it
	}
	for _, tc := range tests {
		p := problemsOf(t, DecodeJSONBytes([]byte(tc.body), &FitRequest{}))
		if got := p["body"]; !strings.Contains(got, "malformed JSON at byte") || !strings.Contains(got, tc.mention) {
			t.Errorf("%.40s: problem %q; want it to say %q", tc.body, got, tc.mention)
		}
	}
	// A missing comma after a 0 is no leading zero.
	for _, body := range []string{`{"values":[0 1]}`, `{"values":[1, 0 5]}`} {
		if got := problemsOf(t, DecodeJSONBytes([]byte(body), &FitRequest{}))["body"]; strings.Contains(got, "leading zero") {
			t.Errorf("%s: problem %q; want no leading zero named", body, got)
		}
	}
}

// A body with a field of the wrong type or an unknown field is still checked as far as it
// decoded: every bad field is named at once. A field decoding has a problem with is not also
// said to be missing; a body that is not JSON is answered alone.
func TestAlsoInvalidNamesEveryBadField(t *testing.T) {
	tests := []struct {
		body string
		v    Validator
		want []string // the fields named, all of them
	}{
		{`{"values":"x","season_length":0,"method":"bad"}`, &FitRequest{}, []string{"values", "season_length", "method"}},
		{`{"values":[1,2,3,4],"season_length":0,"foo":1}`, &FitRequest{}, []string{"foo", "season_length"}},
		{`{"values":[1,"7"],"method":"bad"}`, &FitRequest{}, []string{"values[1]", "method"}},
		{`{"horizon":0,"series":[{"name":"a","values":"x"}]}`, &BatchRequest{}, []string{"series[0].values", "horizon"}},
		{`{"horizon":"3","levels":[0]}`, &ForecastRequest{}, []string{"horizon", "levels"}},
		{`{"values":[1,2],"method":"bad",`, &FitRequest{}, []string{"body"}},
		// A check that depends on a field left out does not speak of its default.
		{`{"method":5,"values":[1,2,3],"options":{"spec":"ANN"}}`, &FitRequest{}, []string{"method"}},
		{`{"season_length":"12","method":"arima","values":[1,2,3],"options":{"order":[1,0,0],"seasonal_order":[1,0,0]}}`, &FitRequest{}, []string{"season_length"}},
		// Keys are left out as encoding/json reads them: with a dot, or in another case.
		{`{"a.b":1,"values":[1,2,3],"method":"x"}`, &FitRequest{}, []string{"a.b", "method"}},
		{`{"ſeason_length":"x","values":[1,2,3],"method":"x"}`, &FitRequest{}, []string{"season_length", "method"}},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			err := DecodeJSONBytes([]byte(tc.body), tc.v)
			if err == nil {
				t.Fatal("decoded")
			}
			p := problemsOf(t, AlsoInvalid([]byte(tc.body), err, tc.v))
			got := slices.Sorted(maps.Keys(p))
			if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
				t.Errorf("problems %v; want exactly %v", p, want)
			}
		})
	}

	// Thousands of unknown keys: a few are named, not each after a decoding of its own.
	var b strings.Builder
	b.WriteString(`{"values":[1,2,3]`)
	for i := range 4000 {
		fmt.Fprintf(&b, `,"k%d":0`, i)
	}
	b.WriteString("}")
	body := []byte(b.String())
	err := DecodeJSONBytes(body, &FitRequest{})
	if p := problemsOf(t, AlsoInvalid(body, err, &FitRequest{})); len(p) < 2 || len(p) > maxRedecodes+1 {
		t.Errorf("%d problems for 4000 unknown keys; want a few, one per decoding", len(p))
	}
}
