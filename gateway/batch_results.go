package gateway

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// A batch's results come as JSON (the JSend answer), NDJSON (one line per series, each the
// object the JSON answer lists) or CSV in long format (one row per series and forecast step),
// by Accept. There is no 406: */*, a missing Accept and any type not offered get JSON.

// resultsFormats are the media types of a batch's results, the default first.
var resultsFormats = []string{"application/json", messages.MediaNDJSON, messages.MediaCSV}

// resultsFormat is the format of the results r accepts: of the types offered, the one it
// gives the highest quality (q), the first it names on a tie.
func resultsFormat(r *http.Request) string {
	best, bestQ := resultsFormats[0], 0.0
	for _, a := range acceptedTypes(r) {
		if slices.Contains(resultsFormats, a.mediaType) && a.q > bestQ {
			best, bestQ = a.mediaType, a.q
		}
	}
	return best
}

// qualityOf is the quality accepted gives mediaType: that of the most specific range naming it
// (the type itself, then type/*, then */*, these two only with wildcards), 0 if none does.
func qualityOf(accepted []acceptedType, mediaType string, wildcards bool) float64 {
	ranges := []string{mediaType}
	if wildcards {
		major, _, _ := strings.Cut(mediaType, "/")
		ranges = append(ranges, major+"/*", "*/*")
	}
	for _, rng := range ranges {
		if i := slices.IndexFunc(accepted, func(a acceptedType) bool { return a.mediaType == rng }); i >= 0 {
			return accepted[i].q
		}
	}
	return 0
}

// acceptedType is a media type an Accept header names, with its quality.
type acceptedType struct {
	mediaType string // lower case
	q         float64
}

// acceptedTypes are the media types r's Accept headers name, in order, each with its quality
// (1 unless q says otherwise; a type with an unreadable q is left out).
func acceptedTypes(r *http.Request) []acceptedType {
	var out []acceptedType
	for _, header := range r.Header.Values("Accept") {
		for _, part := range strings.Split(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil {
					continue
				}
			}
			out = append(out, acceptedType{mediaType: mt, q: q})
		}
	}
	return out
}

// streamResults writes a batch's results in format (NDJSON or CSV) a series at a time. With a
// backtest, each series carries its own figures (CSV: in columns of their own), and NDJSON ends
// with a line of the overall figures and the leaderboard, as the JSON answer has them.
func (g *Gateway) streamResults(w http.ResponseWriter, format string, b store.Batch, names []string, results []json.RawMessage) {
	w.Header().Set("Content-Type", format)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	out := g.paced(w)
	view := viewOf(b)
	var methods []string
	if view.Backtest != nil {
		methods = view.Backtest.Methods
	}
	enc := json.NewEncoder(out)
	write, flush := func(v seriesView) error { return enc.Encode(v) }, func() error { return nil }
	if format == messages.MediaCSV {
		c := newCSVResults(out, view.Levels, methods)
		write, flush = c.write, c.flush
	}
	var backtests []map[string]messages.Accuracy
	for i, name := range names {
		v := g.seriesOf(b, i, name, results[i])
		if methods != nil {
			backtests = append(backtests, v.Backtest)
		}
		if err := write(v); err != nil {
			g.log.Debug("batch results cut short", "batch_id", b.ID, "format", format, "err", err)
			return
		}
	}
	err := flush()
	if err == nil && methods != nil && format == messages.MediaNDJSON {
		var sum backtestSummary
		sum.Overall, sum.Leaderboard = messages.Overall(methods, backtests)
		err = enc.Encode(sum)
	}
	if err != nil {
		g.log.Debug("batch results cut short", "batch_id", b.ID, "format", format, "err", err)
	}
}

// backtestSummary is the last line of a backtest batch's NDJSON results.
type backtestSummary struct {
	Overall     map[string]messages.OverallAccuracy `json:"overall"`
	Leaderboard []string                            `json:"leaderboard"`
}

// csvResults writes series in long format: columns series_id, step (from 1), timestamp (RFC
// 3339, empty for a series without timestamps), point, lo_L and hi_L for each level L; with a
// backtest, for each method M its figures on the series, M_mase, M_smape and M_coverage_L
// (repeated on each of the series' rows); and error. A series that did not succeed is one row
// with only series_id and error, which says why: the problems of a failed series ("values:
// …"), or that it is pending or was skipped.
type csvResults struct {
	cw      *csv.Writer
	levels  []string // interval keys
	methods []string // backtested
	row     []string
	err     error // of writing the header
}

func newCSVResults(w io.Writer, levels []float64, methods []string) *csvResults {
	c := &csvResults{cw: csv.NewWriter(w), methods: methods}
	header := []string{"series_id", "step", "timestamp", "point"}
	for _, l := range levels {
		key := forecast.LevelKey(l)
		c.levels = append(c.levels, key)
		header = append(header, "lo_"+key, "hi_"+key)
	}
	for _, m := range methods {
		header = append(header, m+"_mase", m+"_smape")
		for _, key := range c.levels {
			header = append(header, m+"_coverage_"+key)
		}
	}
	header = append(header, "error")
	c.row = make([]string, len(header))
	c.err = c.cw.Write(header)
	return c
}

func (c *csvResults) write(v seriesView) error {
	if c.err != nil {
		return c.err
	}
	row := c.row
	clear(row)
	row[0] = v.Name
	if v.Status != seriesSucceeded {
		row[len(row)-1] = seriesProblem(v)
		return c.cw.Write(row)
	}
	col := 4 + 2*len(c.levels)
	for _, m := range c.methods {
		a := v.Backtest[m]
		row[col], row[col+1] = csvFigure(a.MASE), csvFigure(a.SMAPE)
		for j, key := range c.levels {
			if cov, ok := a.Coverage[key]; ok {
				row[col+2+j] = strconv.FormatFloat(cov, 'g', -1, 64)
			}
		}
		col += 2 + len(c.levels)
	}
	for k := range v.Point {
		row[1], row[3] = strconv.Itoa(k+1), csvNumber(v.Point, k)
		if k < len(v.Timestamps) {
			row[2] = v.Timestamps[k].Format(time.RFC3339Nano)
		}
		for j, key := range c.levels {
			iv := v.Intervals[key]
			row[4+2*j], row[5+2*j] = csvNumber(iv.Lower, k), csvNumber(iv.Upper, k)
		}
		if err := c.cw.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// csvFigure is a backtest figure as CSV text: empty when there is none.
func csvFigure(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

func (c *csvResults) flush() error {
	c.cw.Flush()
	return c.cw.Error()
}

// csvNumber is value k of vs as CSV text: empty when missing (NaN, or no such value).
func csvNumber(vs messages.Values, k int) string {
	if k >= len(vs) || math.IsNaN(vs[k]) {
		return ""
	}
	return strconv.FormatFloat(vs[k], 'g', -1, 64)
}

// seriesProblem says in one line why series v has no forecast.
func seriesProblem(v seriesView) string {
	switch {
	case v.Status == seriesPending:
		return "pending: the series has not ended yet"
	case v.Status == seriesSkipped:
		return "skipped: the batch ended before the series did"
	case v.Error == nil:
		return v.Status
	case v.Error.Status == messages.StatusFail:
		var problems map[string]string
		if json.Unmarshal(v.Error.Data, &problems) == nil {
			parts := make([]string, 0, len(problems))
			for _, field := range slices.Sorted(maps.Keys(problems)) {
				parts = append(parts, field+": "+problems[field])
			}
			return strings.Join(parts, "; ")
		}
	}
	return fmt.Sprintf("%s (%d)", v.Error.Message, v.HTTPStatus)
}
