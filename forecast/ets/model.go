package ets

import (
	"fmt"
	"math"
)

// Model is a fitted ETS model. It is plain data and round-trips through encoding/json.
type Model struct {
	Spec   Spec      `json:"spec"`
	Period int       `json:"period"` // season length used by the model (1 when non-seasonal)
	Params Params    `json:"params"`
	Init   []float64 `json:"init"`  // l, b, s0, ..., s_{m-1} before the first observation
	Final  []float64 `json:"final"` // the same after the last observation
	LogLik float64   `json:"loglik"`
	AIC    float64   `json:"aic"`
	AICc   float64   `json:"aicc"`
	BIC    float64   `json:"bic"`
	Sigma2 float64   `json:"sigma2"`
	N      int       `json:"n"`
	K      int       `json:"k"` // parameters counted by the criteria, σ² included
}

// MarshalText writes the model code, e.g. "MAdN".
func (s Spec) MarshalText() ([]byte, error) { return []byte(s.Code()), nil }

// UnmarshalText reads a fully determined model code.
func (s *Spec) UnmarshalText(b []byte) error {
	p, err := parseCode(string(b))
	if err != nil {
		return err
	}
	if p.err == auto || p.trend == auto || p.season == auto {
		return fmt.Errorf("%w: %q is not a single model", ErrInvalidSpec, b)
	}
	*s = Spec{Error: p.err, Trend: p.trend, Season: p.season, Damped: p.damped}
	return nil
}

// Method is R's name of the model, e.g. "ETS(A,Ad,N)".
func (m *Model) Method() string { return m.Spec.String() }

// ParamMap lists the parameters with R's names: alpha, beta, gamma, phi, then the initial
// states l, b, s0, ..., s_{m-2} (the ones R estimates).
func (m *Model) ParamMap() map[string]float64 {
	out := map[string]float64{"alpha": m.Params.Alpha}
	if m.Spec.Trend != None {
		out["beta"] = m.Params.Beta
	}
	if m.Spec.Season != None {
		out["gamma"] = m.Params.Gamma
	}
	if m.Spec.Damped {
		out["phi"] = m.Params.Phi
	}
	out["l"] = m.Init[0]
	i := 1
	if m.Spec.Trend != None {
		out["b"] = m.Init[1]
		i = 2
	}
	if m.Spec.Season != None {
		for j := range m.Period - 1 {
			out[fmt.Sprintf("s%d", j)] = m.Init[i+j]
		}
	}
	return out
}

// Evaluate builds the model with the given parameters and initial states (l, b, s0, ...;
// the last seasonal state may be omitted, as R omits it) without estimating anything: its
// likelihood, criteria, σ² and final state are those of y under these values.
func Evaluate(y []float64, spec Spec, period int, p Params, init []float64) (*Model, error) {
	if !spec.Damped {
		p.Phi = 1
	}
	c := setup{spec: spec, m: 1}
	if spec.Season != None {
		c.m = period
	}
	if err := checkData(y); err != nil {
		return nil, err
	}
	want := c.nstate()
	if len(init) != want && !(spec.Season != None && len(init) == want+1) {
		return nil, fmt.Errorf("%w: %s needs %d initial states, got %d", ErrInvalidSpec, spec, want, len(init))
	}
	return c.finish(y, p, init)
}

// finish computes everything about a model from its parameters and initial states.
func (c setup) finish(y []float64, p Params, init []float64) (*Model, error) {
	var st state
	c.newState(init, &st)
	full := c.vector(&st, 0)
	lik, sse, ok := c.run(y, full, p, &st, nil)
	if !ok || math.IsNaN(lik) || math.IsInf(lik, 1) {
		return nil, fmt.Errorf("%w: %s has undefined forecasts or errors at these parameters", ErrInvalidData, c.spec)
	}
	lik = math.Max(lik, -1e10) // a perfect fit, floored as R's optimizer floors it
	np := c.nstate() + 1
	if c.spec.Trend != None {
		np++
	}
	if c.spec.Season != None {
		np++
	}
	if c.spec.Damped {
		np++
	}
	n := len(y)
	k := np + 1
	mdl := &Model{
		Spec: c.spec, Period: c.m, Params: p, Init: full, Final: c.vector(&st, n),
		LogLik: -0.5 * lik, N: n, K: k,
	}
	fk, fn := float64(k), float64(n)
	mdl.AIC = lik + 2*fk
	mdl.BIC = lik + math.Log(fn)*fk
	mdl.AICc = mdl.AIC + 2*fk*(fk+1)/(fn-fk-1)
	mdl.Sigma2 = sse / float64(n-np)
	return mdl, nil
}

func checkData(y []float64) error {
	if len(y) == 0 {
		return fmt.Errorf("%w: empty series", ErrTooFewObservations)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: value %d is not finite", ErrInvalidData, i)
		}
	}
	return nil
}

// Validate checks a decoded model: known components, a usable period, states of the right
// length and finite numbers.
func (m *Model) Validate() error {
	for _, c := range []byte{m.Spec.Error, m.Spec.Trend, m.Spec.Season} {
		if c != None && c != Additive && c != Multiplicative {
			return fmt.Errorf("%w: component %q", ErrInvalidSpec, c)
		}
	}
	if m.Spec.Error == None {
		return fmt.Errorf("%w: error component N", ErrInvalidSpec)
	}
	if _, err := m.setup(); err != nil {
		return err
	}
	vals := append([]float64{m.Params.Alpha, m.Params.Beta, m.Params.Gamma, m.Params.Phi, m.Sigma2}, m.Final...)
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: non-finite parameter or state", ErrInvalidSpec)
		}
	}
	if m.Sigma2 < 0 || m.N < 1 {
		return fmt.Errorf("%w: sigma2 %v, n %d", ErrInvalidSpec, m.Sigma2, m.N)
	}
	return nil
}
