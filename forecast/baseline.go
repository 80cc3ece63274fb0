package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// The baselines follow R forecast 8.20: naive, snaive and rwf(drift=TRUE) are its "lag walks"
// (lagwalk/forecast.lagwalk), mean is meanf.

const kindBaseline = "baseline"

func fitNaive(_ context.Context, y []float64, _ Spec, progress ProgressFunc) (Model, error) {
	m, err := lagWalk(y, 1, false, MethodNaive)
	return reportDone(m, err, progress)
}

func fitSNaive(_ context.Context, y []float64, spec Spec, progress ProgressFunc) (Model, error) {
	m, err := lagWalk(y, max(spec.SeasonLength, 1), false, MethodSNaive)
	return reportDone(m, err, progress)
}

func fitDrift(_ context.Context, y []float64, _ Spec, progress ProgressFunc) (Model, error) {
	m, err := lagWalk(y, 1, true, MethodDrift)
	return reportDone(m, err, progress)
}

func fitMean(_ context.Context, y []float64, _ Spec, progress ProgressFunc) (Model, error) {
	n := len(y)
	if n < 2 {
		return nil, fmt.Errorf("%w: mean needs at least 2 observations, got %d", ErrTooFewObservations, n)
	}
	mu, sd := stat.MeanStdDev(y, nil)
	m := &baselineModel{Method: MethodMean, Future: []float64{mu}, MSE: sd * sd, Sigma2: sd * sd, N: n}
	return reportDone(m, m.check(), progress)
}

// reportDone reports a finished baseline fit; baselines are closed-form, so there is no
// progress to report before that.
func reportDone(m *baselineModel, err error, progress ProgressFunc) (Model, error) {
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(Progress{Stage: m.Method, Percent: 100})
	}
	return m, nil
}

// lagWalk fits y_t = y_{t-lag} (+ drift) + e_t as R's lagwalk does.
func lagWalk(y []float64, lag int, drift bool, method string) (*baselineModel, error) {
	n := len(y)
	diffs := 1 // one lag-difference to estimate the residual variance
	if drift {
		diffs++ // a second one for the drift's standard error
	}
	if n-lag < diffs { // not n < lag+diffs: lag may be near MaxInt
		need := uint64(lag) + uint64(diffs)
		what := fmt.Sprintf("%d", need)
		if method == MethodSNaive {
			what = fmt.Sprintf("m+1 = %d", need)
		}
		return nil, fmt.Errorf("%w: %s needs at least %s observations, got %d", ErrTooFewObservations, method, what, n)
	}
	res := make([]float64, n-lag)
	for i := range res {
		res[i] = y[i+lag] - y[i]
	}
	k := float64(len(res))
	m := &baselineModel{Method: method, Lag: lag, Future: append([]float64(nil), y[n-lag:]...), N: n}
	if drift {
		// lm(diff ~ 1): the drift is the mean difference, its se sigma/sqrt(k).
		b := stat.Mean(res, nil)
		var ss float64
		for _, r := range res {
			ss += (r - b) * (r - b)
		}
		m.Drift = b
		m.Sigma2 = ss / (k - 1)
		m.DriftSE = math.Sqrt(m.Sigma2 / k)
		// forecast.lagwalk divides by k - (drift != 0): a drift of exactly 0 keeps its degree of
		// freedom. Kept for parity with R.
		if b != 0 {
			m.MSE = ss / (k - 1)
		} else {
			m.MSE = ss / k
		}
	} else {
		// No estimated parameter: the variance is the uncentred mean square of the differences.
		var ss float64
		for _, r := range res {
			ss += r * r
		}
		m.MSE = ss / k
		m.Sigma2 = m.MSE
	}
	return m, m.check()
}

// baselineModel is a fitted naive, seasonal naive, drift or mean model. Its JSON form is the
// stored encoding (kind "baseline").
type baselineModel struct {
	Method  string    `json:"method"`             // MethodNaive, MethodSNaive, MethodDrift or MethodMean
	Lag     int       `json:"lag,omitempty"`      // lag walks: 1, or the season length for snaive
	Future  []float64 `json:"future"`             // lag walks: the last Lag observations; mean: the mean
	Drift   float64   `json:"drift,omitempty"`    // drift per step
	DriftSE float64   `json:"drift_se,omitempty"` // standard error of the drift
	MSE     float64   `json:"mse"`                // per-step error variance used for the intervals
	Sigma2  float64   `json:"sigma2"`             // residual variance as R reports it
	N       int       `json:"n"`
}

