package ets

import (
	"testing"
)

// BenchmarkETSAuto times automatic model selection ("ZZZ") on every reference series, one
// candidate at a time (as R fits them, for the comparison in docs/benchmarks-ets.md).
func BenchmarkETSAuto(b *testing.B) {
	for _, s := range loadReference(b) {
		b.Run(s.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Fit(b.Context(), s.Values, "ZZZ", Options{Period: s.Period, Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTheta times the Theta method on every reference series.
func BenchmarkTheta(b *testing.B) {
	for _, s := range loadReference(b) {
		b.Run(s.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := FitTheta(b.Context(), s.Values, s.Period, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkObjective times one likelihood evaluation, the optimizer's unit of work.
func BenchmarkObjective(b *testing.B) {
	refs := loadReference(b)
	for _, tc := range []struct {
		s    int
		spec Spec
	}{{0, Spec{Error: 'A', Trend: 'A', Season: 'N'}}, {1, Spec{Error: 'M', Trend: 'A', Season: 'M'}}, {1, Spec{Error: 'A', Trend: 'A', Season: 'A'}}} {
		s := refs[tc.s]
		c := setup{spec: tc.spec, m: 1}
		if tc.spec.Season != None {
			c.m = s.Period
		}
		x0, _ := initialStates(s.Values, tc.spec, c.m)
		p := initialParams(tc.spec, c.m)
		x := []float64{p.Alpha, p.Beta}
		if tc.spec.Season != None {
			x = append(x, p.Gamma)
		}
		x = append(x, x0...)
		obj := c.objective(s.Values, len(x)-len(x0), likelihood)
		b.Run(s.Name+tc.spec.Code(), func(b *testing.B) {
			for b.Loop() {
				obj(x)
			}
		})
	}
}
