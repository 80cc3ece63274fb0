package messages

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/forecastd/forecastd/forecast"
)

// Topics. Routing is derived from these through the Topic methods, never typed at call sites.
const (
	TopicFit      = "fit"
	TopicForecast = "forecast"
	TopicDead     = "dead"
	// TopicDeadLettered carries the commands RabbitMQ dead-letters from the command queues (after
	// their delivery limit), for the processors to answer: its queue is bound to the dead-letter
	// exchange beside the dead-letter queue, which keeps them for inspection.
	TopicDeadLettered = "dead-lettered"
	replyPrefix       = "reply."
)

// ReplyTopic is the topic of one gateway's replies.
func ReplyTopic(gatewayID string) string { return replyPrefix + gatewayID }

// GatewayOfReplyTopic returns the gateway id of a reply topic, or "" if topic is not one.
func GatewayOfReplyTopic(topic string) string {
	if len(topic) > len(replyPrefix) && topic[:len(replyPrefix)] == replyPrefix {
		return topic[len(replyPrefix):]
	}
	return ""
}

// Job kinds.
const (
	KindFit      = "fit"
	KindForecast = "forecast"
)

// FitCommand asks a processor to fit generation Generation of Model.
type FitCommand struct {
	// Kind is empty for a fit; KindBacktest marks a BacktestCommand, which shares the queue.
	Kind         string           `json:"kind,omitempty"`
	JobID        string           `json:"job_id"`
	Model        string           `json:"model"`
	Generation   int64            `json:"generation"`
	ReplyTo      string           `json:"reply_to"` // gateway id
	Values       Values           `json:"values"`
	SeasonLength int              `json:"season_length"`
	Method       string           `json:"method"`
	Options      forecast.Options `json:"options,omitzero"`
	Timestamps   *TimeAxis        `json:"timestamps,omitempty"`
	// Gaps counts the steps the client's timestamps left out, missing values in Values.
	Gaps int `json:"gaps,omitempty"`
	// HistoryTimestamps are the times of the last (at most MaxHistory) values, kept with the
	// model's history; the engine itself needs only the axis.
	HistoryTimestamps []time.Time `json:"history_timestamps,omitempty"`
	AcceptedAt        time.Time   `json:"accepted_at"`
	// API is APIOriginal for a fit asked for through the original API, whose answers differ.
	API string `json:"api,omitempty"`
	// QueueLeaseMS is the fit's queue lease, in milliseconds: the gateway accepts a fit for its
	// publish's time only and then gives it this (store.QueueFit), and a processor that claims
	// the fit gives it this too, since a delivered command is in the queue. 0 (gateways before
	// it was added) leaves the fit's queue lease as the gateway set it.
	QueueLeaseMS int64 `json:"queue_lease_ms,omitempty"`
}

// APIOriginal marks commands of the original service's API (POST /api/fit_model and
// /api/forecast): their answers carry the original's fields (OriginalFit, OriginalForecast) and
// name the original's request fields in their problems (ValuesField, HorizonField).
const APIOriginal = "original"

// OriginalFitMessage is data.message of a successful fit through the original API.
const OriginalFitMessage = "Successfully fitted and persisted model."

// ValuesField is the request field that held the series of a fit asked for through api.
func ValuesField(api string) string {
	if api == APIOriginal {
		return "data"
	}
	return "values"
}

// HorizonField is the request field that held the horizon of a forecast asked for through api.
func HorizonField(api string) string {
	if api == APIOriginal {
		return "num_steps"
	}
	return "horizon"
}

// OriginalFit is the data of a successful fit through the original API: the original's
// message, then the fit summary.
type OriginalFit struct {
	Message string `json:"message"`
	FitSummary
}

// OriginalForecast is the data of a successful forecast through the original API: the point
// forecasts as the original's "forecast", then the forecast result.
type OriginalForecast struct {
	Forecast Values `json:"forecast"`
	ForecastResult
}

// Topic routes fit commands.
func (FitCommand) Topic() string { return TopicFit }

// ResentHeader marks a command that the broker published again on its own, taken out of a
// bundle that was delivered before (its processor died holding it): it may have been answered
// already, as a redelivered command may.
const ResentHeader = "x-forecastd-resent"

// PublishTimeout bounds how long a gateway waits for the broker to take and confirm a command:
// a broker that blocks publishers (memory or disk alarm) or never confirms gets the client a
// 503, not a hang.
const PublishTimeout = 10 * time.Second

// Late reports whether the forecast reached a processor at now too late to be computed: more
// than PublishTimeout past its Deadline. A held forecast is published up to the hold timeout
// after it was accepted and may then wait PublishTimeout for its confirm, which the grace
// leaves out of the request timeout the Deadline gives it to reach a processor; an answer is
// thus recorded well before a gateway shows the job expired (hold timeout + PublishTimeout + 2
// request timeouts after it was accepted).
func (c ForecastCommand) Late(now time.Time) bool {
	return !c.Deadline.IsZero() && now.After(c.Deadline.Add(PublishTimeout))
}

// DeliveryCountHeader is set by RabbitMQ quorum queues on redelivery: 1 on the first one.
const DeliveryCountHeader = "x-delivery-count"

// DeliveryCount is how many times RabbitMQ delivered a message before, read from its metadata
// (a watermill message's Metadata).
func DeliveryCount(metadata map[string]string) int {
	n, _ := strconv.Atoi(metadata[DeliveryCountHeader])
	return n
}

