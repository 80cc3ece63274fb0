package forecast

import (
	"encoding/json"
	"errors"
	"fmt"
)

// encodingVersion is bumped whenever a stored model's layout changes incompatibly.
const encodingVersion = 1

// envelope is the self-describing stored form of a model.
type envelope struct {
	Version int             `json:"v"`
	Kind    string          `json:"kind"`
	Missing int             `json:"missing,omitempty"`
	Tail    int             `json:"tail,omitempty"` // of the missing values, those at the end
	Model   json.RawMessage `json:"model"`
}

// Encode serialises a fitted model for storage. Decode(Encode(m)) forecasts identically.
func Encode(m Model) ([]byte, error) {
	if m == nil {
		return nil, errors.New("encode: nil model")
	}
	inner := m
	missing, tail := 0, 0
	if mm, ok := m.(missingModel); ok {
		inner, missing, tail = mm.Model, mm.missing, mm.tail
	}
	body, err := json.Marshal(inner)
	if err != nil {
		return nil, fmt.Errorf("encode %s model: %w", m.Kind(), err)
	}
	return json.Marshal(envelope{Version: encodingVersion, Kind: inner.Kind(), Missing: missing, Tail: tail, Model: body})
}

// Decode restores a model written by Encode.
func Decode(b []byte) (Model, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	if env.Version != encodingVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadEncoding, env.Version, encodingVersion)
	}
	if env.Missing < 0 {
		return nil, fmt.Errorf("%w: negative missing count %d", ErrBadEncoding, env.Missing)
	}
	if env.Tail < 0 || env.Tail > env.Missing || env.Tail >= MaxHorizon {
		return nil, fmt.Errorf("%w: missing tail %d (of %d missing)", ErrBadEncoding, env.Tail, env.Missing)
	}
	dec, ok := decoders[env.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrBadEncoding, env.Kind)
	}
	m, err := dec(env.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadEncoding, env.Kind, err)
	}
	return withMissing(m, env.Missing, env.Tail), nil
}

// decoders maps a model kind to the function that restores it.
var decoders = map[string]func([]byte) (Model, error){
	kindBaseline: decodeBaseline,
	kindETS:      decodeETS,
	kindARIMA:    decodeARIMA,
	kindTheta:    decodeTheta,
}

// missingModel wraps a model fitted to a series with missing values: it reports how many there
// were, and forecasts through the tail ones. The model was fitted up to the last observed
// value, but the series ran on for tail more steps, so its first forecast is the model's
// forecast tail+1 steps ahead.
type missingModel struct {
	Model
	missing int
	tail    int
}

func (m missingModel) Summary() Summary {
	s := m.Model.Summary()
	s.Missing = m.missing
	return s
}

func (m missingModel) Forecast(h int, levels []float64) (Result, error) {
	if m.tail == 0 {
		return m.Model.Forecast(h, levels)
	}
	if err := checkForecastArgs(h, levels); err != nil {
		return Result{}, err
	}
	if h+m.tail > MaxHorizon {
		return Result{}, fmt.Errorf("%w: the series ends with %d missing values, so %d steps ahead are %d from its last observation; at most %d are computed",
			ErrInvalidSpec, m.tail, h, h+m.tail, MaxHorizon)
	}
	res, err := m.Model.Forecast(h+m.tail, levels)
	if he := (*HorizonError)(nil); errors.As(err, &he) {
		// The model forecasts from the last observation: its steps count the missing tail.
		beyond := *he
		beyond.Fits = max(he.Fits-m.tail, 0)
		return Result{}, &beyond
	}
	if err != nil {
		return Result{}, err
	}
	res.Point = res.Point[m.tail:]
	for k, iv := range res.Intervals {
		res.Intervals[k] = Interval{Lower: iv.Lower[m.tail:], Upper: iv.Upper[m.tail:]}
	}
	return res, nil
}

// withMissing wraps m when its series had missing values, tail of them at its end.
func withMissing(m Model, missing, tail int) Model {
	if missing == 0 {
		return m
	}
	return missingModel{Model: m, missing: missing, tail: tail}
}
