package arima

import (
	"math"
	"math/rand/v2"
	"testing"
)

// riccatiLikelihood is the textbook Kalman filter (dense Riccati update) the Chandrasekhar
// recursions must agree with.
func riccatiLikelihood(s armaState, w, P0 []float64) (ssq, sumlog float64) {
	r := s.r
	f := fullModel{arma: s}
	a := make([]float64, r)
	anew := make([]float64, r)
	P := make([]float64, r*r)
	Pnew := append([]float64(nil), P0...)
	work := make([]float64, r*r)
	for t, y := range w {
		if t > 0 {
			f.predict(anew, a)
			f.propagate(Pnew, P, work)
		}
		F := Pnew[0]
		v := y - anew[0]
		ssq += v * v / F
		sumlog += math.Log(F)
		for i := 0; i < r; i++ {
			a[i] = anew[i] + Pnew[i]*v/F
		}
		for i := 0; i < r; i++ {
			for j := 0; j < r; j++ {
				P[i*r+j] = Pnew[i*r+j] - Pnew[i]*Pnew[j]/F
			}
		}
	}
	return ssq, sumlog
}

// lyapunov solves P = T P T' + R R' by fixed-point iteration, for checking stationaryCov.
func lyapunov(s armaState) []float64 {
	r := s.r
	f := fullModel{arma: s}
	P := make([]float64, r*r)
	next := make([]float64, r*r)
	work := make([]float64, r*r)
	for it := 0; it < 5000; it++ {
		f.propagate(next, P, work)
		P, next = next, P
	}
	return P
}

func TestStationaryCovSolvesLyapunov(t *testing.T) {
	cases := []struct{ ar, ma, sar, sma []float64 }{
		{ar: []float64{0.5}},
		{ma: []float64{0.4, -0.3}},
		{ar: []float64{0.3, 0.2}, ma: []float64{0.5}},
		{ar: []float64{0.6}, ma: []float64{-0.4}, sma: []float64{-0.6}},
		{ar: []float64{0.2}, sar: []float64{0.5, 0.2}, ma: []float64{0.3, 0.1, -0.2}},
	}
	for i, c := range cases {
		phi, theta := expand(c.ar, c.ma, c.sar, c.sma, 4)
		s := newARMAState(phi, theta)
		got, ok := s.stationaryCov(phi)
		if !ok {
			t.Fatalf("case %d: not stationary", i)
		}
		want := lyapunov(s)
		for k := range got {
			if math.Abs(got[k]-want[k]) > 1e-9*(1+math.Abs(want[k])) {
				t.Fatalf("case %d: P0[%d] = %g, Lyapunov gives %g", i, k, got[k], want[k])
			}
		}
	}
}

func TestChandrasekharMatchesRiccati(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, 300)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	phi, theta := expand([]float64{0.5, -0.2}, []float64{0.7}, []float64{0.3}, []float64{-0.8}, 12)
	s := newARMAState(phi, theta)
	P0, ok := s.stationaryCov(phi)
	if !ok {
		t.Fatal("not stationary")
	}
	var wk likWork
	ssq, sumlog, nu := s.likelihood(w, P0, &wk)
	rssq, rsumlog := riccatiLikelihood(s, w, P0)
	if nu != len(w) || math.Abs(ssq-rssq) > 1e-8*rssq || math.Abs(sumlog-rsumlog) > 1e-8*(1+math.Abs(rsumlog)) {
		t.Fatalf("Chandrasekhar ssq=%v sumlog=%v, Riccati ssq=%v sumlog=%v", ssq, sumlog, rssq, rsumlog)
	}
}