// ForecastCommand asks a processor to forecast with the newest model whose generation is at
// least Barrier, or, if the fits up to Barrier all ended without success, the newest model.
type ForecastCommand struct {
	JobID   string    `json:"job_id"`
	Model   string    `json:"model"`
	Barrier int64     `json:"barrier"`
	ReplyTo string    `json:"reply_to"`
	Horizon int       `json:"horizon"`
	Levels  []float64 `json:"levels"`
	// Deadline bounds how long a processor waits for the barrier to be met; a command that
	// reaches a processor later still is answered expired (Late).
	Deadline time.Time `json:"deadline,omitzero"`
	// HeldMS is how long the gateway held the forecast before publishing it.
	HeldMS float64 `json:"held_ms,omitempty"`
	// API is APIOriginal for a forecast asked for through the original API.
	API string `json:"api,omitempty"`
	// CurrentGeneration, when not 0, is the model's current generation when the gateway
	// accepted the forecast with no fit up to Barrier pending: at least Barrier, so a model the
	// forecast may use, which a processor holding it decoded uses without reading the store.
	// Gateways before it was added leave it 0, as they do for a forecast that was held. (Not
	// "generation": processors before 2026-12-03 take a failed command with a generation for a
	// fit.)
	CurrentGeneration int64 `json:"current_generation,omitempty"`
	// CurrentFitJob is the job of the fit that made CurrentGeneration: a processor uses the
	// model it holds only if it was made by that job, since a failover that loses a fit's
	// completion gives its generation to the next fit. Empty from gateways before it was added.
	CurrentFitJob string `json:"current_fit_job,omitempty"`
	// AcceptedAt is when the gateway accepted the forecast, its job record's created_at, for a
	// processor that writes the record without reading it first.
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
}

// Topic routes forecast commands.
func (ForecastCommand) Topic() string { return TopicForecast }

// MaxHistory is how many of a fit's last observations are kept with the model, so a client can
// draw the series a model was fitted on.
const MaxHistory = 2000

// History is the tail of a fitted series as kept with the model: its last values (null where
// missing), oldest first, and their timestamps when the fit had them.
type History struct {
	Values     Values      `json:"values"`
	Timestamps []time.Time `json:"timestamps,omitempty"`
	// Start is the index of the first kept value in the fitted series; Truncated says Start > 0.
	Start     int  `json:"start"`
	Truncated bool `json:"truncated"`
}

// NewHistory keeps the last MaxHistory values; ts, if any, are the times of the last values
// (all of them, or at least as many as are kept).
func NewHistory(values Values, ts []time.Time) History {
	start := max(0, len(values)-MaxHistory)
	h := History{Values: values[start:], Start: start, Truncated: start > 0}
	if k := len(h.Values); len(ts) >= k && k > 0 {
		h.Timestamps = ts[len(ts)-k:]
	}
	return h
}

// HistoryTimes returns the times NewHistory needs of ts: the last MaxHistory.
func HistoryTimes(ts []time.Time) []time.Time {
	return ts[max(0, len(ts)-MaxHistory):]
}

// Reply types.
const (
	ReplyRunning  = "running"  // a processor took the command
	ReplyProgress = "progress" // fit progress
	ReplyResult   = "result"   // final outcome: the result's data, or the Failure
)

// Reply travels from a processor to the gateway that sent the command.
type Reply struct {
	JobID    string             `json:"job_id"`
	Kind     string             `json:"kind"`
	Model    string             `json:"model"`
	Type     string             `json:"type"`
	Progress *forecast.Progress `json:"progress,omitempty"`
	// A result carries the data of a success or the failure.
	Result  json.RawMessage `json:"result,omitempty"`
	Failure *Failure        `json:"failure,omitempty"`

	// Status and Body are how results of versions before codes came: the HTTP status and the
	// JSend body. They are read (a rolling upgrade meets them), never written.
	Status int       `json:"status,omitempty"`
	Body   *Envelope `json:"body,omitempty"`
}

// FitSummary is the data of a successful fit.
type FitSummary struct {
	Model      string             `json:"model"`
	Generation int64              `json:"generation"`
	JobID      string             `json:"job_id"`
	Method     string             `json:"method"`
	Params     map[string]float64 `json:"params"`
	AICc       *float64           `json:"aicc"`
	Sigma2     *float64           `json:"sigma2"`
	LogLik     *float64           `json:"loglik,omitempty"`
	N          int                `json:"n"`
	Missing    int                `json:"missing"`
	// Gaps counts those of the missing values whose times the timestamps left out.
	Gaps       int     `json:"gaps,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// Current is false when a newer generation finished first and this one never became current.
	Current    bool      `json:"current"`
	FittedAt   time.Time `json:"fitted_at"`
	Timestamps *TimeAxis `json:"time_axis,omitempty"`
}

// ForecastResult is the data of a successful forecast.
type ForecastResult struct {
	Model      string              `json:"model"`
	Generation int64               `json:"generation"`
	JobID      string              `json:"job_id"`
	Method     string              `json:"method"`
	Horizon    int                 `json:"horizon"`
	Point      Values              `json:"point"`
	Intervals  map[string]Interval `json:"intervals"`
	Timestamps []time.Time         `json:"timestamps,omitempty"`
	HeldMS     float64             `json:"held_ms"`
	// Fallback is set when the fit this forecast waited for did not succeed and an older
	// generation was used instead.
	Fallback *Fallback `json:"fallback,omitempty"`
}

// Interval is a prediction interval on the wire; a bound the engine could not compute (it
// overflowed) is null rather than an unencodable NaN.
type Interval struct {
	Lower Values `json:"lower"`
	Upper Values `json:"upper"`
}

// Fallback explains why a forecast used an older generation than its barrier.
type Fallback struct {
	AwaitedGeneration int64  `json:"awaited_generation"`
	Reason            string `json:"reason"`
}

// Marshal encodes a command or reply for the wire.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }
