package messages

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A batch can also be uploaded in the long format forecasting tools use (statsforecast,
// Prophet): one row per observation, series_id, timestamp, value, as CSV with a header row or
// as NDJSON, one object per line. Rows of one series need not be together; each series is put
// in timestamp order. The batch's other fields come as query parameters (UploadParams).

// Upload media types.
const (
	MediaCSV    = "text/csv"
	MediaNDJSON = "application/x-ndjson"
)

// MaxUploadLine bounds one NDJSON line of an upload.
const MaxUploadLine = 64 << 10

// uploadColumns are the long format's columns, each with the name statsforecast gives it.
var uploadColumns = [3][2]string{{"series_id", "unique_id"}, {"timestamp", "ds"}, {"value", "y"}}

// uploadTimeLayouts are the timestamps an upload may give besides plain dates (2024-01-31):
// RFC 3339 (as the JSON body takes), and date and time without a zone (pandas' default, read
// as UTC).
var uploadTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}

// UploadParams are the fields of a batch an upload gives as query parameters.
type UploadParams struct {
	Method  string
	Horizon *int
	Levels  []float64
	// SeasonLength applies to every series of the upload.
	SeasonLength *int
	SaveModels   bool
	// Windows and Step (the batch's backtest) and Methods (comma-separated) ask for a backtest.
	Windows, Step *int
	Methods       []string
}

// ParseUploadParams reads the query parameters of an upload: method, horizon, levels
// (comma-separated), season_length, save_models, and for a backtest windows, step and methods
// (comma-separated). Unknown and repeated parameters are refused, as unknown
// and repeated JSON keys are.
func ParseUploadParams(q url.Values) (UploadParams, error) {
	var u UploadParams
	p := Problems{}
	integer := func(name string) *int {
		s := q.Get(name)
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			p.Add(name, "must be an integer, got %q", Clip(s))
			return nil
		}
		return &n
	}
	for name, vs := range q {
		if len(vs) > 1 {
			p.Add(name, "is given %d times; give it once", len(vs))
			continue
		}
		switch name {
		case "method":
			u.Method = vs[0]
		case "horizon":
			u.Horizon = integer(name)
		case "season_length": // checked here, once, rather than for every series
			if u.SeasonLength = integer(name); u.SeasonLength != nil && (*u.SeasonLength < 1 || *u.SeasonLength > MaxSeasonLength) {
				p.Add(name, "must be an integer from 1 to %d, got %d", MaxSeasonLength, *u.SeasonLength)
			}
		case "windows":
			u.Windows = integer(name)
		case "step":
			u.Step = integer(name)
		case "methods":
			u.Methods = strings.Split(vs[0], ",")
			for i, m := range u.Methods {
				u.Methods[i] = strings.TrimSpace(m) // as levels are read: "naive, drift"
			}
		case "save_models":
			save, err := strconv.ParseBool(vs[0])
			if err != nil {
				p.Add(name, "must be true or false, got %q", Clip(vs[0]))
			}
			u.SaveModels = save
		case "levels":
			u.Levels = []float64{}
			for _, s := range strings.Split(vs[0], ",") {
				l, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if err != nil || math.IsNaN(l) || math.IsInf(l, 0) {
					p.Add(name, "must be comma-separated numbers such as 80,95, got %q", Clip(vs[0]))
					break
				}
				u.Levels = append(u.Levels, l)
			}
		default:
			p.Add(name, "is not a known query parameter of an upload (method, horizon, levels, season_length, save_models, windows, step, methods)")
		}
	}
	if !q.Has("windows") {
		for _, name := range []string{"step", "methods"} {
			if q.Has(name) {
				p.Add(name, "applies only to a backtest: add windows=k")
			}
		}
	}
	return u, p.Err()
}

// Batch is the batch request of an upload's series with these parameters, to be checked by
// ValidateUpload.
func (u UploadParams) Batch(series []BatchSeries) BatchRequest {
	if u.SeasonLength != nil {
		for i := range series {
			m := *u.SeasonLength
			series[i].SeasonLength = &m
		}
	}
	r := BatchRequest{Series: series, Method: u.Method, Horizon: u.Horizon, Levels: u.Levels, SaveModels: u.SaveModels, Methods: u.Methods}
	if u.Windows != nil {
		r.Backtest = &BacktestPlan{Windows: u.Windows, Step: u.Step}
	}
	return r
}

// ValidateUpload is Validate for a batch read from an upload: its problems name each series by
// its series_id (series "store-1".values) rather than by where it first appeared, and the
// backtest's fields by their query parameters (windows, not backtest.windows).
func (r *BatchRequest) ValidateUpload() error {
	err := r.Validate()
	var f *Failure
	if !errors.As(err, &f) {
		return err
	}
	named := make(Problems, len(f.Problems))
	for k, v := range f.Problems {
		if rest, ok := strings.CutPrefix(k, "series["); ok {
			digits, tail, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(digits); err == nil && i >= 0 && i < len(r.Series) {
				k = fmt.Sprintf("series %q%s", r.Series[i].Name, tail)
			}
		}
		named[strings.TrimPrefix(k, "backtest.")] = v // the query's windows and step
	}
	return named.Err()
}

