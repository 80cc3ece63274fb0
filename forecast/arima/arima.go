// Package arima fits seasonal ARIMA(p,d,q)(P,D,Q)m models as R's forecast::Arima and
// stats::arima do — exact Gaussian likelihood by a Kalman filter, CSS then ML estimation with
// stationary-AR reparametrisation — and selects orders as forecast::auto.arima does (Hyndman &
// Khandakar 2008). Pure Go on gonum; no knowledge of the forecast engine's types.
package arima

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Sentinel errors; the engine maps them to its own.
// MaxPeriod is the longest season an ARIMA model is fitted with.
const MaxPeriod = 400

var (
	// ErrTooShort: the series has too few observations for the model.
	ErrTooShort = errors.New("series too short")
	// ErrInvalidOrder: negative or unsupported orders or period (above MaxPeriod).
	ErrInvalidOrder = errors.New("invalid order")
	// ErrNoModel: no model could be fitted (every candidate failed).
	ErrNoModel = errors.New("no suitable ARIMA model")
	// ErrInvalidData: the series holds NaN or infinite values.
	ErrInvalidData = errors.New("non-finite value in series")
)

// Order is a (p, d, q) triple; for the seasonal part it is (P, D, Q).
type Order struct {
	P int `json:"p"`
	D int `json:"d"`
	Q int `json:"q"`
}

// Method is the estimation method, named as in stats::arima.
type Method string

const (
	CSSML Method = "CSS-ML" // conditional sum of squares for starting values, then ML
	ML    Method = "ML"
	CSS   Method = "CSS"
)

// Spec is a fully specified model.
type Spec struct {
	Order    Order `json:"order"`
	Seasonal Order `json:"seasonal"`
	Period   int   `json:"period"` // m; 1 for non-seasonal data
	// Constant adds an intercept when d+D = 0 and a drift (slope in time) when d+D = 1; it is
	// ignored with more differencing, as in forecast::Arima(include.constant = TRUE).
	Constant bool   `json:"constant"`
	Method   Method `json:"method,omitempty"` // empty means CSS-ML
}

// Progress is reported by Fit and Auto.
type Progress struct {
	Candidate  int // 1-based model being fitted
	Candidates int // total models, an estimate during a stepwise search
	Iteration  int // optimizer iterations in this candidate
}

// ProgressFunc receives progress reports; it may be nil.
type ProgressFunc func(Progress)

func (s Spec) period() int {
	if s.Seasonal.P == 0 && s.Seasonal.D == 0 && s.Seasonal.Q == 0 {
		return 1
	}
	return s.Period
}

// hasMean and hasDrift say which regression term the constant becomes.
func (s Spec) hasMean() bool  { return s.Constant && s.Order.D+s.Seasonal.D == 0 }
func (s Spec) hasDrift() bool { return s.Constant && s.Order.D+s.Seasonal.D == 1 }

// ncoef is the number of estimated coefficients (excluding σ²).
func (s Spec) ncoef() int {
	n := s.Order.P + s.Order.Q + s.Seasonal.P + s.Seasonal.Q
	if s.hasMean() || s.hasDrift() {
		n++
	}
	return n
}

func (s Spec) validate() error {
	o, so := s.Order, s.Seasonal
	if o.P < 0 || o.D < 0 || o.Q < 0 || so.P < 0 || so.D < 0 || so.Q < 0 {
		return fmt.Errorf("%w: orders must be non-negative", ErrInvalidOrder)
	}
	if o.D > 2 || so.D > 1 {
		return fmt.Errorf("%w: at most d=2 and D=1 are supported", ErrInvalidOrder)
	}
	if o.P > 20 || o.Q > 20 || so.P > 5 || so.Q > 5 {
		return fmt.Errorf("%w: orders above p,q=20 or P,Q=5 are not supported", ErrInvalidOrder)
	}
	if so.P+so.D+so.Q > 0 && s.Period < 2 {
		return fmt.Errorf("%w: a seasonal order needs a period of at least 2", ErrInvalidOrder)
	}
	if s.Period > MaxPeriod {
		return fmt.Errorf("%w: period %d above %d is not supported", ErrInvalidOrder, s.Period, MaxPeriod)
	}
	switch s.Method {
	case "", CSSML, ML, CSS:
	default:
		return fmt.Errorf("%w: unknown method %q", ErrInvalidOrder, s.Method)
	}
	return nil
}

// MinObservations is the shortest series Fit accepts for the spec: after differencing there
// must be more observations than the AR conditioning needs, and enough for AICc to be finite.
func (s Spec) MinObservations() int {
	m := s.period()
	lost := s.Order.D + s.Seasonal.D*m
	return lost + max(s.ncoef()+3, s.Order.P+s.Seasonal.P*m+2)
}

