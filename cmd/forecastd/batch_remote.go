package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/messages"
)

// Media types of batch uploads and results (the Public API's POST /v1/batches and …/results).
const (
	mediaJSON   = "application/json"
	mediaNDJSON = "application/x-ndjson"
	mediaCSV    = "text/csv"
)

// Result formats of --format.
const (
	formatJSON   = "json"
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

var formatMedia = map[string]string{formatJSON: mediaJSON, formatNDJSON: mediaNDJSON, formatCSV: mediaCSV}

// formatOf is the format a file's extension implies: .csv, .ndjson or .jsonl, else JSON.
func formatOf(path string) string {
	switch p := strings.ToLower(path); {
	case strings.HasSuffix(p, ".csv"):
		return formatCSV
	case strings.HasSuffix(p, ".ndjson"), strings.HasSuffix(p, ".jsonl"):
		return formatNDJSON
	}
	return formatJSON
}

// batchStatus is what the service says of a batch: the 202, GET /v1/batches/{id}, and the
// data of the batch events (batch_progress, batch_done), which carry at least batch_id.
type batchStatus struct {
	BatchID string `json:"batch_id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	ETAms   *int64 `json:"eta_ms"`
}

func (s batchStatus) terminal() bool {
	switch s.Status {
	case "succeeded", "failed", "cancelled":
		return true
	}
	return false
}

// remote talks to a running service for 'forecastd batch --url'.
type remote struct {
	base   string // the service's URL without a trailing slash
	token  string
	client *http.Client
}

// serviceError is a JSend fail or error the service answered, as the user should read it.
type serviceError struct {
	status int
	body   messages.Envelope
}

func (e *serviceError) Error() string {
	if e.body.Status == messages.StatusFail {
		var fields map[string]any
		if json.Unmarshal(e.body.Data, &fields) == nil && len(fields) > 0 {
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s: %v", k, fields[k])
			}
			return fmt.Sprintf("the service refused the request (%d): %s", e.status, strings.Join(parts, "; "))
		}
	}
	if e.body.Message != "" {
		return fmt.Sprintf("the service answered %d: %s", e.status, e.body.Message)
	}
	return fmt.Sprintf("the service answered %d %s", e.status, http.StatusText(e.status))
}

func (c *remote) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// decode reads a JSend answer: its data on success, a *serviceError otherwise. The answer is
// read whole: the results of a big batch run to megabytes.
func decode(resp *http.Response, data any) error {
	var env messages.Envelope
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Status == "" {
		return fmt.Errorf("the service answered %d with a body that is not JSend (%s)", resp.StatusCode, firstLine(b))
	}
	if env.Status != messages.StatusSuccess {
		return &serviceError{status: resp.StatusCode, body: env}
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strconv.Quote(s)
}

func (c *remote) status(ctx context.Context, id string) (batchStatus, error) {
	return c.batch(ctx, http.MethodGet, id, 30*time.Second)
}

func (c *remote) cancel(ctx context.Context, id string) (batchStatus, error) {
	return c.batch(ctx, http.MethodDelete, id, 10*time.Second)
}

// batch asks for (GET) or cancels (DELETE) batch id and returns its status.
func (c *remote) batch(ctx context.Context, method, id string, timeout time.Duration) (batchStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.request(ctx, method, "/v1/batches/"+url.PathEscape(id), nil)
	if err != nil {
		return batchStatus{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return batchStatus{}, err
	}
	defer resp.Body.Close()
	var st batchStatus
	return st, decode(resp, &st)
}

// upload is the body of POST /v1/batches and the query parameters an upload takes.
type upload struct {
	body        io.Reader
	contentType string
	query       url.Values
}

// prepareUpload reads the input for the service: a CSV or NDJSON file of series_id,timestamp,value
// goes as it is, with the batch's parameters as query parameters; the offline JSON array becomes
// a JSON batch body.
func prepareUpload(ctx context.Context, opts batchOptions, in io.Reader) (upload, error) {
	levels := make([]string, len(opts.Levels))
	for i, l := range opts.Levels {
		levels[i] = strconv.FormatFloat(l, 'f', -1, 64)
	}
	if f := formatOf(opts.Input); f != formatJSON {
		if opts.Horizon == 0 {
			return upload{}, errors.New("--horizon is required with a CSV or NDJSON input")
		}
		q := url.Values{"method": {opts.Method}, "horizon": {strconv.Itoa(opts.Horizon)}, "levels": {strings.Join(levels, ",")}}
		if opts.SeasonLength > 0 {
			q.Set("season_length", strconv.Itoa(opts.SeasonLength))
		}
		return upload{body: in, contentType: formatMedia[f], query: q}, nil
	}
	items, err := readBatch(ctx, in)
	if err != nil {
		return upload{}, fmt.Errorf("input %s: %w", displayName(opts.Input), err)
	}
	horizon := opts.Horizon
	req := messages.BatchRequest{Method: opts.Method, Levels: opts.Levels, Series: make([]messages.BatchSeries, len(items))}
	for i, it := range items {
		if it.err != nil {
			return upload{}, fmt.Errorf("input %s: series %d: %w", displayName(opts.Input), i+1, it.err)
		}
		switch {
		case opts.Horizon > 0:
		case horizon == 0:
			horizon = it.Horizon
		case it.Horizon != horizon:
			return upload{}, fmt.Errorf("input %s: series %d has horizon %d and series 1 %d; a batch has one horizon: pass --horizon",
				displayName(opts.Input), i+1, it.Horizon, horizon)
		}
		s := messages.BatchSeries{Name: it.Name, Values: it.Values}
		season := it.SeasonLength
		if season == 0 {
			season = opts.SeasonLength
		}
		if season > 0 {
			s.SeasonLength = &season
		}
		req.Series[i] = s
	}
	if horizon != 0 { // else the service says horizon is required
		req.Horizon = &horizon
	}
	b, err := json.Marshal(req)
	if err != nil {
		return upload{}, fmt.Errorf("input %s: %w", displayName(opts.Input), err)
	}
	return upload{body: bytes.NewReader(b), contentType: mediaJSON}, nil
}

// runRemoteBatch submits the input to the service at opts.URL, follows the batch to its end on
// stderr, and writes its results to opts.Output.
func runRemoteBatch(ctx context.Context, opts batchOptions, in io.Reader, stdout, stderr io.Writer) error {
	c := &remote{base: strings.TrimRight(opts.URL, "/"), token: opts.Token, client: &http.Client{}}
	out, err := createOutput(opts.Output)
	if err != nil {
		return err
	}
	defer out.abort()
	up, err := prepareUpload(ctx, opts, in)
	if err != nil {
		return err
	}

	f := &follower{c: c, stderr: stderr, poll: opts.PollInterval}
	st, err := f.submit(ctx, up)
	if err == nil {
		st, err = f.follow(ctx, st)
	}
	if f.prog != nil {
		f.stopProgress()
	}
	if err != nil {
		if ctx.Err() == nil || st.BatchID == "" {
			return err
		}
		return interruptedBatch(c, st.BatchID, opts.CancelOnInterrupt, stderr)
	}
	if st.Status != "succeeded" {
		return fmt.Errorf("batch %s %s (%d of %d series done)", st.BatchID, st.Status, st.Done, st.Total)
	}
	if err := fetchResults(ctx, c, st.BatchID, opts.Format, out.w); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("batch %s: interrupted, no output written", st.BatchID)
		}
		return fmt.Errorf("batch %s results: %w", st.BatchID, err)
	}
	if err := out.commit(stdout); err != nil {
		return fmt.Errorf("output %s: %w", displayName(opts.Output), err)
	}
	return nil
}

// interruptedBatch ends a run stopped by Ctrl-C: the batch goes on unless cancel says to
// cancel it.
func interruptedBatch(c *remote, id string, cancel bool, stderr io.Writer) error {
	if !cancel {
		return fmt.Errorf("interrupted; batch %s goes on in the service (%s/v1/batches/%s; --cancel-on-interrupt cancels it)", id, c.base, id)
	}
	st, err := c.cancel(context.Background(), id)
	if err != nil {
		return fmt.Errorf("interrupted; cancelling batch %s: %w", id, err)
	}
	fmt.Fprintf(stderr, "forecastd batch: batch %s %s (%d of %d series done)\n", id, st.Status, st.Done, st.Total)
	return fmt.Errorf("interrupted; batch %s %s", id, st.Status)
}

// follower submits one batch and follows it: from the POST's own event stream when the
// service streams it, else by polling its status.
type follower struct {
	c            *remote
	stderr       io.Writer
	poll         time.Duration
	prog         *progress
	stopProgress func()
	stream       *http.Response // the POST's event stream, when the service sent one
}

// submit posts the batch asking for its event stream. A service that answers 202 JSON
// instead has no stream; either way the batch's id is known on return.
func (f *follower) submit(ctx context.Context, up upload) (batchStatus, error) {
	path := "/v1/batches"
	if len(up.query) > 0 {
		path += "?" + up.query.Encode()
	}
	req, err := f.c.request(ctx, http.MethodPost, path, up.body)
	if err != nil {
		return batchStatus{}, err
	}
	req.Header.Set("Content-Type", up.contentType)
	req.Header.Set("Accept", "text/event-stream, "+mediaJSON)
	resp, err := f.c.client.Do(req)
	if err != nil {
		return batchStatus{}, fmt.Errorf("submit the batch: %w", err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") && resp.StatusCode == http.StatusOK {
		f.stream = resp
		return batchStatus{}, nil // the accepted event names the batch
	}
	defer resp.Body.Close()
	var st batchStatus
	if err := decode(resp, &st); err != nil {
		return st, err
	}
	if st.BatchID == "" {
		return st, errors.New("the service accepted the batch without naming it")
	}
	f.accepted(st, "polling")
	return st, nil
}

func (f *follower) accepted(st batchStatus, how string) {
	fmt.Fprintf(f.stderr, "forecastd batch: batch %s accepted, %d series (progress by %s)\n", st.BatchID, st.Total, how)
	f.prog = newProgress(f.stderr, st.Total)
	f.stopProgress = f.prog.start()
	f.show(st)
}

func (f *follower) show(st batchStatus) {
	if f.prog == nil {
		return
	}
	eta := time.Duration(-1)
	if st.ETAms != nil {
		eta = time.Duration(*st.ETAms) * time.Millisecond
	}
	f.prog.set(st.Done, st.Failed, eta)
}

// follow returns the batch's terminal status.
func (f *follower) follow(ctx context.Context, st batchStatus) (batchStatus, error) {
	if f.stream != nil {
		var err error
		st, err = f.readStream(ctx)
		if err != nil || st.BatchID == "" {
			return st, err
		}
		// The stream may end early (a proxy, a gateway restart): polling takes over.
	}
	return f.pollUntilDone(ctx, st.BatchID)
}

// readStream reads the POST's events until batch_done or the stream's end. It returns the
// last status seen; an error only when the service refused the batch or ctx ended.
func (f *follower) readStream(ctx context.Context) (batchStatus, error) {
	defer f.stream.Body.Close()
	var st batchStatus
	var refused error
	err := sse.Read(f.stream.Body, func(m sse.Message) {
		if refused != nil || m.Event == "" {
			return
		}
		switch m.Event {
		case "accepted", "batch_progress", "batch_done":
			var ev batchStatus
			if json.Unmarshal([]byte(m.Data), &ev) != nil {
				return
			}
			if ev.BatchID != "" {
				st.BatchID = ev.BatchID
			}
			if m.Event == "accepted" {
				st = ev
				f.accepted(ev, "stream")
				return
			}
			f.show(ev)
			if m.Event == "batch_done" {
				_ = f.stream.Body.Close() // the rest is the stream's end
			}
		case "failed", "error":
			// As a command stream ends: {http_status, body} with the JSend body.
			var out struct {
				HTTPStatus int               `json:"http_status"`
				Body       messages.Envelope `json:"body"`
			}
			if json.Unmarshal([]byte(m.Data), &out) == nil && out.Body.Status != "" {
				refused = &serviceError{status: out.HTTPStatus, body: out.Body}
			} else {
				refused = fmt.Errorf("the service ended the batch stream with %s: %s", m.Event, m.Data)
			}
		}
	})
	switch {
	case refused != nil:
		return st, refused
	case ctx.Err() != nil:
		return st, ctx.Err()
	case st.BatchID == "" && err != nil:
		return st, fmt.Errorf("the batch stream broke before the batch was accepted: %w", err)
	case st.BatchID == "":
		return st, errors.New("the batch stream ended before the batch was accepted")
	}
	return st, nil
}

func (f *follower) pollUntilDone(ctx context.Context, id string) (batchStatus, error) {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	misses := 0
	for {
		st, err := f.c.status(ctx, id)
		var refused *serviceError
		switch {
		case ctx.Err() != nil:
			return batchStatus{BatchID: id}, ctx.Err()
		case errors.As(err, &refused) && refused.status < 500:
			return batchStatus{BatchID: id}, err
		case err != nil:
			// The service may be restarting; the batch lives on in its store.
			if misses++; misses >= 30 {
				return batchStatus{BatchID: id}, fmt.Errorf("batch %s: %w", id, err)
			}
		default:
			misses = 0
			if f.prog == nil {
				f.accepted(st, "polling")
			}
			f.show(st)
			if st.terminal() {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return batchStatus{BatchID: id}, ctx.Err()
		case <-t.C:
		}
	}
}

// fetchResults writes the batch's results in format to w: for JSON the array of per-series
// results, for NDJSON and CSV the service's body as it is.
func fetchResults(ctx context.Context, c *remote, id, format string, w io.Writer) error {
	req, err := c.request(ctx, http.MethodGet, "/v1/batches/"+url.PathEscape(id)+"/results", nil)
	if err != nil {
		return err
	}
	want := formatMedia[format]
	req.Header.Set("Accept", want)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got := resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusOK {
		return decode(resp, &struct{}{})
	}
	if !strings.HasPrefix(got, want) {
		return fmt.Errorf("asked for %s, the service answered %s (it may predate %s results)", want, got, format)
	}
	if format != formatJSON {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	var data struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := decode(resp, &data); err != nil {
		return err
	}
	if data.Results == nil {
		return errors.New("the results answer holds no results array")
	}
	return writeResultsArray(data.Results, w)
}

// writeResultsArray writes the rows of a JSON results answer one element per line, as the
// offline mode writes its array.
func writeResultsArray(rows []json.RawMessage, w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, row := range rows {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		bw.Write(row)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// checkRemoteFlags checks the flags of --url.
func checkRemoteFlags(opts batchOptions) error {
	u, err := url.Parse(opts.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--url must be the service's http:// or https:// URL, got %q", opts.URL)
	case formatMedia[opts.Format] == "":
		return fmt.Errorf("--format must be json, ndjson or csv, got %q", opts.Format)
	case opts.Horizon < 0 || opts.Horizon > messages.MaxHorizon:
		return fmt.Errorf("--horizon must be from 1 to %d, got %d", messages.MaxHorizon, opts.Horizon)
	case opts.SeasonLength < 0:
		return fmt.Errorf("--season-length must not be negative, got %d", opts.SeasonLength)
	case opts.PollInterval <= 0:
		return fmt.Errorf("--poll-interval must be positive, got %s", opts.PollInterval)
	}
	return nil
}

// openInput opens the input file, or stdin for "-".
func openInput(path string, stdin io.Reader) (io.Reader, func(), error) {
	if path == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("input: %w", err)
	}
	return f, func() { f.Close() }, nil
}
