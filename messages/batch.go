package messages

import (
	"fmt"
	"slices"
	"time"

	"github.com/forecastd/forecastd/forecast"
)

// MaxBatchSeries bounds the series of one batch; the body limit (MaxBodyBytes) bounds their
// values together.
const MaxBatchSeries = 10_000

// MaxBatchForecastValues bounds the forecast values of a batch's results, series × horizon ×
// (1 + 2 × levels), a step's timestamp counting as one more value: a request of a few hundred
// bytes must not ask for results too big to store in Redis or to answer.
const MaxBatchForecastValues = 5_000_000

// TopicBatch carries one series of a batch to a processor. Batch series have a queue of their
// own, so that a big batch never waits in front of interactive fits and forecasts.
const TopicBatch = "batch"

// KindBatch is the kind of a batch's series work.
const KindBatch = "batch"

// BatchRequest is the JSON body of POST /v1/batches: many series, each fitted with Method and
// forecast Horizon steps ahead with intervals at Levels.
type BatchRequest struct {
	Series  []BatchSeries `json:"series"`
	Method  string        `json:"method,omitempty"`
	Horizon *int          `json:"horizon"`
	Levels  []float64     `json:"levels,omitempty"`
	// SaveModels keeps each series as the model {batch_id}.{name} (see SavedModel).
	SaveModels bool `json:"save_models,omitempty"`
	// Backtest, if given, evaluates Methods (default: [Method]) on every series.
	Backtest *BacktestPlan `json:"backtest,omitempty"`
	Methods  []string      `json:"methods,omitempty"`
}

// BatchSeries is one series of a batch.
type BatchSeries struct {
	Name         string `json:"name"`
	Values       Values `json:"values"`
	SeasonLength *int   `json:"season_length,omitempty"`
	Timestamps   Times  `json:"timestamps,omitempty"`
}

// Validate checks a batch the way a fit and a forecast are checked, naming each bad series'
// field by its index (series[3].values), and fills in the defaults (method auto, levels 80 and
// 95, season_length 1). Series names follow the rules of model names and must be unique.
func (r *BatchRequest) Validate() error {
	p := Problems{}
	if r.Method == "" {
		r.Method = forecast.MethodAuto
		if len(r.Methods) > 0 && r.Backtest != nil && slices.Contains(forecast.Methods, r.Methods[0]) {
			r.Method = r.Methods[0] // the first method compared is the one forecast (an unknown one is named as methods[0])
		}
	}
	r.validateBacktest(p)
	fc := ForecastRequest{Horizon: r.Horizon, Levels: r.Levels}
	if err := fc.Validate(); err != nil {
		for k, v := range err.(*Failure).Problems {
			p.Add(k, "%s", v)
		}
	}
	r.Levels = fc.Levels
	horizon := 0 // the forecast steps each series' timestamps must leave room for, once valid
	if _, bad := p["horizon"]; !bad {
		horizon = *r.Horizon
	}
	switch {
	case r.Series == nil:
		p.Add("series", "is required: an array of {name, values, season_length?, timestamps?}")
	case len(r.Series) == 0:
		p.Add("series", "must not be empty")
	case len(r.Series) > MaxBatchSeries:
		p.Add("series", "has %d series; at most %d are accepted in one batch", len(r.Series), MaxBatchSeries)
	}
	if len(r.Series) > MaxBatchSeries {
		return p.Err()
	}
	seen := make(map[string]int, len(r.Series))
	for i := range r.Series {
		if len(p) >= maxBatchProblems { // a few examples, not thousands of lines
			break
		}
		s := &r.Series[i]
		field := fmt.Sprintf("series[%d]", i)
		if problem := ValidModelName(s.Name); problem != "" {
			p.Add(field+".name", "%s", problem)
		} else if j, dup := seen[s.Name]; dup {
			p.Add(field+".name", "%q is also the name of series[%d]; names must be unique", s.Name, j)
		} else {
			seen[s.Name] = i
		}
		if r.SaveModels {
			validateSavedName(p, field+".name", s.Name)
		}
		fit := FitRequest{Values: s.Values, SeasonLength: s.SeasonLength, Method: r.Method, Timestamps: s.Timestamps, horizon: horizon}
		if err := fit.Validate(); err != nil {
			for k, v := range err.(*Failure).Problems {
				if k == "method" {
					p.Add(k, "%s", v) // the batch's, not the series'
					continue
				}
				p.Add(field+"."+k, "%s", v)
			}
		}
		s.SeasonLength = fit.SeasonLength
	}
	if len(p) == 0 {
		r.checkSize(p)
	}
	return p.Err()
}

