package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestETSAndThetaCodec: fitted ETS and Theta models survive Encode/Decode and forecast
// identically, analytic and simulated intervals alike.
func TestETSAndThetaCodec(t *testing.T) {
	fx := loadRFixtures(t)
	seatbelts := fx[1]
	for _, tc := range []struct {
		name   string
		spec   Spec
		method string
	}{
		{"auto", Spec{Method: MethodETS, SeasonLength: 12}, "ETS("},
		{"damped", Spec{Method: MethodETS, SeasonLength: 12, Options: Options{ETSSpec: "MAdM"}}, "ETS(M,Ad,M)"},
		{"simulated", Spec{Method: MethodETS, SeasonLength: 12, Options: Options{ETSSpec: "MMN"}}, "ETS(M,M,N)"},
		{"theta", Spec{Method: MethodTheta, SeasonLength: 12}, "Theta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fitSpec(t, seatbelts.Values, tc.spec)
			s := m.Summary()
			if !strings.HasPrefix(s.Method, tc.method) || s.N != len(seatbelts.Values) || s.Sigma2 <= 0 {
				t.Fatalf("summary %+v", s)
			}
			if _, ok := s.Params["alpha"]; !ok {
				t.Errorf("no alpha in %v", s.Params)
			}
			assertRoundTrip(t, m, 24, 80, 95)
		})
	}
}

func TestETSSpecFromFixtureSummary(t *testing.T) {
	fx := loadRFixtures(t)
	var fixed []struct {
		Spec   string             `json:"spec"`
		Error  bool               `json:"error"`
		Method string             `json:"method"`
		LogLik float64            `json:"loglik"`
		Par    map[string]float64 `json:"par"`
	}
	if err := json.Unmarshal(fx[7].ETSFixed, &fixed); err != nil { // freeny.y, quarterly
		t.Fatal(err)
	}
	for _, f := range fixed {
		if f.Error {
			continue
		}
		m := fitSpec(t, fx[7].Values, Spec{Method: MethodETS, SeasonLength: fx[7].Period, Options: Options{ETSSpec: f.Spec}})
		s := m.Summary()
		if s.Method != f.Method {
			t.Errorf("%s: method %s, R %s", f.Spec, s.Method, f.Method)
		}
		for k := range f.Par {
			if _, ok := s.Params[k]; !ok {
				t.Errorf("%s: no %s in %v", f.Spec, k, s.Params)
			}
		}
		if len(s.Params) != len(f.Par) {
			t.Errorf("%s: params %v, R has %v", f.Spec, s.Params, f.Par)
		}
		if s.LogLik < f.LogLik-0.01 {
			t.Errorf("%s: loglik %v below R's %v", f.Spec, s.LogLik, f.LogLik)
		}
	}
}

func TestThetaThroughEngineMatchesR(t *testing.T) {
	for _, f := range loadRFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m := fitSpec(t, f.Values, Spec{Method: MethodTheta, SeasonLength: f.Period})
			assertResult(t, forecastOf(t, m, f.H, 80, 95), f.Theta, 1e-9)
		})
	}
}

func TestETSErrors(t *testing.T) {
	y := []float64{5, 7, 6, 8, 9, 7, 10, 11, 9, 12, 13, 11, 14, 15, 13, 16}
	neg := append([]float64{-1}, y...)
	for _, tc := range []struct {
		name string
		y    []float64
		spec Spec
		want error
	}{
		{"bad spec", y, Spec{Method: MethodETS, Options: Options{ETSSpec: "QQQ"}}, ErrInvalidSpec},
		{"forbidden", y, Spec{Method: MethodETS, SeasonLength: 4, Options: Options{ETSSpec: "ANM"}}, ErrInvalidSpec},
		{"season too long", append(y, y...), Spec{Method: MethodETS, SeasonLength: 30, Options: Options{ETSSpec: "AAA"}}, ErrInvalidSpec},
		{"negative data", neg, Spec{Method: MethodETS, Options: Options{ETSSpec: "MNN"}}, ErrInvalidData},
		{"too short", y[:5], Spec{Method: MethodETS}, ErrTooFewObservations},
		{"too short for the season", y, Spec{Method: MethodETS, SeasonLength: 12, Options: Options{ETSSpec: "AAA"}}, ErrTooFewObservations},
		{"theta too short", y[:6], Spec{Method: MethodTheta}, ErrTooFewObservations},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(context.Background(), tc.y, tc.spec, nil)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestETSProgressAndCancel(t *testing.T) {
	y := loadRFixtures(t)[1].Values
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen []Progress
	_, err := Fit(ctx, y, Spec{Method: MethodETS, SeasonLength: 12}, func(p Progress) {
		seen = append(seen, p)
		if p.Candidate == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if len(seen) == 0 || seen[0].Stage != "ets" || seen[0].Candidates != 15 {
		t.Fatalf("progress %+v", seen)
	}
	if last := seen[len(seen)-1]; last.Candidate != 2 {
		t.Errorf("progress continued after cancel: %+v", last)
	}
}

func TestDecodeETSRejects(t *testing.T) {
	for _, body := range []string{
		`{"v":1,"kind":"ets","model":{"spec":"AAA","period":0,"params":{"alpha":0.5,"phi":1},"init":[1,0],"final":[1,0],"sigma2":1,"n":10}}`,
		`{"v":1,"kind":"ets","model":{"spec":"ZZZ","period":1}}`,
		`{"v":1,"kind":"ets","model":{"spec":"ANN","period":1,"params":{"alpha":0.5,"phi":1},"init":[1],"final":[1,2],"sigma2":1,"n":10}}`,
		`{"v":1,"kind":"theta","model":{"period":1}}`,
	} {
		if _, err := Decode([]byte(body)); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("Decode(%s) error %v, want ErrBadEncoding", body, err)
		}
	}
}
