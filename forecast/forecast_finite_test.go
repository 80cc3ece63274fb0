package forecast

import (
	"context"
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// A forecast that grows past the float64 range far enough ahead (a multiplicative trend, or
// multiplicative errors whose variance compounds) is an ErrInvalidData naming the horizon that
// fits, never a Result holding Inf or NaN (which the wire would carry as null in a success);
// that horizon forecasts finitely.
func TestForecastsPastTheFloat64RangeAreRefused(t *testing.T) {
	growth := make([]float64, 36)
	for i := range growth {
		growth[i] = math.Pow(1.5, float64(i))
	}
	// The same series ending with three missing values: the model forecasts from its last
	// observation, three steps further back, and the horizon named counts from the series' end.
	missingTail := append(slices.Clone(growth), math.NaN(), math.NaN(), math.NaN())
	for _, tc := range []struct {
		name string
		y    []float64
		spec Spec
		h    int
	}{
		{"MMN", growth, Spec{Method: MethodETS, Options: Options{ETSSpec: "MMN"}}, 5000},
		{"MNN", growth, Spec{Method: MethodETS, Options: Options{ETSSpec: "MNN"}}, 10_000},
		{"MMN, missing tail", missingTail, Spec{Method: MethodETS, Options: Options{ETSSpec: "MMN"}}, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Fit(context.Background(), tc.y, tc.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Forecast(tc.h, []float64{80, 95})
			if !errors.Is(err, ErrInvalidData) {
				t.Fatalf("forecast of %d steps: %v; want ErrInvalidData", tc.h, err)
			}
			match := regexp.MustCompile(`a horizon of at most (\d+) can be forecast`).FindStringSubmatch(err.Error())
			if match == nil {
				t.Fatalf("%v: does not name the horizon that fits", err)
			}
			fits, _ := strconv.Atoi(match[1])
			res, err := m.Forecast(fits, []float64{80, 95})
			if err != nil {
				t.Fatalf("forecast of the %d steps said to fit: %v", fits, err)
			}
			if _, err := finite(res); err != nil || len(res.Point) != fits {
				t.Fatalf("forecast of %d steps: %d points, %v", fits, len(res.Point), err)
			}
			if _, err := m.Forecast(fits+1, []float64{80, 95}); err == nil {
				t.Errorf("forecast of %d steps, one past the horizon said to fit, succeeded", fits+1)
			}
		})
	}
}
