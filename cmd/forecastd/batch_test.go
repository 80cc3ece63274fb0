package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forecastd/forecastd/messages"
)

// batchOut is an element of the output array as a client reads it.
type batchOut struct {
	Name      string    `json:"name"`
	Method    string    `json:"method"`
	Point     []float64 `json:"point"`
	Intervals map[string]struct {
		Lower, Upper []float64
	} `json:"intervals"`
	FitSeconds *float64 `json:"fit_seconds"`
	Error      string   `json:"error"`
}

// runBatchFiles runs 'forecastd batch' on input (a testdata file name, or inline JSON when it
// starts with '[' or is empty) with extra flags, and returns the run's error, the decoded output
// (nil when no output file was written) and what went to stderr.
func runBatchFiles(t *testing.T, ctx context.Context, input string, flags ...string) ([]batchOut, string, error) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join("testdata", input)
	if input == "" || !strings.HasSuffix(input, ".json") {
		in = filepath.Join(dir, "in.json")
		if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.json")
	var stdout, stderr bytes.Buffer
	err := runBatch(ctx, append([]string{"--input", in, "--output", out}, flags...), &stdout, &stderr)
	if stdout.Len() > 0 {
		t.Errorf("stdout = %q, want nothing when the output is a file", stdout.String())
	}
	// Only the output file may be left behind: never a temporary file.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "in.json" && e.Name() != "out.json" {
			t.Errorf("left behind %s", e.Name())
		}
	}
	b, readErr := os.ReadFile(out)
	if errors.Is(readErr, os.ErrNotExist) {
		return nil, stderr.String(), err
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	var results []batchOut
	if jerr := json.Unmarshal(b, &results); jerr != nil {
		t.Fatalf("output is not a JSON array of results: %v\n%s", jerr, b)
	}
	return results, stderr.String(), err
}

