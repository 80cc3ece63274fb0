package ets

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// R's default parameter bounds ("usual" region, used with bounds = "both").
var (
	lowerBound = [4]float64{1e-4, 1e-4, 1e-4, 0.8} // alpha, beta, gamma, phi
	upperBound = [4]float64{0.9999, 0.9999, 0.9999, 0.98}
)

// initialParams are R's starting values for the smoothing parameters (initparam): alpha a fifth
// of the way into its range divided by m, beta a tenth of the way to alpha, gamma a twentieth of
// the way to 1-alpha, phi near its upper bound.
func initialParams(spec Spec, m int) Params {
	lo, up := lowerBound, upperBound
	p := Params{Phi: 1}
	p.Alpha = lo[0] + 0.2*(up[0]-lo[0])/float64(m)
	if p.Alpha > 1 || p.Alpha < 0 {
		p.Alpha = lo[0] + 2e-3
	}
	if spec.Trend != None {
		u := math.Min(up[1], p.Alpha)
		p.Beta = lo[1] + 0.1*(u-lo[1])
		if p.Beta < 0 || p.Beta > p.Alpha {
			p.Beta = p.Alpha - 1e-3
		}
	}
	if spec.Season != None {
		u := math.Min(up[2], 1-p.Alpha)
		p.Gamma = lo[2] + 0.05*(u-lo[2])
		if p.Gamma < 0 || p.Gamma > 1-p.Alpha {
			p.Gamma = 1 - p.Alpha - 1e-3
		}
	}
	if spec.Damped {
		p.Phi = lo[3] + 0.99*(up[3]-lo[3])
		if p.Phi < 0 || p.Phi > 1 {
			p.Phi = up[3] - 1e-3
		}
	}
	return p
}

// initialStates is R's initstate heuristic: for a seasonal model, a classical decomposition of
// the series (or a linear trend plus one Fourier pair when there are fewer than three seasons)
// gives the seasonal states; the level and slope come from a regression on the first
// max(10, 2m) seasonally adjusted observations. It returns l, b and m-1 seasonal states.
func initialStates(y []float64, spec Spec, m int) ([]float64, error) {
	n := len(y)
	ysa := y
	var seas []float64
	if spec.Season != None {
		if n < 4 {
			return nil, fmt.Errorf("%w: a seasonal model needs at least 4 observations", ErrTooFewObservations)
		}
		var seasonal []float64
		if n < 3*m {
			a, b, err := fourierTrend(y, m)
			if err != nil {
				return nil, err
			}
			seasonal = make([]float64, n)
			for t := range n {
				tr := a + b*float64(t+1)
				if spec.Season == Additive {
					seasonal[t] = y[t] - tr
				} else {
					seasonal[t] = y[t] / tr
				}
			}
		} else {
			seasonal = decompose(y, m, spec.Season == Multiplicative)
		}
		seas = make([]float64, m-1)
		for j := range m - 1 {
			seas[j] = seasonal[m-1-j] // s0 is the m-th value, s_{m-2} the second
		}
		ysa = make([]float64, n)
		if spec.Season == Additive {
			for t := range n {
				ysa[t] = y[t] - seasonal[t]
			}
		} else {
			sum := 0.0
			for j := range seas {
				seas[j] = math.Max(seas[j], 1e-2)
				sum += seas[j]
			}
			if sum > float64(m) {
				for j := range seas {
					seas[j] /= sum + 1e-2*float64(len(seas))
				}
			}
			for t := range n {
				ysa[t] = y[t] / math.Max(seasonal[t], 1e-2)
			}
		}
	}
	maxn := min(max(10, 2*m), n)
	if spec.Season == None {
		maxn = min(10, n)
	}
	x := []float64{}
	switch spec.Trend {
	case None:
		x = append(x, mean(ysa[:maxn]))
	default:
		a, b := lineFit(ysa[:maxn])
		if spec.Trend == Additive {
			if math.Abs(a+b) < 1e-8 {
				a *= 1 + 1e-3
				b *= 1 + 1e-3
			}
			x = append(x, a, b)
		} else {
			l0 := a + b
			if math.Abs(l0) < 1e-8 {
				l0 = 1e-7
			}
			b0 := (a + 2*b) / l0
			l0 /= b0
			if math.Abs(b0) > 1e10 {
				b0 = math.Copysign(1e10, b0)
			}
			if l0 < 1e-8 || b0 < 1e-8 {
				l0 = math.Max(ysa[0], 1e-3)
				b0 = math.Max(ysa[1]/ysa[0], 1e-3)
			}
			x = append(x, l0, b0)
		}
	}
	return append(x, seas...), nil
}

