package arima

import (
	"encoding/json"
	"testing"

	"github.com/forecastd/forecastd/forecast/internal/rref"
)

// rForecast is a forecast block of the R reference fixture.
type rForecast = rref.Forecast

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
	rref.Series
	ARIMA711 rFit `json:"arima711"`
	Auto     rFit `json:"auto_arima"`
}

func loadFixtures(tb testing.TB) []fixture { return rref.Load[fixture](tb) }

// coefVector orders R's named coefficients as Model.Coef.
func coefVector(spec Spec, named map[string]float64) []float64 {
	names := spec.CoefNames()
	v := make([]float64, len(names))
	for i, n := range names {
		v[i] = named[n]
	}
	return v
}