func TestBatch(t *testing.T) {
	type check func(t *testing.T, results []batchOut)
	tests := []struct {
		name    string
		input   string
		flags   []string
		wantErr string // empty: the run succeeds
		check   check
	}{
		{
			name: "naive", input: "batch_good.json", flags: []string{"--method", "naive"},
			check: func(t *testing.T, rs []batchOut) {
				wantNames(t, rs, "walk", "weekly", "gaps")
				walk := rs[0]
				if walk.Error != "" || walk.Method != "Naive" {
					t.Fatalf("walk = %+v, want a Naive forecast", walk)
				}
				near(t, "walk point", walk.Point, []float64{5, 5, 5})
				// The one-step differences are all 1, so the h-step standard error is sqrt(h).
				z80, z95 := 1.2815515655446004, 1.959963984540054
				near(t, "walk 80 lower", walk.Intervals["80"].Lower, []float64{5 - z80, 5 - z80*math.Sqrt2, 5 - z80*math.Sqrt(3)})
				near(t, "walk 95 upper", walk.Intervals["95"].Upper, []float64{5 + z95, 5 + z95*math.Sqrt2, 5 + z95*math.Sqrt(3)})
				if len(walk.Intervals) != 2 {
					t.Errorf("walk intervals %v, want 80 and 95", walk.Intervals)
				}
				if walk.FitSeconds == nil || *walk.FitSeconds < 0 {
					t.Errorf("walk fit_seconds = %v, want a duration", walk.FitSeconds)
				}
				near(t, "weekly point", rs[1].Point, []float64{8, 8, 8, 8, 8, 8})
				// Missing values are interpolated; the last observation is still 6.
				near(t, "gaps point", rs[2].Point, []float64{6, 6})
			},
		},
		{
			name: "snaive", input: "batch_good.json", flags: []string{"--method", "snaive", "--levels", "50"},
			check: func(t *testing.T, rs []batchOut) {
				weekly := rs[1]
				if weekly.Method != "Seasonal naive" {
					t.Errorf("method = %q, want Seasonal naive", weekly.Method)
				}
				near(t, "weekly point", weekly.Point, []float64{5, 6, 7, 8, 5, 6})
				if _, ok := weekly.Intervals["50"]; !ok || len(weekly.Intervals) != 1 {
					t.Errorf("intervals %v, want only 50", weekly.Intervals)
				}
			},
		},
		{
			name: "drift", input: "batch_good.json", flags: []string{"--method", "drift", "--workers", "1"},
			check: func(t *testing.T, rs []batchOut) {
				if rs[0].Method != "Random walk with drift" {
					t.Errorf("method = %q", rs[0].Method)
				}
				near(t, "walk point", rs[0].Point, []float64{6, 7, 8})
			},
		},
		{
			name: "bad items are reported and the run goes on", input: "batch_bad.json", flags: []string{"--method", "naive", "--workers", "3"},
			check: func(t *testing.T, rs []batchOut) {
				want := []struct{ name, err string }{
					{"", "name is required"},
					{"no-values", "values are required"},
					{"empty-values", "values are required"},
					{"no-horizon", "horizon must be an integer from 1 to 10000, got 0"},
					{"huge-horizon", "horizon must be an integer from 1 to 10000, got 10001"},
					{"negative-season", "season_length must not be negative"},
					{"text-value", "values[1] must be a number (or null in values), got a JSON string"},
					{"huge-value", "values[1] must be a number of magnitude below about 1.8e308, got 1e400"},
					{"text-horizon", "horizon must be an integer, got a JSON string"},
					{"", "a series must be a JSON object, got a number"},
					{"all-missing", "invalid data"},
					{"one-value", "too few observations"},
				}
				if len(rs) != len(want)+1 {
					t.Fatalf("%d results, want %d", len(rs), len(want)+1)
				}
				for i, w := range want {
					if rs[i].Name != w.name || !strings.Contains(rs[i].Error, w.err) || rs[i].Point != nil {
						t.Errorf("result %d = %+v, want name %q and an error containing %q", i, rs[i], w.name, w.err)
					}
				}
				if fine := rs[len(want)]; fine.Error != "" || len(fine.Point) != 1 || fine.Point[0] != 3 {
					t.Errorf("fine = %+v, want point [3]", fine)
				}
			},
		},
		{
			name: "empty array", input: "[]",
			check: func(t *testing.T, rs []batchOut) {
				if len(rs) != 0 {
					t.Errorf("results %v, want none", rs)
				}
			},
		},
		{name: "truncated input", input: "batch_truncated.json", wantErr: "unexpected EOF"},
		{name: "empty input", input: "", wantErr: "empty"},
		{name: "object instead of array", input: `{"name": "a"}`, wantErr: "want a JSON array of series, got an object"},
		{name: "syntax error in an item", input: `[{"name": "a", "values": [1,, 2]}]`, wantErr: "series 1: malformed JSON at line 1, column 29: invalid character ','"},
		{name: "syntax error on a later line", input: "[{\"name\": \"a\", \"values\": [1]},\n  {\"name\": \"b\",\n   \"values\": [1, NaN]}]",
			wantErr: "series 2: malformed JSON at line 3, column 18: invalid character 'N' looking for beginning of value: NaN and Infinity are not JSON"},
		{name: "comma missing between series", input: "[{\"name\": \"a\", \"values\": [1]}\n {\"name\": \"b\"}]", wantErr: "series 2: malformed JSON at line 2, column 2: a comma is missing between two series"},
		{name: "comma before the first series", input: `[,{"name": "a", "values": [1]}]`, wantErr: "series 1: malformed JSON at line 1, column 2: invalid character ','"},
		{name: "a brace too many", input: `[{"name": "a", "values": [1]}}]`, wantErr: "malformed JSON at line 1, column 30: invalid character '}' after array element"},
		{name: "a comment", input: "[{\"name\": \"a\", \"values\": [1]} // daily\n]", wantErr: "series 2: malformed JSON at line 1, column 31: JSON has no comments"},
		{name: "column in characters", input: `[{"name": "Zürich", "values": [1,, 2]}]`, wantErr: "series 1: malformed JSON at line 1, column 34: invalid character ','"},
		{name: "trailing comma", input: `[{"name": "a", "values": [1],}]`, wantErr: "series 1: malformed JSON at line 1, column 30: invalid character '}' looking for beginning of object key string: a comma before a closing bracket"},
		{name: "data after the array", input: `[] []`, wantErr: "malformed JSON at line 1, column 4: unexpected data after the array"},
		{name: "missing input file", input: "batch_nonexistent.json", wantErr: "no such file"},
		{name: "output directory missing", input: "batch_good.json", flags: []string{"--output", "/nonexistent/dir/out.json"}, wantErr: "output /nonexistent/dir/out.json"},
		{name: "levels out of range", input: "batch_good.json", flags: []string{"--levels", "80,100"}, wantErr: `--levels: "100" is not a percentage`},
		{name: "levels zero", input: "batch_good.json", flags: []string{"--levels", "0"}, wantErr: `--levels: "0"`},
		{name: "levels not numbers", input: "batch_good.json", flags: []string{"--levels", "80;95"}, wantErr: `--levels: "80;95"`},
		{name: "levels empty", input: "batch_good.json", flags: []string{"--levels", ""}, wantErr: `--levels: ""`},
		{name: "levels repeated", input: "batch_good.json", flags: []string{"--levels", "80, 80"}, wantErr: "--levels: 80 is given twice"},
		{name: "levels too many", input: "batch_good.json", flags: []string{"--levels", "1,2,3,4,5,6,7,8,9,10,11"}, wantErr: "at most 10 levels"},
		{name: "unknown method", input: "batch_good.json", flags: []string{"--method", "prophet"}, wantErr: `--method must be one of auto, ets`},
		{name: "no workers", input: "batch_good.json", flags: []string{"--workers", "0"}, wantErr: "--workers must be at least 1"},
		{name: "stray argument", input: "batch_good.json", flags: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, stderr, err := runBatchFiles(t, t.Context(), tt.input, tt.flags...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if rs != nil {
					t.Errorf("a failed run wrote an output file: %+v", rs)
				}
				return
			}
			if err != nil {
				t.Fatalf("runBatch: %v\nstderr: %s", err, stderr)
			}
			if rs == nil {
				t.Fatal("no output file")
			}
			if !strings.Contains(stderr, fmt.Sprintf("%d/%d series", len(rs), len(rs))) {
				t.Errorf("stderr = %q, want a final progress line", stderr)
			}
			tt.check(t, rs)
		})
	}
}

