package forecast

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
)

// fuzzSeries turns fuzz bytes into a series. An even first byte reads small integers (255 is
// missing), which reach realistic series; an odd one reads raw float64 bits, which reach NaN,
// ±Inf, subnormals and values near the float64 limits.
func fuzzSeries(data []byte) []float64 {
	const maxLen = 2000
	if len(data) == 0 {
		return nil
	}
	var y []float64
	if data[0]%2 == 0 {
		for _, b := range data[1:min(len(data), maxLen+1)] {
			if b == 255 {
				y = append(y, math.NaN())
			} else {
				y = append(y, float64(int8(b)))
			}
		}
		return y
	}
	for b := data[1:]; len(b) >= 8 && len(y) < maxLen; b = b[8:] {
		y = append(y, math.Float64frombits(binary.LittleEndian.Uint64(b)))
	}
	return y
}

func fuzzBits(xs ...float64) []byte {
	b := []byte{1}
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// FuzzFit: any series, method, season length, horizon and level either errors with one of the
// package's sentinels or yields finite summaries and forecasts that survive encoding.
func FuzzFit(f *testing.F) {
	seasonal := []byte{0}
	for i := range 48 {
		seasonal = append(seasonal, byte(i%12*3+i/12))
	}
	for i := range Methods {
		f.Add(seasonal, uint8(i), int16(12), int32(24), 90.0)
		f.Add([]byte{0, 1, 2, 255, 4, 5}, uint8(i), int16(1), int32(10), 80.0)
	}
	f.Add([]byte{0, 7, 7, 7, 7, 7}, uint8(6), int16(1), int32(3), 95.0)                // constant drift
	f.Add([]byte{0, 255, 255, 255}, uint8(4), int16(1), int32(3), 95.0)                // all missing
	f.Add([]byte{}, uint8(4), int16(1), int32(3), 95.0)                                // empty
	f.Add([]byte{0, 1, 2}, uint8(5), int16(12), int32(3), 95.0)                        // too short for snaive
	f.Add([]byte{0, 1, 2, 3, 4}, uint8(4), int16(1), int32(0), 80.0)                   // h = 0
	f.Add([]byte{0, 1, 2, 3, 4}, uint8(4), int16(1), int32(math.MaxInt32), 80.0)       // huge h
	f.Add([]byte{0, 1, 2, 3, 4}, uint8(7), int16(-3), int32(5), 99.99999999999999)     // level near 100
	f.Add([]byte{0, 1, 2, 3, 4}, uint8(7), int16(1), int32(5), math.NaN())             // NaN level
	f.Add(fuzzBits(1e308, -1e308, 1e308), uint8(4), int16(1), int32(5), 80.0)          // overflow
	f.Add(fuzzBits(0, 1e307, 2e307), uint8(6), int16(1), int32(100), 80.0)             // drift overflow
	f.Add(fuzzBits(1, math.Inf(1), 3), uint8(4), int16(1), int32(5), 80.0)             // Inf
	f.Add(fuzzBits(5e-324, math.NaN(), 5e-324, 1), uint8(7), int16(2), int32(5), 1e-9) // subnormal

	f.Fuzz(checkFit)
}

// checkFit is FuzzFit's property; see there.
func checkFit(t *testing.T, data []byte, methodIdx uint8, season int16, h int32, level float64) {
	y := fuzzSeries(data)
	spec := Spec{Method: Methods[int(methodIdx)%len(Methods)], SeasonLength: int(season)}
	m, err := Fit(context.Background(), slices.Clone(y), spec, nil)
	if err != nil {
		unsupported := errors.Is(err, ErrUnsupported)
		baseline := spec.Method == MethodNaive || spec.Method == MethodSNaive || spec.Method == MethodDrift || spec.Method == MethodMean
		if unsupported && baseline {
			t.Fatalf("%s: baseline returned ErrUnsupported: %v", spec.Method, err)
		}
		if !unsupported && !errors.Is(err, ErrTooFewObservations) && !errors.Is(err, ErrInvalidData) && !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Fit(%v, %+v): error wraps no sentinel: %v", y, spec, err)
		}
		return
	}
	s := m.Summary()
	nums := []float64{s.LogLik, s.AIC, s.AICc, s.BIC, s.Sigma2}
	for _, v := range s.Params {
		nums = append(nums, v)
	}
	if !allFinite(nums) || s.N < 1 || s.N > len(y) || s.Missing < 0 || s.Sigma2 < 0 {
		t.Fatalf("Fit(%v, %+v): bad summary %+v", y, spec, s)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatalf("summary does not encode: %v", err)
	}

	levels := []float64{level, 80, 95}
	r, err := m.Forecast(int(h), levels)
	if h < 1 || h > MaxHorizon || !(level > 0 && level < 100) {
		if !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Forecast(%d, %v) err = %v, want ErrInvalidSpec", h, levels, err)
		}
		return
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidData) && !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Forecast(%d, %v): error wraps no sentinel: %v", h, levels, err)
		}
		return
	}
	if len(r.Point) != int(h) || !allFinite(r.Point) {
		t.Fatalf("Forecast(%d): point %v", h, r.Point)
	}
	for _, l := range levels {
		iv, ok := r.Intervals[LevelKey(l)]
		if !ok || len(iv.Lower) != int(h) || len(iv.Upper) != int(h) || !allFinite(iv.Lower) || !allFinite(iv.Upper) {
			t.Fatalf("Forecast(%d): interval %v: %+v", h, l, iv)
		}
		for i := range iv.Lower {
			if !(iv.Lower[i] <= r.Point[i] && r.Point[i] <= iv.Upper[i]) {
				t.Fatalf("Forecast(%d) step %d: %v not in [%v, %v]", h, i, r.Point[i], iv.Lower[i], iv.Upper[i])
			}
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("result does not encode: %v", err)
	}

	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(m)): %v", err)
	}
	if r2, err := d.Forecast(int(h), levels); err != nil || !reflect.DeepEqual(r2, r) {
		t.Fatalf("decoded model forecasts differently (err %v)", err)
	}
}
