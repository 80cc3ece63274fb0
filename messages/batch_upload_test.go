package messages

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// formatSeries writes series as name:[values]@[first timestamp…last] for comparison.
func formatSeries(ss []BatchSeries) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "%s:%v@", s.Name, []float64(s.Values))
		for _, t := range s.Timestamps {
			b.WriteString(t.Format(time.RFC3339) + " ")
		}
		b.WriteString("; ")
	}
	return b.String()
}

func TestUploadsAreReadIntoSeriesInTimestampOrder(t *testing.T) {
	// b's rows are apart and out of order; a has a missing value.
	want := "a:[1 NaN 3]@2024-01-01T00:00:00Z 2024-01-02T00:00:00Z 2024-01-03T00:00:00Z ; " +
		"b:[10 20 30]@2024-01-01T00:00:00Z 2024-01-02T00:00:00Z 2024-01-03T00:00:00Z ; "
	tests := []struct {
		name string
		read func(io.Reader) ([]BatchSeries, error)
		body string
	}{
		{"csv", ReadCSVUpload, "series_id,timestamp,value\na,2024-01-01,1\nb,2024-01-03,30\na,2024-01-02,\nb,2024-01-01,10\na,2024-01-03,3\nb,2024-01-02,20\n"},
		{"csv columns in another order, statsforecast names, CRLF, BOM", ReadCSVUpload,
			"\ufeffy,ds,unique_id\r\n1,2024-01-01T00:00:00Z,a\r\n30,2024-01-03 00:00:00,b\r\n,2024-01-02,a\r\n10,2024-01-01,b\r\n3,2024-01-03,a\r\n20,2024-01-02T00:00:00,b\r\n"},
		{"csv quoted fields", ReadCSVUpload, "\"series_id\",\"timestamp\",\"value\"\n\"a\",\"2024-01-01\",\"1\"\na,2024-01-02,\" \"\na,2024-01-03,3e0\nb,2024-01-01,10\nb,2024-01-02,20\nb,2024-01-03,30"},
		{"ndjson", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01","value":1}
{"series_id":"b","timestamp":"2024-01-03","value":30}

{"series_id":"a","timestamp":"2024-01-02","value":null}
{"series_id":"b","timestamp":"2024-01-01T00:00:00Z","value":10}
{"value":3,"timestamp":"2024-01-03","series_id":"a"}
{"series_id":"b","timestamp":"2024-01-02","value":2e1}
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time: nothing may rest on a read returning a whole line.
			got, err := tc.read(iotest.OneByteReader(strings.NewReader(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if s := formatSeries(got); s != want {
				t.Errorf("got  %s\nwant %s", s, want)
			}
		})
	}
}

func TestBadUploadsNameTheLine(t *testing.T) {
	const head = "series_id,timestamp,value\n"
	tests := []struct {
		name string
		read func(io.Reader) ([]BatchSeries, error)
		body string
		want map[string]string // field → part of its problem
	}{
		{"empty csv", ReadCSVUpload, "", map[string]string{"header": "empty"}},
		{"header only", ReadCSVUpload, head, map[string]string{"body": "no rows"}},
		{"no header", ReadCSVUpload, "a,2024-01-01,1\n", map[string]string{"header": "is missing"}},
		{"no value column", ReadCSVUpload, "series_id,timestamp\n", map[string]string{"header": "has no value column"}},
		{"unknown column", ReadCSVUpload, "series_id,timestamp,value,colour\n", map[string]string{"header": `column "colour" is not known`}},
		{"column twice", ReadCSVUpload, "series_id,unique_id,timestamp,value\n", map[string]string{"header": "names the series_id column twice"}},
		{"not a number", ReadCSVUpload, head + "a,2024-01-01,1\na,2024-01-02,abc\n", map[string]string{"line 3": `value "abc" is not a number`}},
		{"NaN", ReadCSVUpload, head + "a,2024-01-01,NaN\n", map[string]string{"line 2": `value "NaN" is not a number`}},
		{"infinity", ReadCSVUpload, head + "a,2024-01-01,+Inf\n", map[string]string{"line 2": `value "+Inf" is not a number`}},
		{"huge", ReadCSVUpload, head + "a,2024-01-01,1e400\n", map[string]string{"line 2": "value 1e400 is out of range"}},
		{"hex", ReadCSVUpload, head + "a,2024-01-01,0x1p-2\n", map[string]string{"line 2": `value "0x1p-2" is not a number`}},
		{"infinity spelt out", ReadCSVUpload, head + "a,2024-01-01,-infinity\n", map[string]string{"line 2": `value "-infinity" is not a number`}},
		{"ndjson huge", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01","value":-1e999}`, map[string]string{"line 1": "value -1e999 is out of range"}},
		{"ndjson bool value", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01","value":true}`, map[string]string{"line 1": "value true is not a number"}},
		{"bad timestamp", ReadCSVUpload, head + "a,yesterday,1\n", map[string]string{"line 2": `timestamp "yesterday" is not an RFC 3339 time`}},
		{"empty series id", ReadCSVUpload, head + ",2024-01-01,1\n", map[string]string{"line 2": "series_id is empty"}},
		{"short row", ReadCSVUpload, head + "a,2024-01-01\n", map[string]string{"line 2": "has 2 fields but the header has 3"}},
		{"bad quotes", ReadCSVUpload, head + "a,\"2024-01-01,1\n", map[string]string{"line 2": "is not valid CSV"}},
		{"duplicate timestamp", ReadCSVUpload, head + "a,2024-01-01,1\nb,2024-01-01,1\na,2024-01-02,2\na,2024-01-01T00:00:00Z,3\n",
			map[string]string{"line 5": `series "a" has timestamp 2024-01-01T00:00:00Z again (also on line 2)`}},
		{"empty ndjson", ReadNDJSONUpload, "\n\n", map[string]string{"body": "is empty"}},
		{"ndjson not an object", ReadNDJSONUpload, `[1,2]`, map[string]string{"line 1": "must be"}},
		{"ndjson string value", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01","value":"1"}`, map[string]string{"line 1": `value "1" is not a number`}},
		{"ndjson no value", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01"}`, map[string]string{"line 1": "has no value"}},
		{"ndjson no series", ReadNDJSONUpload, "\n" + `{"timestamp":"2024-01-01","value":1}`, map[string]string{"line 2": "has no series_id"}},
		{"ndjson numeric series id", ReadNDJSONUpload, `{"series_id":7,"timestamp":"2024-01-01","value":1}`, map[string]string{"line 1": "series_id must be a string"}},
		{"ndjson unknown field", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01","value":1,"colour":"red"}`, map[string]string{"line 1": "colour is not a known field"}},
		{"ndjson key twice", ReadNDJSONUpload, `{"series_id":"a","timestamp":"2024-01-01","value":1,"value":2}`, map[string]string{"line 1": "more than once"}},
		{"ndjson line too long", ReadNDJSONUpload, `{"series_id":"` + strings.Repeat("a", MaxUploadLine) + `"}`, map[string]string{"line 1": "longer than"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.read(strings.NewReader(tc.body))
			var f *Failure
			if !errors.As(err, &f) || f.Code != CodeInvalid {
				t.Fatalf("error %v; want an invalid Failure", err)
			}
			for field, part := range tc.want {
				if !strings.Contains(f.Problems[field], part) {
					t.Errorf("problems %v; want %s to say %q", f.Problems, field, part)
				}
			}
		})
	}
}

func TestUploadProblemsAreBounded(t *testing.T) {
	body := "series_id,timestamp,value\n" + strings.Repeat("a,2024-01-01,x\n", 10_000)
	_, err := ReadCSVUpload(strings.NewReader(body))
	var f *Failure
	if !errors.As(err, &f) || len(f.Problems) != maxBatchProblems {
		t.Fatalf("error %v; want %d problems", err, maxBatchProblems)
	}
}

func TestUploadReadErrorsAreReturnedAsThemselves(t *testing.T) {
	cut := errors.New("connection cut")
	for name, read := range map[string]func(io.Reader) ([]BatchSeries, error){"csv": ReadCSVUpload, "ndjson": ReadNDJSONUpload} {
		t.Run(name, func(t *testing.T) {
			for _, sent := range []string{"", "series_id,timestamp,value\na,2024-01-01,1\n"} {
				_, err := read(io.MultiReader(strings.NewReader(sent), iotest.ErrReader(cut)))
				var f *Failure
				if !errors.Is(err, cut) || errors.As(err, &f) {
					t.Errorf("after %q: error %v; want the read error, not a Failure", sent, err)
				}
			}
		})
	}
}

func TestUploadSeriesAndRowsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("series_id,timestamp,value\n")
	for i := range MaxBatchSeries + 1 {
		fmt.Fprintf(&b, "s%d,2024-01-01,1\n", i)
	}
	_, err := ReadCSVUpload(strings.NewReader(b.String()))
	if want := fmt.Sprintf("line %d", MaxBatchSeries+2); !strings.Contains(failureProblems(err)[want], "one more than") {
		t.Errorf("%d series: %v; want %s refused", MaxBatchSeries+1, err, want)
	}

	b.Reset()
	b.WriteString("series_id,timestamp,value\n")
	start := date("2000-01-01")
	for i := range MaxValues + 1 {
		fmt.Fprintf(&b, "a,%s,1\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
	}
	_, err = ReadCSVUpload(strings.NewReader(b.String()))
	if want := fmt.Sprintf("line %d", MaxValues+2); !strings.Contains(failureProblems(err)[want], "more than the") {
		t.Errorf("%d rows: %v; want %s refused", MaxValues+1, err, want)
	}
}

func TestUploadParams(t *testing.T) {
	intp := func(i int) *int { return &i }
	tests := []struct {
		query   string
		want    UploadParams
		problem string // field that has a problem; "" = valid
	}{
		{"method=naive&horizon=3&levels=80,%2095&season_length=12", UploadParams{Method: "naive", Horizon: intp(3), Levels: []float64{80, 95}, SeasonLength: intp(12)}, ""},
		{"horizon=3", UploadParams{Horizon: intp(3)}, ""},
		{"horizon=3&save_models=true", UploadParams{Horizon: intp(3), SaveModels: true}, ""},
		{"save_models=yes", UploadParams{}, "save_models"},
		{"horizon=2&windows=3&step=2&methods=naive,drift", UploadParams{Horizon: intp(2), Windows: intp(3), Step: intp(2), Methods: []string{"naive", "drift"}}, ""},
		{"horizon=2&windows=3&methods=naive,%20drift", UploadParams{Horizon: intp(2), Windows: intp(3), Methods: []string{"naive", "drift"}}, ""},
		{"windows=three", UploadParams{}, "windows"},
		{"horizon=2&methods=naive,drift", UploadParams{}, "methods"},
		{"horizon=2&step=2", UploadParams{}, "step"},
		{"horizon=three", UploadParams{}, "horizon"},
		{"horizon=3&horizon=4", UploadParams{}, "horizon"},
		{"season_length=1.5", UploadParams{}, "season_length"},
		{"season_length=0", UploadParams{}, "season_length"},
		{"season_length=1001", UploadParams{}, "season_length"},
		{"levels=80,NaN", UploadParams{}, "levels"},
		{"levels=80,,95", UploadParams{}, "levels"},
		{"colour=red", UploadParams{}, "colour"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseUploadParams(q)
			if tc.problem != "" {
				if _, ok := failureProblems(err)[tc.problem]; !ok {
					t.Fatalf("error %v; want a problem with %s", err, tc.problem)
				}
				return
			}
			if err != nil || fmt.Sprint(got.Method, deref(got.Horizon), got.Levels, deref(got.SeasonLength), got.SaveModels, deref(got.Windows), deref(got.Step), got.Methods) !=
				fmt.Sprint(tc.want.Method, deref(tc.want.Horizon), tc.want.Levels, deref(tc.want.SeasonLength), tc.want.SaveModels, deref(tc.want.Windows), deref(tc.want.Step), tc.want.Methods) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestUploadBatchIsValidatedNamingSeriesByID(t *testing.T) {
	three := 3
	season := 4
	series := []BatchSeries{
		{Name: "fine", Values: Values{1, 2, 3}, Timestamps: []time.Time{date("2024-01-01"), date("2024-01-02"), date("2024-01-03")}},
		{Name: "bad name!", Values: Values{1, 2}, Timestamps: []time.Time{date("2024-01-01"), date("2024-01-02")}},
		{Name: "single", Values: Values{1}, Timestamps: []time.Time{date("2024-01-01")}},
		{Name: "empty", Values: Values{math.NaN(), math.NaN()}, Timestamps: []time.Time{date("2024-01-01"), date("2024-01-02")}},
	}
	req := UploadParams{Horizon: &three, SeasonLength: &season}.Batch(series)
	for _, s := range req.Series {
		if s.SeasonLength == nil || *s.SeasonLength != 4 {
			t.Fatalf("series %s: season length %v; want the query's 4", s.Name, s.SeasonLength)
		}
	}
	p := failureProblems(req.ValidateUpload())
	for _, field := range []string{`series "bad name!".name`, `series "single".timestamps`, `series "empty".values`} {
		if _, ok := p[field]; !ok {
			t.Errorf("problems %v; want one for %s", p, field)
		}
	}
	if _, ok := p[`series "fine".values`]; ok || len(p) != 3 {
		t.Errorf("problems %v; want exactly the three bad series", p)
	}
}

// BenchmarkReadCSVUpload reads an upload of 1,000 monthly series of 120 observations (about
// 3.6 MB), rows interleaved: the parse rate must stay far above the minimum upload rate.
func BenchmarkReadCSVUpload(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("series_id,timestamp,value\n")
	start := date("2010-01-01")
	for m := range 120 {
		ts := start.AddDate(0, m, 0).Format(time.DateOnly)
		for s := range 1000 {
			fmt.Fprintf(&sb, "store-%04d,%s,%d.%02d\n", s, ts, 100+s+m, m%100)
		}
	}
	body := sb.String()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		series, err := ReadCSVUpload(strings.NewReader(body))
		if err != nil || len(series) != 1000 {
			b.Fatalf("%d series, %v", len(series), err)
		}
	}
}