// lineFit is the least-squares line through (1, y1), ..., (k, yk): intercept and slope.
func lineFit(y []float64) (a, b float64) {
	k := float64(len(y))
	tm := (k + 1) / 2
	ym := mean(y)
	var sxy, sxx float64
	for i, v := range y {
		d := float64(i+1) - tm
		sxy += d * (v - ym)
		sxx += d * d
	}
	if sxx == 0 {
		return ym, 0
	}
	b = sxy / sxx
	return ym - b*tm, b
}

func mean(y []float64) float64 {
	s := 0.0
	for _, v := range y {
		s += v
	}
	return s / float64(len(y))
}

// fourierTrend regresses y on 1, t and one Fourier pair of period m (the sine is dropped when it
// vanishes, m = 2) and returns the intercept and slope.
func fourierTrend(y []float64, m int) (a, b float64, err error) {
	n := len(y)
	cols := 4
	if m == 2 {
		cols = 3
	}
	X := mat.NewDense(n, cols, nil)
	for t := range n {
		tt := float64(t + 1)
		X.Set(t, 0, 1)
		X.Set(t, 1, tt)
		ang := 2 * math.Pi * tt / float64(m)
		if m == 2 {
			X.Set(t, 2, math.Cos(ang))
		} else {
			X.Set(t, 2, math.Sin(ang))
			X.Set(t, 3, math.Cos(ang))
		}
	}
	var beta mat.VecDense
	if err := beta.SolveVec(X, mat.NewVecDense(n, append([]float64(nil), y...))); err != nil {
		return 0, 0, fmt.Errorf("%w: initial seasonal regression: %v", ErrTooFewObservations, err)
	}
	return beta.AtVec(0), beta.AtVec(1), nil
}

// decompose is a classical decomposition (centred moving average, per-position means of the
// detrended series, normalised) and returns the seasonal component for every observation. The
// cycle starts at the first observation.
func decompose(y []float64, m int, multiplicative bool) []float64 {
	n := len(y)
	figure := seasonFigure(y, m, multiplicative)
	out := make([]float64, n)
	for t := range n {
		out[t] = figure[t%m]
	}
	return out
}

// seasonFigure returns the m normalised seasonal indices of a classical decomposition.
func seasonFigure(y []float64, m int, multiplicative bool) []float64 {
	n := len(y)
	w := make([]float64, 0, m+1)
	if m%2 == 0 {
		w = append(w, 0.5/float64(m))
		for range m - 1 {
			w = append(w, 1/float64(m))
		}
		w = append(w, 0.5/float64(m))
	} else {
		for range m {
			w = append(w, 1/float64(m))
		}
	}
	half := len(w) / 2
	sum := make([]float64, m)
	cnt := make([]float64, m)
	for t := half; t < n-half; t++ {
		tr := 0.0
		for k, wk := range w {
			tr += wk * y[t-half+k]
		}
		d := y[t] - tr
		if multiplicative {
			d = y[t] / tr
		}
		sum[t%m] += d
		cnt[t%m]++
	}
	fig := make([]float64, m)
	avg := 0.0
	for i := range m {
		fig[i] = sum[i] / cnt[i]
		avg += fig[i]
	}
	avg /= float64(m)
	for i := range m {
		if multiplicative {
			fig[i] /= avg
		} else {
			fig[i] -= avg
		}
	}
	return fig
}
