package ets

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by this package; callers map them to their own sentinels.
var (
	// ErrInvalidSpec: the model code or the season length cannot be used.
	ErrInvalidSpec = errors.New("invalid model specification")
	// ErrTooFewObservations: the series is too short for the model; the message names the minimum.
	ErrTooFewObservations = errors.New("too few observations")
	// ErrInvalidData: the values cannot be fitted (non-finite, or not strictly positive for a
	// multiplicative model).
	ErrInvalidData = errors.New("invalid data")
	// ErrNoModel: no candidate model could be estimated.
	ErrNoModel = errors.New("no model could be fitted")
)

// MaxPeriod is the longest season R's ets() estimates; longer seasons are ignored by "Z" and
// rejected when asked for explicitly.
const MaxPeriod = 24

// Component codes.
const (
	None           = 'N'
	Additive       = 'A'
	Multiplicative = 'M'
	auto           = 'Z'
)

// Spec is one fully determined ETS model: error, trend and season types ('N', 'A', 'M') and
// whether the trend is damped.
type Spec struct {
	Error  byte
	Trend  byte
	Season byte
	Damped bool
}

// String is R's method name, e.g. "ETS(M,Ad,N)".
func (s Spec) String() string {
	d := ""
	if s.Damped {
		d = "d"
	}
	return fmt.Sprintf("ETS(%c,%c%s,%c)", s.Error, s.Trend, d, s.Season)
}

// Code is the compact model code, e.g. "MAdN".
func (s Spec) Code() string {
	d := ""
	if s.Damped {
		d = "d"
	}
	return fmt.Sprintf("%c%c%s%c", s.Error, s.Trend, d, s.Season)
}

// pattern is a parsed model code that may still contain 'Z' wildcards.
type pattern struct {
	err, trend, season byte
	damped             bool // "Ad"/"Md": only the damped variant
}

// parseCode parses codes like "ANN", "AAdN", "MAdM", "ZZZ". The trend letter may be followed
// by 'd' to ask for damping; "A" or "M" alone means undamped, and "Z" tries N, A and Ad.
func parseCode(code string) (pattern, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if c == "" {
		c = "ZZZ"
	}
	bad := fmt.Errorf("%w: ETS spec %q: want three letters from {A,M,Z} {N,A,M,Z} {N,A,M,Z}, with an optional d after an A or M trend (e.g. ANN, AAdN, MAdM, ZZZ)", ErrInvalidSpec, code)
	var p pattern
	switch {
	case len(c) == 3:
	case len(c) == 4 && c[2] == 'D' && (c[1] == 'A' || c[1] == 'M'):
		p.damped = true
		c = c[:2] + c[3:]
	default:
		return p, bad
	}
	p.err, p.trend, p.season = c[0], c[1], c[2]
	if !strings.ContainsRune("AMZ", rune(p.err)) || !strings.ContainsRune("NAMZ", rune(p.trend)) || !strings.ContainsRune("NAMZ", rune(p.season)) {
		return p, bad
	}
	return p, nil
}

// forbidden reports the combinations R excludes by default (restrict = TRUE) because their
// forecast variance can be infinite.
func forbidden(s Spec) bool {
	if s.Error == Additive && (s.Trend == Multiplicative || s.Season == Multiplicative) {
		return true
	}
	return s.Error == Multiplicative && s.Trend == Multiplicative && s.Season == Additive
}

// candidates expands a pattern over R's default model space for data with the given period and
// positivity, in R's search order.
func candidates(p pattern, period int, positive, multTrend bool) ([]Spec, error) {
	errs := expand(p.err, "AM")
	trends := expand(p.trend, "NA")
	if p.trend == auto && multTrend {
		trends = "NAM"
	}
	seasons := expand(p.season, "NAM")
	if period <= 1 {
		if p.season == Additive || p.season == Multiplicative {
			return nil, fmt.Errorf("%w: seasonal ETS model on non-seasonal data (season length %d)", ErrInvalidSpec, period)
		}
		seasons = "N"
	} else if period > MaxPeriod {
		if p.season == Additive || p.season == Multiplicative {
			return nil, fmt.Errorf("%w: ETS cannot estimate a season of length %d (at most %d)", ErrInvalidSpec, period, MaxPeriod)
		}
		seasons = "N" // R ignores seasonality above 24 for "Z"
	}
	if p.err != auto && p.trend != auto && p.season != auto {
		s := Spec{Error: p.err, Trend: p.trend, Season: p.season, Damped: p.damped}
		if forbidden(s) {
			return nil, fmt.Errorf("%w: %s is a forbidden combination (infinite forecast variance)", ErrInvalidSpec, s)
		}
	}
	if !positive {
		if p.err == Multiplicative {
			return nil, fmt.Errorf("%w: a multiplicative error needs strictly positive data", ErrInvalidData)
		}
		errs = "A"
	}
	var damps []bool
	switch {
	case p.damped:
		damps = []bool{true}
	case p.trend == auto:
		damps = []bool{true, false}
	default:
		damps = []bool{false}
	}
	var out []Spec
	for i := range len(errs) {
		for j := range len(trends) {
			for k := range len(seasons) {
				for _, d := range damps {
					s := Spec{Error: errs[i], Trend: trends[j], Season: seasons[k], Damped: d}
					if s.Trend == None && d {
						continue
					}
					if forbidden(s) {
						continue
					}
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		if !positive {
			return nil, fmt.Errorf("%w: every model matching %c%c%c needs strictly positive data", ErrInvalidData, p.err, p.trend, p.season)
		}
		return nil, fmt.Errorf("%w: no admissible ETS model matches %c%c%c", ErrInvalidSpec, p.err, p.trend, p.season)
	}
	return out, nil
}

func expand(c byte, all string) string {
	if c == auto {
		return all
	}
	return string(c)
}