// The model families still landing in the engine may answer ErrUnsupported: whatever Fit
// answers, every series must come back as a forecast or an item error, never a failed run.
func TestBatchEveryMethod(t *testing.T) {
	for _, method := range []string{"auto", "ets", "arima", "theta", "mean"} {
		t.Run(method, func(t *testing.T) {
			rs, _, err := runBatchFiles(t, t.Context(), "batch_good.json", "--method", method)
			if err != nil {
				t.Fatalf("runBatch: %v", err)
			}
			wantNames(t, rs, "walk", "weekly", "gaps")
			horizons := []int{3, 6, 2}
			for i, r := range rs {
				switch {
				case r.Error != "":
					if r.Point != nil || r.Method != "" {
						t.Errorf("%s: error %q with a forecast", r.Name, r.Error)
					}
				case len(r.Point) != horizons[i] || r.Method == "" || len(r.Intervals) != 2:
					t.Errorf("%s = %+v, want %d points, a method and 2 intervals", r.Name, r, horizons[i])
				}
			}
		})
	}
}

func TestBatchKeepsInputOrder(t *testing.T) {
	const n = 300
	items := make([]map[string]any, n)
	for i := range items {
		// Lengths vary so fits finish out of order.
		values := make(messages.Values, 2+(n-i)%37)
		for j := range values {
			values[j] = float64(j)
		}
		values[len(values)-1] = float64(i)
		items[i] = map[string]any{"name": fmt.Sprintf("s%03d", i), "values": values, "horizon": 1 + i%5}
	}
	in, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	rs, _, err := runBatchFiles(t, t.Context(), string(in), "--method", "naive", "--workers", "8")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Fatalf("%d results, want %d", len(rs), n)
	}
	for i, r := range rs {
		if r.Name != fmt.Sprintf("s%03d", i) || len(r.Point) != 1+i%5 || r.Point[0] != float64(i) {
			t.Fatalf("result %d = %s %v, want s%03d with point %d", i, r.Name, r.Point, i, i)
		}
	}
}