// ReadCSVUpload reads a CSV upload: a header row naming the columns series_id, timestamp and
// value (or unique_id, ds and y) in any order, then one row per observation; an empty value is
// a missing observation. Bad rows are reported by line, a few of them; an error reading r is
// returned as it is (wrapped), so the caller can tell a slow or oversized body from bad data.
func ReadCSVUpload(r io.Reader) ([]BatchSeries, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	u := newUpload()
	header, err := cr.Read()
	if err != nil {
		return nil, u.readFailed(err, "header", "is missing: the upload is empty; send a header row such as series_id,timestamp,value")
	}
	cols, err := csvColumns(header)
	if err != nil {
		return nil, err
	}
	for !u.full() {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount):
			u.problem(pe.Line, "has %d fields but the header has %d", len(rec), len(header))
			continue
		case errors.As(err, &pe):
			u.problem(pe.Line, "is not valid CSV: %v", pe.Err)
			return nil, u.p.Err()
		case err != nil:
			return nil, fmt.Errorf("read upload: %w", err)
		}
		line, _ := cr.FieldPos(0)
		u.add(line, rec[cols[0]], rec[cols[1]], valueOf(rec[cols[2]]))
	}
	return u.series()
}

// csvColumns finds the three columns in a header row (a UTF-8 byte order mark before it, as
// spreadsheets write, is ignored).
func csvColumns(header []string) ([3]int, error) {
	cols := [3]int{-1, -1, -1}
	p := Problems{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		known := false
		for c, names := range uploadColumns {
			if name != names[0] && name != names[1] {
				continue
			}
			known = true
			if cols[c] >= 0 {
				p.Add("header", "names the %s column twice (%q and %q)", names[0], Clip(header[cols[c]]), Clip(h))
			}
			cols[c] = i
		}
		if !known {
			p.Add("header", "column %q is not known; the columns are series_id, timestamp and value (or unique_id, ds and y)", Clip(h))
		}
	}
	if cols == [3]int{-1, -1, -1} {
		return cols, Invalid("header", "is missing: the first row (%s) names none of the columns; start with a header row such as series_id,timestamp,value",
			strings.Join(header, ","))
	}
	for c, names := range uploadColumns {
		if cols[c] < 0 {
			p.Add("header", "has no %s column (or %s); the header row must name series_id, timestamp and value", names[0], names[1])
		}
	}
	return cols, p.Err()
}

// uploadRow is one NDJSON line; Value is kept raw to tell null (a missing observation) from
// no value at all.
type uploadRow struct {
	SeriesID  *string         `json:"series_id"`
	Timestamp *string         `json:"timestamp"`
	Value     json.RawMessage `json:"value"`
}

// ReadNDJSONUpload reads an NDJSON upload: one object {"series_id", "timestamp", "value"} per
// line (value null for a missing observation; blank lines are skipped), checked as strictly as
// a JSON body. Problems and read errors are reported as ReadCSVUpload reports them.
func ReadNDJSONUpload(r io.Reader) ([]BatchSeries, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxUploadLine)
	u := newUpload()
	line := 0
	for !u.full() && sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row uploadRow
		if err := DecodeJSONBytes(b, &row); err != nil {
			for k, v := range failureProblems(err) {
				u.problem(line, "%s %s", k, v)
			}
			continue
		}
		switch {
		case row.SeriesID == nil:
			u.problem(line, "has no series_id")
		case row.Timestamp == nil:
			u.problem(line, "has no timestamp")
		case row.Value == nil:
			u.problem(line, "has no value (null marks a missing observation)")
		default:
			u.add(line, *row.SeriesID, *row.Timestamp, jsonValue(row.Value))
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		u.problem(line+1, "is longer than %d bytes; send one observation per line", MaxUploadLine)
		return nil, u.p.Err()
	case err != nil:
		return nil, fmt.Errorf("read upload: %w", err)
	case len(u.all) == 0 && len(u.p) == 0:
		return nil, Invalid("body", "is empty; send one JSON object {\"series_id\", \"timestamp\", \"value\"} per line")
	}
	return u.series()
}

func failureProblems(err error) Problems {
	var f *Failure
	if errors.As(err, &f) && len(f.Problems) > 0 {
		return f.Problems
	}
	return Problems{"line": "cannot be read"}
}

// parsedValue is an upload's value cell read: a number (NaN when missing) or the problem with it.
type parsedValue struct {
	v       float64
	problem string
}

// valueOf reads a CSV value cell: a decimal number, or empty for a missing observation.
func valueOf(s string) parsedValue {
	t := strings.TrimSpace(s)
	if t == "" {
		return parsedValue{v: math.NaN()}
	}
	return numberOf(t, s)
}