// String names the model as forecast's arima.string does: "ARIMA(0,1,1)(0,1,1)[12] with drift".
func (s Spec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ARIMA(%d,%d,%d)", s.Order.P, s.Order.D, s.Order.Q)
	m := s.period()
	if m > 1 && s.Seasonal.P+s.Seasonal.D+s.Seasonal.Q > 0 {
		fmt.Fprintf(&b, "(%d,%d,%d)[%d]", s.Seasonal.P, s.Seasonal.D, s.Seasonal.Q, m)
	}
	switch {
	case s.hasDrift():
		b.WriteString(" with drift")
	case s.hasMean():
		b.WriteString(" with non-zero mean")
	case s.Order.D+s.Seasonal.D == 0:
		b.WriteString(" with zero mean")
	}
	return b.String()
}

// CoefNames lists the coefficient names in the order of Model.Coef, as R names them.
func (s Spec) CoefNames() []string {
	var names []string
	add := func(prefix string, n int) {
		for i := 1; i <= n; i++ {
			names = append(names, fmt.Sprintf("%s%d", prefix, i))
		}
	}
	add("ar", s.Order.P)
	add("ma", s.Order.Q)
	add("sar", s.Seasonal.P)
	add("sma", s.Seasonal.Q)
	switch {
	case s.hasMean():
		names = append(names, "intercept")
	case s.hasDrift():
		names = append(names, "drift")
	}
	return names
}

// Model is a fitted ARIMA model. It is plain data: JSON round-trips it exactly.
type Model struct {
	Spec   Spec      `json:"spec"`
	Coef   []float64 `json:"coef"`   // ar, ma, sar, sma, then intercept or drift
	Sigma2 float64   `json:"sigma2"` // Σ residual² / (n* − k), as forecast reports it
	LogLik float64   `json:"loglik"`
	AIC    float64   `json:"aic"`
	AICc   float64   `json:"aicc"`
	BIC    float64   `json:"bic"`
	N      int       `json:"n"`      // observations
	NUsed  int       `json:"n_used"` // observations after differencing
	// The Kalman filter's state after the last observation, from which forecasts start.
	State    []float64 `json:"state"`
	StateCov []float64 `json:"state_cov"`

	cssSigma2 float64 // σ̂² of a CSS fit, which auto.arima ranks CSS candidates by
}

// Params returns the coefficients by R's names.
func (m *Model) Params() map[string]float64 {
	out := make(map[string]float64, len(m.Coef))
	for i, name := range m.Spec.CoefNames() {
		out[name] = m.Coef[i]
	}
	return out
}

// parts splits a coefficient vector in R's layout.
func (s Spec) parts(coef []float64) (ar, ma, sar, sma []float64, beta float64) {
	o, so := s.Order, s.Seasonal
	i := 0
	take := func(n int) []float64 { v := coef[i : i+n]; i += n; return v }
	ar, ma, sar, sma = take(o.P), take(o.Q), take(so.P), take(so.Q)
	if i < len(coef) {
		beta = coef[i]
	}
	return
}

// regressor returns the value of the regression column at 0-based time t (intercept 1, drift
// t+1), or 0 without a constant.
func (s Spec) regressor(t int) float64 {
	switch {
	case s.hasMean():
		return 1
	case s.hasDrift():
		return float64(t + 1)
	}
	return 0
}

// stateSpace builds the full model for a coefficient vector.
func (s Spec) stateSpace(coef []float64) (fullModel, []float64) {
	ar, ma, sar, sma, _ := s.parts(coef)
	phi, theta := expand(ar, ma, sar, sma, s.period())
	return fullModel{arma: newARMAState(phi, theta), delta: differencePoly(s.Order.D, s.Seasonal.D, s.period())}, phi
}

// Forecast returns h point forecasts and their standard errors.
func (m *Model) Forecast(h int) (mean, se []float64, err error) {
	if h < 1 {
		return nil, nil, fmt.Errorf("horizon %d: must be at least 1", h)
	}
	f, _ := m.Spec.stateSpace(m.Coef)
	rd := f.dim()
	if len(m.State) != rd || len(m.StateCov) != rd*rd {
		return nil, nil, fmt.Errorf("state of dimension %d, want %d", len(m.State), rd)
	}
	mean, v := f.forecast(m.State, m.StateCov, h)
	_, _, _, _, beta := m.Spec.parts(m.Coef)
	se = make([]float64, h)
	for i := range mean {
		mean[i] += beta * m.Spec.regressor(m.N+i)
		se[i] = math.Sqrt(v[i] * m.Sigma2)
	}
	return mean, se, nil
}

// Validate checks that a decoded model is consistent: orders, coefficient count and state
// dimensions.
func (m *Model) Validate() error {
	if err := m.Spec.validate(); err != nil {
		return err
	}
	if len(m.Coef) != m.Spec.ncoef() {
		return fmt.Errorf("%d coefficients, %s has %d", len(m.Coef), m.Spec, m.Spec.ncoef())
	}
	f, _ := m.Spec.stateSpace(m.Coef)
	rd := f.dim()
	if len(m.State) != rd || len(m.StateCov) != rd*rd {
		return fmt.Errorf("state of dimension %d, want %d", len(m.State), rd)
	}
	if m.N < 1 || !m.finite() {
		return errors.New("non-finite or empty model")
	}
	return nil
}
