package messages

import (
	"slices"
	"strings"
	"testing"
)

func TestBacktestRequestValidation(t *testing.T) {
	intp := func(i int) *int { return &i }
	series := Values{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	req := func(edit func(*BacktestRequest)) BacktestRequest {
		r := BacktestRequest{Values: series, Method: "naive", Horizon: intp(2), Windows: intp(3)}
		edit(&r)
		return r
	}
	tests := []struct {
		name  string
		req   BacktestRequest
		field string // "" = valid
		says  string
	}{
		{"minimal", req(func(*BacktestRequest) {}), "", ""},
		{"no windows", req(func(r *BacktestRequest) { r.Windows = nil }), "windows", "is required"},
		{"windows 0", req(func(r *BacktestRequest) { r.Windows = intp(0) }), "windows", "from 1 to 100"},
		{"too many windows", req(func(r *BacktestRequest) { r.Windows = intp(MaxBacktestWindows + 1) }), "windows", "from 1 to 100"},
		{"step 0", req(func(r *BacktestRequest) { r.Step = intp(0) }), "step", "got 0"},
		{"no horizon", req(func(r *BacktestRequest) { r.Horizon = nil }), "horizon", "is required"},
		// 10 values, horizon 2, the first window needs 2: origins 2..8 one apart.
		{"too little data", req(func(r *BacktestRequest) { r.Windows = intp(8) }), "windows", "at most 7 windows fit"},
		{"too long a horizon", req(func(r *BacktestRequest) { r.Horizon, r.Windows = intp(9), intp(1) }), "horizon", "at most horizon 8"},
		{"seasonal", req(func(r *BacktestRequest) { r.SeasonLength, r.Windows = intp(4), intp(5) }), "windows", "at most 4 windows fit"},
		{"unknown method", req(func(r *BacktestRequest) { r.Methods = []string{"naive", "magic"} }), "methods[1]", `unknown method "magic"`},
		{"duplicate method", req(func(r *BacktestRequest) { r.Methods = []string{"naive", "mean", "naive"} }), "methods[2]", "also methods[0]"},
		{"too many methods", req(func(r *BacktestRequest) { r.Methods = []string{"naive", "mean", "drift", "snaive", "theta"} }), "methods", "at most 4"},
		{"empty methods", req(func(r *BacktestRequest) { r.Methods = []string{} }), "methods", "must not be empty"},
		{"options of a method not compared", req(func(r *BacktestRequest) {
			r.Method, r.Options.ETSSpec, r.Methods = "ets", "ANN", []string{"naive"}
		}), "options", `method "ets"`},
		{"bad values", req(func(r *BacktestRequest) { r.Values = nil }), "values", "is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			err := r.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				if *r.Step != 1 || !slices.Equal(r.Methods, []string{"naive"}) || len(r.Levels) != 2 {
					t.Errorf("defaults not filled: step %v methods %v levels %v", *r.Step, r.Methods, r.Levels)
				}
				return
			}
			problems := problemsOf(t, err)
			if !strings.Contains(problems[tc.field], tc.says) || len(problems) != 1 {
				t.Errorf("problems %v; want only %q saying %q", problems, tc.field, tc.says)
			}
		})
	}
}

func TestBacktestRequestDecoding(t *testing.T) {
	for body, field := range map[string]string{
		`{"values":[1,2],"horizon":1,"windows":"3"}`:                 "windows",
		`{"values":[1,2],"horizon":1,"windows":1,"wndows":1}`:        "wndows",
		`{"values":[1,2],"horizon":1,"windows":1,"methods":"naive"}`: "methods",
		`{"values":[1,2],"horizon":1,"windows":1,"windows":2}`:       "windows",
		// The fit's fields are named as the client wrote them.
		`{"values":"x","horizon":1,"windows":1}`:                        "values",
		`{"values":[1,2],"season_length":"x","horizon":1,"windows":1}`:  "season_length",
		`{"values":[1,2],"options":{"spec":3},"horizon":1,"windows":1}`: "options.spec",
	} {
		var r BacktestRequest
		problems := problemsOf(t, DecodeJSONBytes([]byte(body), &r))
		if _, ok := problems[field]; !ok || len(problems) != 1 {
			t.Errorf("%s: problems %v; want one naming %q", body, problems, field)
		}
	}
}

