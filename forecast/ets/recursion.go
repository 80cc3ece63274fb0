package ets

import "math"

// Numerical guards used by R's C recursion: a divisor below tol is replaced by huge.
const (
	tol  = 1e-10
	huge = 1e10
)

// Params are the smoothing parameters. Unused ones are zero, except Phi, which is 1 for an
// undamped trend.
type Params struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta,omitempty"`
	Gamma float64 `json:"gamma,omitempty"`
	Phi   float64 `json:"phi"`
}

// state is l, b and the seasonal ring for the recursion. The ring holds the seasonal component of
// every time index modulo m, so the component m steps back is ring[t mod m].
type state struct {
	l, b float64
	ring []float64
}

// setup is everything the recursion needs about a model apart from its parameters.
type setup struct {
	spec Spec
	m    int // season length, 1 when non-seasonal
}

// nstate is the number of initial states the optimizer estimates: l, b and m-1 seasonal ones
// (the last seasonal state follows from the normalisation).
func (c setup) nstate() int {
	n := 1
	if c.spec.Trend != None {
		n++
	}
	if c.spec.Season != None {
		n += c.m - 1
	}
	return n
}

// newState builds the recursion state from R's state vector (l, b, s0, ..., s_{m-1}), s0 being
// the most recent seasonal value. The vector may omit the last seasonal value; it is then
// completed so the seasonal values sum to 0 (additive) or m (multiplicative).
func (c setup) newState(x []float64, st *state) {
	st.l = x[0]
	i := 1
	if c.spec.Trend != None {
		st.b = x[1]
		i = 2
	}
	if c.spec.Season == None {
		return
	}
	m := c.m
	if cap(st.ring) < m {
		st.ring = make([]float64, m)
	}
	st.ring = st.ring[:m]
	s := x[i:]
	last := 0.0
	if len(s) < m {
		if c.spec.Season == Multiplicative {
			last = float64(m)
		}
		for _, v := range s[:m-1] {
			last -= v
		}
	} else {
		last = s[m-1]
	}
	// s_j belongs to time -j.
	for j := range m {
		v := last
		if j < m-1 {
			v = s[j]
		}
		st.ring[((-j)%m+m)%m] = v
	}
}

// vector writes the state after n observations in R's layout (l, b, s1, ..., sm).
func (c setup) vector(st *state, n int) []float64 {
	out := []float64{st.l}
	if c.spec.Trend != None {
		out = append(out, st.b)
	}
	if c.spec.Season != None {
		m := c.m
		for j := range m {
			out = append(out, st.ring[((n-j)%m+m)%m])
		}
	}
	return out
}

// onestep returns the one-step forecast from the state at time t-1 (t 1-based) and the seasonal
// value it used.
func (c setup) onestep(st *state, p Params, t int) (f, q, s float64) {
	switch c.spec.Trend {
	case None:
		q = st.l
	case Additive:
		q = st.l + p.Phi*st.b
	default:
		if st.b < 0 {
			return math.NaN(), math.NaN(), 0
		}
		q = st.l * math.Pow(st.b, p.Phi)
	}
	switch c.spec.Season {
	case None:
		return q, q, 0
	case Additive:
		s = st.ring[t%c.m]
		return q + s, q, s
	default:
		s = st.ring[t%c.m]
		return q * s, q, s
	}
}

// update moves the state from t-1 to t after observing y, in the error-correction form that is
// the same for additive and multiplicative errors.
func (c setup) update(st *state, p Params, t int, y, q, s float64) {
	var phib float64
	switch c.spec.Trend {
	case Additive:
		phib = p.Phi * st.b
	case Multiplicative:
		phib = math.Pow(st.b, p.Phi)
	}
	var des float64 // deseasonalised observation
	switch c.spec.Season {
	case None:
		des = y
	case Additive:
		des = y - s
	default:
		if math.Abs(s) < tol {
			des = huge
		} else {
			des = y / s
		}
	}
	l := q + p.Alpha*(des-q)
	switch c.spec.Trend {
	case Additive:
		st.b = phib + (p.Beta/p.Alpha)*((l-st.l)-phib)
	case Multiplicative:
		r := huge
		if math.Abs(st.l) >= tol {
			r = l / st.l
		}
		st.b = phib + (p.Beta/p.Alpha)*(r-phib)
	}
	st.l = l
	switch c.spec.Season {
	case Additive:
		st.ring[t%c.m] = s + p.Gamma*((y-q)-s)
	case Multiplicative:
		d := huge
		if math.Abs(q) >= tol {
			d = y / q
		}
		st.ring[t%c.m] = s + p.Gamma*(d-s)
	}
}

