package forecast

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// An ARIMA forecast whose covariance propagation would cost more than maxARIMAForecastWork
// (horizon × state dimension²) is refused before it starts, naming the steps that can be
// forecast; a seasonal differencing of period 400 makes a state of 401 dimensions.
func TestLongARIMAForecastsOfLargeStatesAreRefused(t *testing.T) {
	y := make([]float64, 820)
	for i := range y {
		y[i] = 100 + 10*math.Sin(2*math.Pi*float64(i)/400) + float64(i%7)
	}
	m, err := Fit(context.Background(), y, Spec{Method: MethodARIMA, SeasonLength: 400,
		Options: Options{Order: []int{0, 0, 0}, SeasonalOrder: []int{0, 1, 0}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const fits = maxARIMAForecastWork / (401 * 401) // 3109
	_, err = m.Forecast(fits+1, []float64{80})
	if he := (*HorizonError)(nil); !errors.Is(err, ErrInvalidSpec) || !errors.As(err, &he) || he.Fits != fits ||
		!strings.Contains(err.Error(), "a state of 401 dimensions") || !strings.Contains(err.Error(), "a horizon of at most 3109 can be forecast") {
		t.Fatalf("forecast of %d steps: %v; want ErrInvalidSpec naming 401 dimensions and 3109 steps", fits+1, err)
	}
	if res, err := m.Forecast(800, []float64{80}); err != nil || len(res.Point) != 800 {
		t.Fatalf("forecast of 800 steps: %v", err)
	}
}
