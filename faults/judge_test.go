package faults

import (
	"errors"
	"testing"
	"time"
)

// The rules themselves, on made-up calls: each breach is seen, and a clean run shows none.
func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	fit := func(kind fitKind, gen int64, accepted float64, final string, finalCode int) *call {
		return &call{kind: "fit", model: "m", fit: kind, jobID: "j" + string(rune('a'+gen)), gen: gen,
			sent: at(accepted - 0.01), done: at(accepted), code: 202, final: final, finalCode: finalCode, finalGen: gen}
	}
	forecast := func(sent float64, code int, gen int64) *call {
		return &call{kind: "forecast", model: "m", sent: at(sent), done: at(sent + 1), code: code, fgen: gen}
	}
	clean := func() []*call {
		return []*call{
			fit(fitInitial, 1, 0, "succeeded", 0),
			fit(fitSlow, 2, 1, "succeeded", 0),
			fit(fitFailing, 3, 2, "failed", 400),
			forecast(0.5, 200, 1), // before fit 2 was accepted: generation 1 is right
			forecast(1.5, 200, 2), // after it: it waited for it
			forecast(2.5, 200, 2), // after the failing fit 3: it fell back to 2
			forecast(3, 503, 0),   // a 503 during a fault is counted, not a breach
			forecast(3.5, 200, 2), // the first 2xx after the fault at 2.9 s: done at 4.5 s
		}
	}
	type counts struct{ lost, violations, unanswered, unexpected, n5xx, unrecovered int }
	for _, tc := range []struct {
		name   string
		change func([]*call) []*call
		want   counts
	}{
		{"clean", func(c []*call) []*call { return c }, counts{n5xx: 1}},
		{"a fit expired", func(c []*call) []*call { c[1].final = "expired"; return c }, counts{lost: 1, violations: 3, n5xx: 1}},
		{"a fit never ended", func(c []*call) []*call { c[1].final = ""; return c }, counts{lost: 1, n5xx: 1}},
		{"a job record gone", func(c []*call) []*call { c[1].final = "missing"; return c }, counts{lost: 1, n5xx: 1}},
		{"the failing fit succeeded", func(c []*call) []*call { c[2].final = "succeeded"; return c }, counts{lost: 1, violations: 2, n5xx: 1}},
		{"the failing fit failed with a 500", func(c []*call) []*call { c[2].finalCode = 500; return c }, counts{lost: 1, n5xx: 1}},
		{"a forecast used the model before an accepted fit", func(c []*call) []*call { c[4].fgen = 1; return c }, counts{violations: 1, n5xx: 1}},
		{"a forecast used a failed fit's generation", func(c []*call) []*call { c[5].fgen = 3; return c }, counts{violations: 1, n5xx: 1}},
		{"a generation handed out twice", func(c []*call) []*call {
			dup := fit(fitFast, 2, 5, "succeeded", 0)
			dup.jobID = "dup"
			return append(c, dup)
		}, counts{violations: 1, n5xx: 1}},
		{"a request unanswered", func(c []*call) []*call {
			return append(c, &call{kind: "forecast", model: "m", sent: at(3), done: at(38), err: errors.New("timeout")})
		}, counts{unanswered: 1, n5xx: 1}},
		{"a 504", func(c []*call) []*call { c[6].code = 504; return c }, counts{unexpected: 1, n5xx: 1}},
		{"a 404", func(c []*call) []*call { c[5].code = 404; return c }, counts{unexpected: 1, n5xx: 1}},
		{"no recovery after the fault", func(c []*call) []*call { c[7].code = 503; return c }, counts{n5xx: 2, unrecovered: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.change(clean()), []fault{{"f", at(2.9)}}, []string{"m"}, 10*time.Second)
			got := counts{len(v.lost), len(v.violations), len(v.unanswered), len(v.unexpected), v.n5xx, v.unrecovered}
			if got != tc.want {
				t.Errorf("got %+v, want %+v\nlost %q\nviolations %q", got, tc.want, v.lost, v.violations)
			}
			if wantRecovery := map[bool]string{true: "none", false: "1.6s"}[tc.want.unrecovered > 0]; len(v.recoveries) != 1 || v.recoveries[0] != wantRecovery {
				t.Errorf("recovery %q, want 1.6s", v.recoveries)
			}
		})
	}
}