func TestBatchStandardStreams(t *testing.T) {
	in := strings.NewReader(`[{"name": "a", "values": [3, null, 4], "horizon": 2}]`)
	var stdout, stderr bytes.Buffer
	err := runBatchIO(t.Context(), []string{"--input", "-", "--output", "-", "--method", "naive", "--levels", "99.5"}, in, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	var rs []batchOut
	if err := json.Unmarshal(stdout.Bytes(), &rs); err != nil {
		t.Fatalf("stdout is not the result array: %v\n%s", err, stdout.String())
	}
	if len(rs) != 1 || rs[0].Name != "a" {
		t.Fatalf("results %+v", rs)
	}
	near(t, "point", rs[0].Point, []float64{4, 4})
	if _, ok := rs[0].Intervals["99.5"]; !ok {
		t.Errorf("intervals %v, want the key 99.5", rs[0].Intervals)
	}
}

func TestBatchInterrupted(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stderr bytes.Buffer
	err := runBatch(ctx, []string{"--input", "testdata/batch_good.json", "--output", out}, &bytes.Buffer{}, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "previous" {
		t.Errorf("output = %q, want the previous file untouched", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left %d files in the output directory, want only the previous output", len(entries))
	}
}

func TestBatchHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := runBatch(t.Context(), []string{"--help"}, &bytes.Buffer{}, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: forecastd batch", "-input", "-output", "-method", "-levels", "-workers"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestBatchRequiredFlags(t *testing.T) {
	for _, args := range [][]string{{"--output", "x.json"}, {"--input", "x.json"}} {
		err := runBatch(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "is required") {
			t.Errorf("runBatch(%q) = %v, want a required-flag error", args, err)
		}
	}
}

func wantNames(t *testing.T, rs []batchOut, names ...string) {
	t.Helper()
	got := make([]string, len(rs))
	for i, r := range rs {
		got[i] = r.Name
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("names %q, want %q", got, names)
	}
}

func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

// Cancelled while forecasting, the run stops and never writes the closing bracket.
func TestForecastAllCancelled(t *testing.T) {
	items := make([]batchItem, 100)
	for i := range items {
		items[i] = batchItem{Name: "s", Values: messages.Values{1, 2, 3}, Horizon: 1}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out bytes.Buffer
	opts := batchOptions{Method: "naive", Levels: []float64{80}, Workers: 4}
	err := forecastAll(ctx, items, opts, &out, newProgress(&bytes.Buffer{}, len(items)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if strings.Contains(out.String(), "]") {
		t.Errorf("wrote a complete array after cancellation: %q", out.String())
	}
}

func TestBatchLevelsMayBeFractions(t *testing.T) {
	if got, err := parseLevels("0.8, 0.95"); err != nil || !slices.Equal(got, []float64{80, 95}) {
		t.Errorf(`parseLevels("0.8, 0.95") = %v, %v; want [80 95]`, got, err)
	}
	if got, err := parseLevels("0.8,95"); err == nil {
		t.Errorf(`parseLevels("0.8,95") = %v; want an error (fractions mixed with percentages)`, got)
	}
}

// A malformed byte past what the reader keeps of a long input is still placed by line and
// column: the lines and characters of the bytes it let go of are counted, also after a series
// longer than what it keeps, and on one long line.
func TestReadBatchPlacesAMalformedByteFarIntoTheInput(t *testing.T) {
	seriesLines := func(b *strings.Builder, n int) {
		for i := range n {
			fmt.Fprintf(b, "  {\"name\": \"s%05d\", \"values\": [1, 2, 3, 4, 5, 6]},\n", i)
		}
	}
	long := func(b *strings.Builder, sep string) { // one series of about 1.5 MiB of values
		b.WriteString(`{"name": "long", "values": [`)
		for i := range 300_000 {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString("1.5")
		}
		b.WriteString("]},")
	}
	const bad = `  {"name": "bad", "values": [1, 2,, 3]}` // the second comma is column 35
	tests := []struct {
		name string
		in   func(*strings.Builder)
		want string
	}{
		{"many lines", func(b *strings.Builder) {
			b.WriteString("[\n")
			seriesLines(b, 60_000)
			b.WriteString(bad + "\n]\n")
		}, "series 60001: malformed JSON at line 60002, column 35: invalid character ','"},
		{"after a long series", func(b *strings.Builder) {
			b.WriteString("[")
			long(b, ", ")
			b.WriteString("\n")
			seriesLines(b, 30_000)
			b.WriteString(bad + "\n]\n")
		}, "series 30002: malformed JSON at line 30002, column 35: invalid character ','"},
		{"one long line", func(b *strings.Builder) {
			b.WriteString("[")
			long(b, ",")
			long(b, ",")
			b.WriteString(`{"name": "bad", "values": [1,, 2]}]`)
		}, "series 3: malformed JSON at line 1, column "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in strings.Builder
			tt.in(&in)
			if in.Len() < 2*recentWindow {
				t.Fatalf("input of %d bytes; want more than twice the reader's window", in.Len())
			}
			// A bytes.Reader fills every read, as a file does: the decoder's reads ahead reach
			// the reader whole.
			_, err := readBatch(t.Context(), bytes.NewReader([]byte(in.String())))
			want := tt.want
			if tt.name == "one long line" {
				want += fmt.Sprint(strings.LastIndex(in.String(), ",,")+2) + ": invalid character ','"
			}
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("err = %.200v, want it to start %q", err, want)
			}
		})
	}
}
