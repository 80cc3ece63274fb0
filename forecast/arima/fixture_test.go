package arima

import (
	"encoding/json"
	"os"
	"testing"
)

// rForecast is a forecast block of the R reference fixture.
type rForecast struct {
	Mean    []float64 `json:"mean"`
	Lower80 []float64 `json:"lower80"`
	Upper80 []float64 `json:"upper80"`
	Lower95 []float64 `json:"lower95"`
	Upper95 []float64 `json:"upper95"`
}

// rFit is R's fit of one model: coefficients by name ({} or [] when there are none).
type rFit struct {
	Arma     []int           `json:"arma"` // p, q, P, Q, m, d, D as R's $arma
	RawCoef  json.RawMessage `json:"coef"`
	LogLik   float64         `json:"loglik"`
	Sigma2   float64         `json:"sigma2"`
	AICc     float64         `json:"aicc"`
	Forecast rForecast       `json:"forecast"`
}

func (f rFit) coef() map[string]float64 {
	out := map[string]float64{}
	_ = json.Unmarshal(f.RawCoef, &out) // [] (no coefficients) leaves the map empty
	return out
}

type fixture struct {
	Name     string    `json:"name"`
	Period   int       `json:"period"`
	H        int       `json:"h"`
	Values   []float64 `json:"values"`
	ARIMA711 rFit      `json:"arima711"`
	Auto     rFit      `json:"auto_arima"`
}

func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	b, err := os.ReadFile("../testdata/r_forecast_reference.json")
	if err != nil {
		tb.Fatalf("read fixtures: %v", err)
	}
	var fx []fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		tb.Fatalf("decode fixtures: %v", err)
	}
	return fx
}

// coefVector orders R's named coefficients as Model.Coef.
func coefVector(spec Spec, named map[string]float64) []float64 {
	names := spec.CoefNames()
	v := make([]float64, len(names))
	for i, n := range names {
		v[i] = named[n]
	}
	return v
}