// run filters y through the model from the initial state x0. It returns R's -2·log-likelihood
// criterion (n·log Σe² plus 2·Σlog|ŷ| for multiplicative errors), the sum of squared errors
// and leaves the final state in st. resid, when not nil, receives the errors. ok is false when
// a forecast is undefined (negative multiplicative growth). It is onestep and update fused
// into one loop, since it is the optimizer's objective.
func (c setup) run(y, x0 []float64, p Params, st *state, resid []float64) (lik, sse float64, ok bool) {
	c.newState(x0, st)
	var (
		l, b       = st.l, st.b
		ring       = st.ring
		m          = c.m
		si         = 1 % m // ring slot of the season m steps back from t = 1
		alpha      = p.Alpha
		ba         = p.Beta / p.Alpha
		gamma      = p.Gamma
		phi        = p.Phi
		trend      = c.spec.Trend
		season     = c.spec.Season
		mult       = c.spec.Error == Multiplicative
		damped     = phi != 1
		prod, pexp = 1.0, 0 // Σlog|ŷ| as a product: mantissa and binary exponent
	)
	for i, v := range y {
		// one-step forecast
		var q, phib float64
		switch trend {
		case None:
			q = l
		case Additive:
			phib = phi * b
			q = l + phib
		default:
			if b < 0 {
				return math.NaN(), math.NaN(), false
			}
			if damped {
				phib = math.Pow(b, phi)
			} else {
				phib = b
			}
			q = l * phib
		}
		f, s := q, 0.0
		switch season {
		case Additive:
			s = ring[si]
			f = q + s
		case Multiplicative:
			s = ring[si]
			f = q * s
		}
		e := v - f
		if mult {
			e /= f
			prod *= math.Abs(f)
			if prod > 0x1p500 || prod < 0x1p-500 {
				var k int
				prod, k = math.Frexp(prod)
				pexp += k
			}
		}
		if resid != nil {
			resid[i] = e
		}
		sse += e * e
		// state update (error-correction form, the same for both error types)
		des := v
		switch season {
		case Additive:
			des = v - s
		case Multiplicative:
			if math.Abs(s) < tol {
				des = huge
			} else {
				des = v / s
			}
		}
		d := des - q
		ln := q + alpha*d
		switch trend {
		case Additive:
			// R writes phib + (β/α)(ln - l - phib); since ln - l - phib = α·d this is the
			// same number with a shorter dependency chain.
			b = phib + p.Beta*d
		case Multiplicative:
			r := huge
			if math.Abs(l) >= tol {
				r = ln / l
			}
			b = phib + ba*(r-phib)
		}
		l = ln
		switch season {
		case Additive:
			ring[si] = s + gamma*((v-q)-s)
		case Multiplicative:
			d := huge
			if math.Abs(q) >= tol {
				d = v / q
			}
			ring[si] = s + gamma*(d-s)
		}
		if si++; si == m {
			si = 0
		}
	}
	st.l, st.b = l, b
	n := float64(len(y))
	lik = n * math.Log(sse)
	if mult {
		lik += 2 * (math.Log(prod) + float64(pexp)*math.Ln2)
	}
	return lik, sse, true
}

// pointForecasts are the h-step point forecasts from the state after n observations.
func (c setup) pointForecasts(st *state, p Params, n, h int) []float64 {
	out := make([]float64, h)
	phistar := p.Phi
	for i := range h {
		var f float64
		switch c.spec.Trend {
		case None:
			f = st.l
		case Additive:
			f = st.l + phistar*st.b
		default:
			if st.b < 0 {
				f = math.NaN()
			} else {
				f = st.l * math.Pow(st.b, phistar)
			}
		}
		if c.spec.Season != None {
			s := st.ring[(n+1+i)%c.m]
			if c.spec.Season == Additive {
				f += s
			} else {
				f *= s
			}
		}
		out[i] = f
		phistar += math.Pow(p.Phi, float64(i+2))
	}
	return out
}