func TestBatchBacktestValidation(t *testing.T) {
	intp := func(i int) *int { return &i }
	batch := func(edit func(*BatchRequest)) BatchRequest {
		r := BatchRequest{Series: []BatchSeries{{Name: "a", Values: Values{1, 2, 3}}}, Horizon: intp(1),
			Backtest: &BacktestPlan{Windows: intp(2)}, Methods: []string{"naive", "mean"}}
		edit(&r)
		return r
	}
	t.Run("valid", func(t *testing.T) {
		r := batch(func(*BatchRequest) {})
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		// The first method compared is the one forecast; the step defaults to 1.
		if b := r.BacktestOf(); r.Method != "naive" || b == nil || b.Windows != 2 || b.Step != 1 || !slices.Equal(b.Methods, []string{"naive", "mean"}) {
			t.Errorf("method %q backtest %+v", r.Method, b)
		}
	})
	t.Run("methods default to method", func(t *testing.T) {
		r := batch(func(r *BatchRequest) { r.Methods, r.Method = nil, "drift" })
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if b := r.BacktestOf(); !slices.Equal(b.Methods, []string{"drift"}) {
			t.Errorf("methods %v, want [drift]", b.Methods)
		}
	})
	t.Run("no backtest", func(t *testing.T) {
		r := batch(func(r *BatchRequest) { r.Backtest, r.Methods = nil, nil })
		if err := r.Validate(); err != nil || r.BacktestOf() != nil {
			t.Errorf("err %v, backtest %+v; want neither", err, r.BacktestOf())
		}
	})
	for _, tc := range []struct {
		name, field string
		edit        func(*BatchRequest)
	}{
		{"windows 0", "backtest.windows", func(r *BatchRequest) { r.Backtest.Windows = intp(0) }},
		{"no windows", "backtest.windows", func(r *BatchRequest) { r.Backtest.Windows = nil }},
		{"step 0", "backtest.step", func(r *BatchRequest) { r.Backtest.Step = intp(0) }},
		{"duplicate methods", "methods[1]", func(r *BatchRequest) { r.Methods = []string{"mean", "mean"} }},
		{"unknown method", "methods[0]", func(r *BatchRequest) { r.Methods, r.Method = []string{"magic"}, "naive" }},
		{"unknown first method, no method", "methods[0]", func(r *BatchRequest) { r.Methods = []string{"magic", "naive"} }},
		{"methods without backtest", "methods", func(r *BatchRequest) { r.Backtest = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := batch(tc.edit)
			problems := problemsOf(t, r.Validate())
			if _, ok := problems[tc.field]; !ok || len(problems) != 1 {
				t.Errorf("problems %v; want one naming %q", problems, tc.field)
			}
		})
	}
}

func TestOverallAndLeaderboard(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	series := []map[string]Accuracy{
		{"naive": {MASE: f(1), SMAPE: f(10), Coverage: map[string]float64{"80": 0.5}, Points: 4},
			"mean": {MASE: f(3), SMAPE: f(30), Coverage: map[string]float64{"80": 1}, Points: 4}},
		nil, // a series that failed
		{"naive": {MASE: f(2), SMAPE: f(20), Coverage: map[string]float64{"80": 1}, Points: 6},
			"mean": {MASE: nil, SMAPE: f(0), Coverage: map[string]float64{"80": 0}, Points: 6}},
	}
	overall, board := Overall([]string{"mean", "naive"}, series)
	naive, mean := overall["naive"], overall["mean"]
	// Means of the series' values; coverage pooled: (2 + 6) / 10 and (4 + 0) / 10.
	if *naive.MASE != 1.5 || *naive.SMAPE != 15 || naive.Coverage["80"] != 0.8 || naive.Series != 2 || naive.Points != 10 {
		t.Errorf("naive overall %+v", naive)
	}
	if *mean.MASE != 3 || *mean.SMAPE != 15 || mean.Coverage["80"] != 0.4 {
		t.Errorf("mean overall %+v (MASE over the series where it is defined)", mean)
	}
	if !slices.Equal(board, []string{"naive", "mean"}) {
		t.Errorf("leaderboard %v, want naive (MASE 1.5) before mean (3)", board)
	}
	// Undefined MASE goes last; ties fall to sMAPE.
	got := Leaderboard([]string{"a", "b", "c"},
		func(m string) *float64 { return map[string]*float64{"a": nil, "b": f(1), "c": f(1)}[m] },
		func(m string) *float64 { return map[string]*float64{"a": f(0), "b": f(9), "c": f(5)}[m] })
	if !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Errorf("leaderboard %v, want c, b, a", got)
	}
}

// A backtest's windows are bounded in its answer: windows × methods × horizon × (2 + 2 ×
// levels) up to MaxBacktestValues; past it the fail names horizon with the largest that fits.
func TestBacktestAnswerIsBounded(t *testing.T) {
	values := make(Values, 2000)
	for i := range values {
		values[i] = float64(i % 7)
	}
	levels := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 95}
	req := func(horizon int) BacktestRequest {
		windows := 10
		return BacktestRequest{Values: values, Method: "naive", Methods: []string{"naive", "mean", "drift", "snaive"},
			Horizon: &horizon, Windows: &windows, Levels: slices.Clone(levels)}
	}
	// 10 windows × 4 methods × 22 values a step: 880, so 1136 steps fit in 1,000,000.
	if r := req(1136); r.Validate() != nil {
		t.Fatalf("horizon 1136: %v; want valid", r.Validate())
	}
	r := req(1137)
	problems := problemsOf(t, r.Validate())
	if !strings.Contains(problems["horizon"], "a horizon of at most 1136,") || len(problems) != 1 {
		t.Errorf("horizon 1137: problems %v; want only horizon, naming 1136", problems)
	}
}
