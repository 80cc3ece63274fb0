package forecast

import (
	"context"
	"math"
	"testing"
)

// benchSeries is ten years of a noisy monthly series, the size of a typical client fit.
func benchSeries(n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = 100 + 0.3*float64(i) + 10*math.Sin(2*math.Pi*float64(i)/12) + 3*math.Sin(float64(i*i))
	}
	return y
}

func benchmarkFit(b *testing.B, method string, y []float64) {
	spec := Spec{Method: method, SeasonLength: 12}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(ctx, y, spec, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitNaive(b *testing.B)  { benchmarkFit(b, MethodNaive, benchSeries(120)) }
func BenchmarkFitSNaive(b *testing.B) { benchmarkFit(b, MethodSNaive, benchSeries(120)) }
func BenchmarkFitDrift(b *testing.B)  { benchmarkFit(b, MethodDrift, benchSeries(120)) }
func BenchmarkFitMean(b *testing.B)   { benchmarkFit(b, MethodMean, benchSeries(120)) }
func BenchmarkFitAuto(b *testing.B)   { benchmarkFit(b, MethodAuto, benchSeries(120)) }

// BenchmarkFitSNaiveMissing includes the seasonal interpolation of a few gaps.
func BenchmarkFitSNaiveMissing(b *testing.B) {
	y := benchSeries(120)
	for _, i := range []int{10, 11, 50, 90, 91, 92} {
		y[i] = math.NaN()
	}
	benchmarkFit(b, MethodSNaive, y)
}

func benchmarkForecast(b *testing.B, method string) {
	m, err := Fit(context.Background(), benchSeries(120), Spec{Method: method, SeasonLength: 12}, nil)
	if err != nil {
		b.Fatal(err)
	}
	levels := []float64{80, 95}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Forecast(24, levels); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForecastSNaive(b *testing.B) { benchmarkForecast(b, MethodSNaive) }
func BenchmarkForecastDrift(b *testing.B)  { benchmarkForecast(b, MethodDrift) }
func BenchmarkForecastMean(b *testing.B)   { benchmarkForecast(b, MethodMean) }

func BenchmarkCodecRoundTrip(b *testing.B) {
	m, err := Fit(context.Background(), benchSeries(120), Spec{Method: MethodSNaive, SeasonLength: 12}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		enc, err := Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// businessSeries are 30 series of the lengths a batch of business data has: 10 yearly of 20–40
// values, 10 quarterly of 24–72 and 10 monthly of 48–144, each a noisy trend and season.
func businessSeries() (ys [][]float64, seasons []int) {
	for _, kind := range []struct{ m, lo, hi int }{{1, 20, 40}, {4, 24, 72}, {12, 48, 144}} {
		for k := range 10 {
			n := kind.lo + k*(kind.hi-kind.lo)/9
			y := make([]float64, n)
			for i := range y {
				season := 0.0
				if kind.m > 1 {
					season = 8 * math.Sin(2*math.Pi*float64(i)/float64(kind.m))
				}
				y[i] = 100 + float64(k-5)*0.2*float64(i) + season + 4*math.Sin(float64(i*i+k))
			}
			ys, seasons = append(ys, y), append(seasons, kind.m)
		}
	}
	return ys, seasons
}

// BenchmarkFitAutoBusiness fits auto to each of businessSeries; ns/op is for all 30.
func BenchmarkFitAutoBusiness(b *testing.B) {
	ys, seasons := businessSeries()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for i, y := range ys {
			if _, err := Fit(ctx, y, Spec{Method: MethodAuto, SeasonLength: seasons[i]}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
