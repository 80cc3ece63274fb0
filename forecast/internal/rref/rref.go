// Package rref reads testdata/r_forecast_reference.json, the results of R's forecast package
// 8.20 that the engine's tests compare against. Each test package declares the fields it needs
// by embedding Series in its own struct; the file is read in one place.
package rref

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Forecast is one R forecast: point forecasts and 80% and 95% interval bounds.
type Forecast struct {
	Mean    []float64 `json:"mean"`
	Lower80 []float64 `json:"lower80"`
	Upper80 []float64 `json:"upper80"`
	Lower95 []float64 `json:"lower95"`
	Upper95 []float64 `json:"upper95"`
}

// Series is what every entry has: the series, its period and the forecast horizon R used.
type Series struct {
	Name   string    `json:"name"`
	Period int       `json:"period"`
	H      int       `json:"h"`
	Values []float64 `json:"values"`
}

// Path is the reference file, found relative to this source file so every package's tests can
// read it whatever their directory.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "r_forecast_reference.json")
}

// Load decodes the reference file into entries of type T (which embeds Series) and checks each
// entry is usable.
func Load[T interface{ series() Series }](tb testing.TB) []T {
	tb.Helper()
	b, err := os.ReadFile(Path())
	if err != nil {
		tb.Fatalf("read R reference: %v", err)
	}
	var out []T
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatalf("decode R reference: %v", err)
	}
	if len(out) == 0 {
		tb.Fatal("the R reference holds no series")
	}
	for _, e := range out {
		if s := e.series(); s.Name == "" || s.H < 1 || s.Period < 1 || len(s.Values) == 0 {
			tb.Fatalf("malformed R reference entry %q", s.Name)
		}
	}
	return out
}

func (s Series) series() Series { return s }
