package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
)

// arimaFixture is the part of the R reference fixture the wrapper tests use.
type arimaFixture struct {
	Name     string    `json:"name"`
	Period   int       `json:"period"`
	H        int       `json:"h"`
	Values   []float64 `json:"values"`
	ARIMA711 struct {
		Coef     map[string]float64 `json:"coef"`
		AICc     float64            `json:"aicc"`
		Forecast struct {
			Mean    []float64 `json:"mean"`
			Lower80 []float64 `json:"lower80"`
			Upper80 []float64 `json:"upper80"`
		} `json:"forecast"`
	} `json:"arima711"`
}

func loadARIMAFixtures(t *testing.T) []arimaFixture {
	t.Helper()
	b, err := os.ReadFile("testdata/r_forecast_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx []arimaFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

func TestARIMAFixedOrder(t *testing.T) {
	fx := loadARIMAFixtures(t)[1] // Seatbelts.drivers
	spec := Spec{Method: MethodARIMA, SeasonLength: fx.Period, Options: Options{Order: []int{7, 1, 1}}}
	var stages []Progress
	m, err := Fit(context.Background(), fx.Values, spec, func(p Progress) { stages = append(stages, p) })
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind() != "arima" {
		t.Errorf("kind %q", m.Kind())
	}
	s := m.Summary()
	if s.Method != "ARIMA(7,1,1)" || len(s.Params) != 8 || s.N != len(fx.Values) {
		t.Errorf("summary %+v", s)
	}
	for name, want := range fx.ARIMA711.Coef {
		if math.Abs(s.Params[name]-want) > 0.01 {
			t.Errorf("%s = %.4f, R %.4f", name, s.Params[name], want)
		}
	}
	if math.Abs(s.AICc-fx.ARIMA711.AICc) > 0.01 {
		t.Errorf("AICc %.3f, R %.3f", s.AICc, fx.ARIMA711.AICc)
	}
	if len(stages) == 0 || stages[0].Stage != "arima" {
		t.Errorf("progress %+v", stages)
	}
	res, err := m.Forecast(fx.H, []float64{80})
	if err != nil {
		t.Fatal(err)
	}
	iv := res.Intervals["80"]
	for i := range res.Point {
		for _, c := range [][2]float64{{res.Point[i], fx.ARIMA711.Forecast.Mean[i]}, {iv.Lower[i], fx.ARIMA711.Forecast.Lower80[i]}, {iv.Upper[i], fx.ARIMA711.Forecast.Upper80[i]}} {
			if math.Abs(c[0]-c[1]) > 0.01*math.Abs(c[1]) {
				t.Fatalf("step %d: %v, R %v", i+1, c[0], c[1])
			}
		}
	}
}

func TestARIMAAutoAndCodec(t *testing.T) {
	fx := loadARIMAFixtures(t)[0] // BJsales.lead
	m, err := Fit(context.Background(), fx.Values, Spec{Method: MethodARIMA, SeasonLength: fx.Period}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := m.Summary()
	if s.Method != "ARIMA(0,1,1) with drift" {
		t.Errorf("method %q, R picks ARIMA(0,1,1) with drift", s.Method)
	}
	if _, ok := s.Params["drift"]; !ok {
		t.Errorf("params %v lack drift", s.Params)
	}
	assertRoundTrip(t, m, 10, 80, 95)
	if _, err := Decode([]byte(`{"v":1,"kind":"arima","model":{"spec":{"order":{"p":1}},"coef":[]}}`)); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("inconsistent model decoded: %v", err)
	}
}

func TestARIMAErrors(t *testing.T) {
	y := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}
	ctx := context.Background()
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"too short", Options{Order: []int{7, 1, 1}}, ErrTooFewObservations},
		{"bad order length", Options{Order: []int{1, 1}}, ErrInvalidSpec},
		{"negative order", Options{Order: []int{1, -1, 0}}, ErrInvalidSpec},
		{"seasonal without order", Options{SeasonalOrder: []int{0, 1, 1}}, ErrInvalidSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(ctx, y[:10], Spec{Method: MethodARIMA, Options: tc.opts}, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	m, err := Fit(ctx, y, Spec{Method: MethodARIMA, Options: Options{Order: []int{1, 0, 0}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Summary().Method != "ARIMA(1,0,0) with non-zero mean" {
		t.Errorf("method %q", m.Summary().Method)
	}
	if _, err := m.Forecast(3, []float64{100}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("level 100: %v", err)
	}
}
