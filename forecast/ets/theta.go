package ets

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Theta is a fitted Theta method (Assimakopoulos & Nikolopoulos 2000) as R's thetaf computes
// it: simple exponential smoothing, fitted as ETS(A,N,N) minimizing the one-step mean squared
// error (as ses() does), plus a drift of half the
// least-squares slope, on data seasonally adjusted by a classical multiplicative decomposition
// when a lag-m autocorrelation test finds seasonality.
type Theta struct {
	SES      *Model    `json:"ses"`                // ETS(A,N,N) fit to the (adjusted) series
	Drift    float64   `json:"drift"`              // half the OLS slope of the (adjusted) series
	Period   int       `json:"period"`             // season length of the data
	Seasonal []float64 `json:"seasonal,omitempty"` // indices for the steps after the end, one season
}

// ThetaMinObservations is the shortest series FitTheta accepts: the ETS(A,N,N) minimum, below
// which R's ses() switches to Holt–Winters with fixed starting values.
const ThetaMinObservations = 7

// FitTheta fits the Theta method to y with season length period.
func FitTheta(ctx context.Context, y []float64, period int, progress func(Progress)) (*Theta, error) {
	if err := checkData(y); err != nil {
		return nil, err
	}
	n := len(y)
	if n < ThetaMinObservations {
		return nil, fmt.Errorf("%w: Theta needs at least %d observations, got %d", ErrTooFewObservations, ThetaMinObservations, n)
	}
	return thetaWith(y, period, func(x []float64) (*Model, error) {
		return Fit(ctx, x, "ANN", Options{Progress: progress, crit: mse})
	})
}

// thetaWith builds the Theta model of y around the SES fit that ses makes of the (adjusted)
// series.
func thetaWith(y []float64, period int, ses func([]float64) (*Model, error)) (*Theta, error) {
	n := len(y)
	period = max(period, 1)
	th := &Theta{Period: period}
	x := y
	if period > 1 && n > 2*period && !constant(y) && seasonalACF(y, period) {
		fig := seasonFigure(y, period, true)
		ok := true
		for _, v := range fig {
			if math.Abs(v) < 1e-4 || math.IsNaN(v) {
				ok = false
			}
		}
		if ok {
			x = make([]float64, n)
			for t := range n {
				x[t] = y[t] / fig[t%period]
			}
			th.Seasonal = make([]float64, period)
			for j := range period {
				th.Seasonal[j] = fig[(n+j)%period]
			}
		}
	}
	fit, err := ses(x)
	if err != nil {
		return nil, fmt.Errorf("theta: %w", err)
	}
	th.SES = fit
	_, b := lineFit(x)
	th.Drift = b / 2
	return th, nil
}

// seasonalACF is thetaf's test: the lag-m autocorrelation exceeds the one-sided 90% bound
// 1.645·√((1 + 2Σ_{k<m} r_k²)/n).
func seasonalACF(y []float64, m int) bool {
	n := len(y)
	mu := mean(y)
	var den float64
	for _, v := range y {
		den += (v - mu) * (v - mu)
	}
	r := make([]float64, m+1)
	for k := 1; k <= m; k++ {
		var s float64
		for t := 0; t+k < n; t++ {
			s += (y[t] - mu) * (y[t+k] - mu)
		}
		r[k] = s / den
	}
	var ss float64
	for k := 1; k < m; k++ {
		ss += r[k] * r[k]
	}
	stat := math.Sqrt((1 + 2*ss) / float64(n))
	return math.Abs(r[m])/stat > distuv.UnitNormal.Quantile(0.95)
}

func constant(y []float64) bool {
	for _, v := range y[1:] {
		if v != y[0] {
			return false
		}
	}
	return true
}

// Alpha is the smoothing parameter used by the forecasts (R floors it at 1e-10).
func (th *Theta) Alpha() float64 { return math.Max(1e-10, th.SES.Params.Alpha) }

// Forecast returns h steps ahead with intervals at each level: the SES forecast plus the drift
// term b/2·(j + (1-(1-α)^n)/α), reseasonalised, ± z·σ·√(jα² + 1) for j = 0, ..., h-1.
func (th *Theta) Forecast(h int, levels []float64) (Forecast, error) {
	if h < 1 {
		return Forecast{}, fmt.Errorf("%w: horizon %d, want at least 1", ErrInvalidSpec, h)
	}
	if th.SES == nil || len(th.SES.Final) < 1 {
		return Forecast{}, fmt.Errorf("%w: theta model without SES fit", ErrInvalidSpec)
	}
	if len(th.Seasonal) != 0 && len(th.Seasonal) != th.Period {
		return Forecast{}, fmt.Errorf("%w: theta model with %d seasonal indices for period %d", ErrInvalidSpec, len(th.Seasonal), th.Period)
	}
	for _, l := range levels {
		if !(l > 0 && l < 100) {
			return Forecast{}, fmt.Errorf("%w: interval level %v, want 0 < level < 100", ErrInvalidSpec, l)
		}
	}
	alpha := th.Alpha()
	n := float64(th.SES.N)
	level := th.SES.Final[0]
	adj := (1 - math.Pow(1-alpha, n)) / alpha
	mu := make([]float64, h)
	v := make([]float64, h)
	for j := range h {
		mu[j] = level + th.Drift*(float64(j)+adj)
		if len(th.Seasonal) > 0 {
			mu[j] *= th.Seasonal[j%th.Period]
		}
		v[j] = th.SES.Sigma2 * (float64(j)*alpha*alpha + 1)
	}
	return normalIntervals(mu, v, levels), nil
}

// Validate checks a decoded Theta model.
func (th *Theta) Validate() error {
	if th.SES == nil {
		return fmt.Errorf("%w: theta model without SES fit", ErrInvalidSpec)
	}
	if th.SES.Spec != (Spec{Error: Additive, Trend: None, Season: None}) {
		return fmt.Errorf("%w: theta SES model is %s", ErrInvalidSpec, th.SES.Spec)
	}
	if err := th.SES.Validate(); err != nil {
		return err
	}
	if th.Period < 1 || (len(th.Seasonal) != 0 && len(th.Seasonal) != th.Period) {
		return fmt.Errorf("%w: theta model with %d seasonal indices for period %d", ErrInvalidSpec, len(th.Seasonal), th.Period)
	}
	for _, v := range append([]float64{th.Drift}, th.Seasonal...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: non-finite theta parameter", ErrInvalidSpec)
		}
	}
	return nil
}