// numberOf parses t, the text of value cell s, as a decimal number: ParseFloat's hexadecimal
// floats, NaN and Inf are not numbers in data; a magnitude too large for a float64 is out of
// range (add says so), not unreadable.
func numberOf(t, s string) parsedValue {
	v, err := strconv.ParseFloat(t, 64)
	spelt := err == nil && (math.IsNaN(v) || math.IsInf(v, 0) || strings.IndexByte(t, 'x') >= 0 || strings.IndexByte(t, 'X') >= 0)
	switch {
	case spelt || err != nil && !errors.Is(err, strconv.ErrRange):
		return parsedValue{problem: fmt.Sprintf("value %q is not a number (leave it empty for a missing observation)", Clip(s))}
	case math.IsInf(v, 0) || math.Abs(v) > MaxAbsValue:
		// Said as written: 1e309 read is +Inf, which the client did not write.
		return parsedValue{problem: fmt.Sprintf("value %s is out of range (|v| must be at most %g)", Clip(t), MaxAbsValue)}
	}
	return parsedValue{v: v}
}

// jsonValue reads an NDJSON value: a number, or null for a missing observation.
func jsonValue(raw json.RawMessage) parsedValue {
	if string(raw) == "null" {
		return parsedValue{v: math.NaN()}
	}
	var v json.Number // which would take a number in a string too: the first byte says
	if err := json.Unmarshal(raw, &v); err != nil || raw[0] == '"' {
		return parsedValue{problem: fmt.Sprintf("value %s is not a number (null marks a missing observation)", Clip(string(raw)))}
	}
	return numberOf(v.String(), v.String())
}

// upload gathers the rows of an upload into series, in the order each series first appears.
type upload struct {
	index map[string]int
	all   []uploadSeries
	p     Problems
}

type uploadSeries struct {
	name string
	rows []uploadObs
}

type uploadObs struct {
	t    time.Time
	v    float64
	line int
}

func newUpload() *upload { return &upload{index: map[string]int{}, p: Problems{}} }

// full reports whether enough problems are known to stop reading: a few examples, not thousands.
func (u *upload) full() bool { return len(u.p) >= maxBatchProblems }

func (u *upload) problem(line int, format string, args ...any) {
	if !u.full() {
		u.p.Add(fmt.Sprintf("line %d", line), format, args...)
	}
}

// readFailed is the error of a read that ended before the first row: an empty body is the
// problem what, anything else a read error.
func (u *upload) readFailed(err error, field, what string) error {
	if errors.Is(err, io.EOF) {
		return Invalid(field, "%s", what)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Invalid("line 1", "is not valid CSV: %v", pe.Err)
	}
	return fmt.Errorf("read upload: %w", err)
}

// add records the observation on line.
func (u *upload) add(line int, id, ts string, value parsedValue) {
	at, ok := parseUploadTime(ts)
	switch {
	case id == "":
		u.problem(line, "series_id is empty")
		return
	case !ok:
		u.problem(line, "timestamp %q is not an RFC 3339 time (2024-01-31T00:00:00Z) or a date (2024-01-31)", Clip(ts))
		return
	case value.problem != "":
		u.problem(line, "%s", value.problem)
		return
	}
	i, ok := u.index[id]
	if !ok {
		if len(u.all) == MaxBatchSeries {
			u.problem(line, "series %q is one more than the %d series accepted in one batch", id, MaxBatchSeries)
			return
		}
		i = len(u.all)
		u.index[id] = i
		u.all = append(u.all, uploadSeries{name: id})
	}
	s := &u.all[i]
	if len(s.rows) == MaxValues {
		u.problem(line, "series %q has more than the %d observations accepted in one series", id, MaxValues)
		return
	}
	s.rows = append(s.rows, uploadObs{t: at, v: value.v, line: line})
}

func parseUploadTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) == len(time.DateOnly) { // a date: the common case, without the failed tries
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	for _, layout := range uploadTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, writable(t)
		}
	}
	return time.Time{}, false
}

// series puts each series in timestamp order and returns them, or the problems found: rows
// that could not be read, and timestamps given twice in one series.
func (u *upload) series() ([]BatchSeries, error) {
	if len(u.p) == 0 && len(u.all) == 0 {
		return nil, Invalid("body", "has no rows after the header; send one row per observation")
	}
	out := make([]BatchSeries, len(u.all))
	for i := range u.all {
		s := &u.all[i]
		slices.SortStableFunc(s.rows, func(a, b uploadObs) int { return a.t.Compare(b.t) })
		values, ts := make(Values, len(s.rows)), make([]time.Time, len(s.rows))
		for j, o := range s.rows {
			if j > 0 && o.t.Equal(s.rows[j-1].t) {
				first, again := s.rows[j-1].line, o.line
				u.problem(max(first, again), "series %q has timestamp %s again (also on line %d); give each timestamp once per series",
					s.name, o.t.Format(time.RFC3339Nano), min(first, again))
			}
			values[j], ts[j] = o.v, o.t
		}
		out[i] = BatchSeries{Name: s.name, Values: values, Timestamps: ts}
		s.rows = nil // the series holds them now
	}
	if err := u.p.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