func (m *baselineModel) Kind() string { return kindBaseline }

func (m *baselineModel) Summary() Summary {
	s := Summary{Params: map[string]float64{}, Sigma2: m.Sigma2, N: m.N}
	switch m.Method {
	case MethodNaive:
		s.Method = "Naive"
	case MethodSNaive:
		s.Method = "Seasonal naive"
		s.Params["season_length"] = float64(m.Lag)
	case MethodDrift:
		s.Method = "Random walk with drift"
		s.Params["drift"] = m.Drift
		s.Params["drift_se"] = m.DriftSE
	case MethodMean:
		s.Method = "Mean"
		s.Params["mean"] = m.Future[0]
	}
	return s
}

// Forecast follows forecast.lagwalk and meanf: at step i of a lag walk, with s = ⌊(i-1)/lag⌋+1
// full periods ahead, the point is the matching last-season value + s·drift and the standard
// error sqrt(mse·s + (s·drift_se)²); the mean's is sd·sqrt(1+1/n) with Student-t quantiles.
func (m *baselineModel) Forecast(h int, levels []float64) (Result, error) {
	if err := checkForecastArgs(h, levels); err != nil {
		return Result{}, err
	}
	point, se := make([]float64, h), make([]float64, h)
	if m.Method == MethodMean {
		w := math.Sqrt(m.MSE) * math.Sqrt(1+1/float64(m.N))
		for i := range point {
			point[i], se[i] = m.Future[0], w
		}
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(m.N - 1)}
		return symmetricResult(point, se, levels, func(tail float64) float64 { return -t.Quantile(tail) })
	}
	for i := range point {
		s := float64(i/m.Lag + 1)
		point[i] = m.Future[i%m.Lag] + s*m.Drift
		se[i] = math.Sqrt(m.MSE*s + (s*m.DriftSE)*(s*m.DriftSE))
	}
	return symmetricResult(point, se, levels, func(tail float64) float64 { return -distuv.UnitNormal.Quantile(tail) })
}

// check rejects a model that cannot forecast finitely: huge inputs overflow the variance, and
// a stored model may be corrupt.
func (m *baselineModel) check() error {
	nums := append([]float64{m.Drift, m.DriftSE, m.MSE, m.Sigma2}, m.Future...)
	if !allFinite(nums) {
		return fmt.Errorf("%w: %s: values too large to fit", ErrInvalidData, m.Method)
	}
	if m.MSE < 0 || m.Sigma2 < 0 || m.DriftSE < 0 {
		return errors.New("negative variance")
	}
	switch m.Method {
	case MethodNaive, MethodSNaive, MethodDrift:
		if m.Lag < 1 || len(m.Future) != m.Lag || m.N <= m.Lag {
			return fmt.Errorf("lag %d with %d future values and n=%d", m.Lag, len(m.Future), m.N)
		}
		if m.Method != MethodDrift && (m.Drift != 0 || m.DriftSE != 0) {
			return fmt.Errorf("%s with a drift", m.Method)
		}
		if m.Method == MethodNaive && m.Lag != 1 {
			return fmt.Errorf("naive with lag %d", m.Lag)
		}
	case MethodMean:
		if len(m.Future) != 1 || m.N < 2 || m.Lag != 0 || m.Drift != 0 || m.DriftSE != 0 {
			return errors.New("malformed mean model")
		}
	default:
		return fmt.Errorf("unknown baseline method %q", m.Method)
	}
	return nil
}