// checkSize refuses a valid batch whose results would carry more than MaxBatchForecastValues.
func (r *BatchRequest) checkSize(p Problems) {
	perSeries, stamped := 1+2*len(r.Levels), "" // values of one series at one step
	if slices.ContainsFunc(r.Series, func(s BatchSeries) bool { return s.Timestamps != nil }) {
		perSeries, stamped = perSeries+1, ", and a timestamp per step"
	}
	perStep := perSeries * len(r.Series) // of every series at one step
	if values := perStep * *r.Horizon; values > MaxBatchForecastValues {
		p.Add("horizon", "with %d series and %d levels%s, a horizon of %d asks for %d forecast values; a batch's results carry at most %d (series × horizon × (1 + 2 × levels)): a horizon of at most %d, or fewer series or levels",
			len(r.Series), len(r.Levels), stamped, *r.Horizon, values, MaxBatchForecastValues, MaxBatchForecastValues/perStep)
	}
}

// maxBatchProblems bounds the problems reported for one batch (a series may add two past it).
const maxBatchProblems = 20

// BatchCommand asks a processor to fit series Index of batch BatchID and forecast it.
type BatchCommand struct {
	BatchID      string    `json:"batch_id"`
	Index        int       `json:"index"`
	Name         string    `json:"name"`
	Values       Values    `json:"values"`
	SeasonLength int       `json:"season_length"`
	Timestamps   *TimeAxis `json:"timestamps,omitempty"`
	Gaps         int       `json:"gaps,omitempty"` // steps the timestamps left out, NaN in Values
	Method       string    `json:"method"`
	Horizon      int       `json:"horizon"`
	Levels       []float64 `json:"levels"`
	Backtest     *Backtest `json:"backtest,omitempty"`
	AcceptedAt   time.Time `json:"accepted_at"`
	// Generation, when not 0, is the generation of the series' model (Model) accepted with the
	// batch: the series is kept as that model. HistoryTimestamps are then kept with it, as a
	// fit's are.
	Generation        int64       `json:"generation,omitempty"`
	HistoryTimestamps []time.Time `json:"history_timestamps,omitempty"`
}

// Topic routes batch commands.
func (BatchCommand) Topic() string { return TopicBatch }

// BatchSeriesResult is the outcome of one series of a batch: its forecast, or its Failure.
type BatchSeriesResult struct {
	Index      int                 `json:"index"`
	Name       string              `json:"name"`
	Method     string              `json:"method,omitempty"`
	Point      Values              `json:"point,omitempty"`
	Intervals  map[string]Interval `json:"intervals,omitempty"`
	Timestamps []time.Time         `json:"timestamps,omitempty"`
	// Missing counts the missing values filled in before fitting (nulls and Gaps); Gaps those
	// of them whose times the series' timestamps left out.
	Missing int `json:"missing,omitempty"`
	Gaps    int `json:"gaps,omitempty"`
	// Model and Generation name the model the series was kept as, when its batch saves them.
	Model      string              `json:"model,omitempty"`
	Generation int64               `json:"generation,omitempty"`
	Backtest   map[string]Accuracy `json:"backtest,omitempty"`
	Failure    *Failure            `json:"failure,omitempty"`
}
