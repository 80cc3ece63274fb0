package arima

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// go test -run '^$' -bench . -benchtime 3x -count 5 ./forecast/arima
func BenchmarkARIMA711(b *testing.B) {
	for _, fx := range loadFixtures(b) {
		b.Run(fx.Name, func(b *testing.B) {
			spec := Spec{Order: Order{7, 1, 1}, Period: fx.Period}
			for b.Loop() {
				if _, err := Fit(context.Background(), fx.Values, spec, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAutoARIMA(b *testing.B) {
	for _, fx := range loadFixtures(b) {
		b.Run(fx.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Auto(context.Background(), fx.Values, fx.Period, AutoOptions{}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAutoARIMAExtra runs the 28 further R datasets of testdata/r_auto_extra.json.
func BenchmarkAutoARIMAExtra(b *testing.B) {
	raw, err := os.ReadFile("testdata/r_auto_extra.json")
	if err != nil {
		b.Fatal(err)
	}
	var series []struct {
		Name   string    `json:"name"`
		Period float64   `json:"period"`
		Values []float64 `json:"values"`
	}
	if err := json.Unmarshal(raw, &series); err != nil {
		b.Fatal(err)
	}
	for _, s := range series {
		m := max(1, int(math.Round(s.Period)))
		b.Run(s.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Auto(context.Background(), s.Values, m, AutoOptions{}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