func decodeBaseline(b []byte) (Model, error) {
	var m baselineModel
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// prepare trims leading and trailing missing values (NaN), interpolates inner ones and checks
// that what remains is finite. It returns the cleaned series and how many values it filled in.
// It never modifies y.
//
// Interpolation follows R forecast's na.interp: linear for non-seasonal series or when at most
// two seasons' worth of values are observed; otherwise seasonal (see interpolateSeasonal).
func prepare(y []float64, period int) ([]float64, int, error) {
	if len(y) == 0 {
		return nil, 0, fmt.Errorf("%w: the series is empty", ErrTooFewObservations)
	}
	for i, v := range y {
		if math.IsInf(v, 0) {
			return nil, 0, fmt.Errorf("%w: value %d is infinite", ErrInvalidData, i)
		}
	}
	first, last := 0, len(y)-1
	for first <= last && math.IsNaN(y[first]) {
		first++
	}
	for last >= first && math.IsNaN(y[last]) {
		last--
	}
	if first > last {
		return nil, 0, fmt.Errorf("%w: all %d values are missing", ErrInvalidData, len(y))
	}
	x := append([]float64(nil), y[first:last+1]...)
	missing := 0
	for _, v := range x {
		if math.IsNaN(v) {
			missing++
		}
	}
	if missing == 0 {
		return x, 0, nil
	}
	// Linear unless more than two seasons are observed (obs > 2·period, written to avoid overflow).
	if period <= 1 || period >= (len(x)-missing+1)/2 || !interpolateSeasonal(x, period) {
		interpolateLinear(x)
	}
	if !allFinite(x) {
		return nil, 0, fmt.Errorf("%w: values too large to interpolate", ErrInvalidData)
	}
	return x, missing, nil
}

// interpolateLinear fills each inner NaN of x (whose ends are not NaN) on the line between its
// observed neighbours. The weighted form cannot overflow for finite neighbours.
func interpolateLinear(x []float64) {
	prev := 0
	for i := 1; i < len(x); i++ {
		if math.IsNaN(x[i]) {
			continue
		}
		for j := prev + 1; j < i; j++ {
			f := float64(j-prev) / float64(i-prev)
			x[j] = x[prev]*(1-f) + x[i]*f
		}
		prev = i
	}
}

// interpolateSeasonal fills the inner NaNs of x as na.interp does for seasonal series: it
// regresses the observed values on K = min(⌊m/2⌋, 5) Fourier pairs and a polynomial trend of
// degree min(max(⌊n/10⌋, 1), 6), interpolates the seasonally adjusted series linearly across the
// gaps and adds the seasonal component back. R refines the seasonal component with a robust STL
// (mstl) before that step; we keep the regression's Fourier component, which captures a stable
// seasonal pattern without an STL implementation. Like R, it gives up (returns false, leaving x
// untouched) when the result strays more than half the observed range beyond it.
func interpolateSeasonal(x []float64, m int) bool {
	n := len(x)
	k := min(m/2, 5)
	deg := min(max(n/10, 1), 6)
	// Columns: intercept, Fourier terms (sin(πt) vanishes when 2k = m, so it is dropped as in R's
	// fourier), then trend powers of t rescaled to [-1, 1] for conditioning.
	type term struct {
		k   int
		sin bool
	}
	var fourier []term
	for j := 1; j <= k; j++ {
		if 2*j != m {
			fourier = append(fourier, term{j, true})
		}
		fourier = append(fourier, term{j, false})
	}
	p := 1 + len(fourier) + deg
	row := func(t int, dst []float64) {
		dst[0] = 1
		for c, f := range fourier {
			a := 2 * math.Pi * float64(f.k) * float64(t+1) / float64(m)
			if f.sin {
				dst[1+c] = math.Sin(a)
			} else {
				dst[1+c] = math.Cos(a)
			}
		}
		u := 2*float64(t)/float64(n-1) - 1
		pow := 1.0
		for d := 1; d <= deg; d++ {
			pow *= u
			dst[len(fourier)+d] = pow
		}
	}
	var obs []int
	lo, hi := math.Inf(1), math.Inf(-1)
	for t, v := range x {
		if !math.IsNaN(v) {
			obs = append(obs, t)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if len(obs) <= p {
		return false
	}
	a := mat.NewDense(len(obs), p, nil)
	b := mat.NewVecDense(len(obs), nil)
	for i, t := range obs {
		row(t, a.RawRowView(i))
		b.SetVec(i, x[t])
	}
	var coef mat.VecDense
	if err := coef.SolveVec(a, b); err != nil {
		return false
	}
	seasonal := make([]float64, n)
	r := make([]float64, p)
	for t := range x {
		row(t, r)
		for c := range fourier {
			seasonal[t] += coef.AtVec(1+c) * r[1+c]
		}
	}
	filled := make([]float64, n)
	for t, v := range x {
		filled[t] = v - seasonal[t] // NaN stays NaN
	}
	interpolateLinear(filled)
	for t := range filled {
		filled[t] += seasonal[t]
	}
	if !allFinite(filled) {
		return false
	}
	span := hi - lo
	for t, v := range x {
		if math.IsNaN(v) && (filled[t] < lo-span/2 || filled[t] > hi+span/2) {
			return false
		}
	}
	for t, v := range x {
		if math.IsNaN(v) {
			x[t] = filled[t]
		}
	}
	return true
}
