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
	Model   json.RawMessage `json:"model"`
}

// Encode serialises a fitted model for storage. Decode(Encode(m)) forecasts identically.
func Encode(m Model) ([]byte, error) {
	if m == nil {
		return nil, errors.New("encode: nil model")
	}
	inner := m
	missing := 0
	if mm, ok := m.(missingModel); ok {
		inner, missing = mm.Model, mm.missing
	}
	body, err := json.Marshal(inner)
	if err != nil {
		return nil, fmt.Errorf("encode %s model: %w", m.Kind(), err)
	}
	return json.Marshal(envelope{Version: encodingVersion, Kind: inner.Kind(), Missing: missing, Model: body})
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
	dec, ok := decoders[env.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrBadEncoding, env.Kind)
	}
	m, err := dec(env.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadEncoding, env.Kind, err)
	}
	return withMissing(m, env.Missing), nil
}

// decoders maps a model kind to the function that restores it.
var decoders = map[string]func([]byte) (Model, error){
	kindBaseline: decodeBaseline,
	kindETS:      decodeETS,
	kindARIMA:    decodeARIMA,
	kindTheta:    decodeTheta,
}

// missingModel wraps a model to report how many missing values were interpolated before fitting.
type missingModel struct {
	Model
	missing int
}

func (m missingModel) Summary() Summary {
	s := m.Model.Summary()
	s.Missing = m.missing
	return s
}

func withMissing(m Model, missing int) Model {
	if missing == 0 {
		return m
	}
	return missingModel{Model: m, missing: missing}
}
