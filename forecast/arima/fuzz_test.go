package arima

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
)

// FuzzFit fits fixed and automatic models to arbitrary series: no panic, and every model
// returned has finite statistics and forecasts.
//
//	go test -run '^$' -fuzz FuzzFit -fuzztime 60s ./forecast/arima
func FuzzFit(f *testing.F) {
	f.Add([]byte{0, 1, 0, 3, 0, 2, 0, 5, 0, 4, 0, 6, 0, 5, 0, 8, 0, 7, 0, 9, 0, 8, 0, 11}, uint8(1), uint8(0), uint8(1), uint8(1))
	f.Add([]byte{255, 255, 0, 0, 255, 255, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, uint8(4), uint8(2), uint8(1), uint8(0))
	f.Add(make([]byte, 40), uint8(12), uint8(1), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, period, p, d, q uint8) {
		y := make([]float64, 0, len(data)/2)
		for i := 0; i+1 < len(data) && len(y) < 80; i += 2 {
			y = append(y, float64(int16(binary.LittleEndian.Uint16(data[i:]))))
		}
		m := int(period%13) + 1
		ctx := context.Background()
		spec := Spec{Order: Order{int(p % 4), int(d % 3), int(q % 3)}, Period: m, Constant: p%2 == 0}
		if m > 1 && period%3 == 0 {
			spec.Seasonal = Order{int(p % 2), int(d % 2), int(q % 2)}
		}
		model, err := Fit(ctx, y, spec, nil)
		checkFuzzModel(t, model, err)
		model, err = Auto(ctx, y, m, AutoOptions{}, nil)
		checkFuzzModel(t, model, err)
	})
}

func checkFuzzModel(t *testing.T, m *Model, err error) {
	if err != nil {
		return
	}
	if !m.finite() {
		t.Fatalf("non-finite model: %+v", m)
	}
	mean, se, err := m.Forecast(6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range mean {
		if math.IsNaN(mean[i]) || math.IsInf(mean[i], 0) || math.IsNaN(se[i]) || math.IsInf(se[i], 0) {
			t.Fatalf("%s: forecast %v ± %v", m.Spec, mean, se)
		}
	}
}
