package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
)

// batchOptions are the flags of 'forecastd batch'.
type batchOptions struct {
	Input, Output string
	Method        string
	Levels        []float64
	Workers       int

	// With URL, the batch runs in the service there instead (batch_remote.go).
	URL               string
	Token             string
	Horizon           int // every series' horizon; 0: each JSON series' own
	SeasonLength      int // for series that give none
	Format            string
	PollInterval      time.Duration
	CancelOnInterrupt bool
}

// batchItem is one series of the input array.
type batchItem struct {
	Name         string          `json:"name"`
	Values       messages.Values `json:"values"`
	SeasonLength int             `json:"season_length"`
	Horizon      int             `json:"horizon"`

	err error // the item could not be decoded (a JSON type error); the run goes on
}

// batchResult is one element of the output array: a forecast, or the reason there is none.
type batchResult struct {
	Name       string                   `json:"name"`
	Method     string                   `json:"method,omitempty"`
	Point      messages.Values          `json:"point,omitempty"`
	Intervals  map[string]batchInterval `json:"intervals,omitempty"`
	FitSeconds *float64                 `json:"fit_seconds,omitempty"`
	Error      string                   `json:"error,omitempty"`
}

type batchInterval struct {
	Lower messages.Values `json:"lower"`
	Upper messages.Values `json:"upper"`
}

// runBatch forecasts many series from a file.
func runBatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runBatchIO(ctx, args, os.Stdin, stdout, stderr)
}

// runBatchIO is runBatch with the standard input passed in, for '--input -'.
func runBatchIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := parseBatchFlags(args, stderr)
	if err != nil {
		return err
	}

	in, closeInput, err := openInput(opts.Input, stdin)
	if err != nil {
		return err
	}
	defer closeInput()
	if opts.URL != "" {
		return runRemoteBatch(ctx, opts, in, stdout, stderr)
	}
	// The output goes to a temporary file first, so an interrupted or failed run leaves no
	// half-written file behind; it is checked before the (possibly long) work starts.
	out, err := createOutput(opts.Output)
	if err != nil {
		return err
	}
	defer out.abort()

	interrupted := func() error { return fmt.Errorf("batch interrupted, no output written: %w", ctx.Err()) }
	items, err := readBatch(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return fmt.Errorf("input %s: %w", displayName(opts.Input), err)
	}

	prog := newProgress(stderr, len(items))
	stopProgress := prog.start()
	err = forecastAll(ctx, items, opts, out.w, prog)
	stopProgress()
	if err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return fmt.Errorf("output %s: %w", displayName(opts.Output), err)
	}
	if err := out.commit(stdout); err != nil {
		return fmt.Errorf("output %s: %w", displayName(opts.Output), err)
	}
	return nil
}

func parseBatchFlags(args []string, stderr io.Writer) (batchOptions, error) {
	opts := batchOptions{Method: forecast.MethodAuto, Workers: runtime.NumCPU()}
	levels := "80,95"
	fs := flag.NewFlagSet("forecastd batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: forecastd batch --input FILE --output FILE [flags]
       forecastd batch --url URL --input FILE --output FILE [flags]

Forecasts every series of a JSON array [{"name", "values", "season_length", "horizon"}, ...]
(null in values is a missing observation) and writes a JSON array in the same order of
{"name", "method", "point", "intervals", "fit_seconds"}, or {"name", "error"} for a series that
could not be forecast. FILE may be - for standard input or output.

With --url, the batch runs in the service at URL instead (POST /v1/batches): the JSON array
above (one horizon for all: the series' own or --horizon), or a file ending in .csv or .ndjson of
long-format rows series_id,timestamp,value (with --horizon). Progress comes from the batch's
event stream, or by polling a service without one, on stderr; the results
(GET /v1/batches/{id}/results) go to --output as JSON, NDJSON or CSV by its extension or
--format. It exits non-zero if the service refuses the batch or it ends failed or cancelled.
Ctrl-C stops following; the batch goes on in the service unless --cancel-on-interrupt is given,
which cancels it (DELETE /v1/batches/{id}).

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.Input, "input", "", "JSON file of series to forecast, or - for standard input (required)")
	fs.StringVar(&opts.Output, "output", "", "JSON file to write, or - for standard output (required)")
	fs.StringVar(&opts.Method, "method", opts.Method, "forecasting method: "+strings.Join(forecast.Methods, ", "))
	fs.StringVar(&levels, "levels", levels, "comma-separated prediction interval levels in percent (or all as fractions, 0.8,0.95)")
	fs.IntVar(&opts.Workers, "workers", opts.Workers, "series fitted in parallel (offline)")
	fs.StringVar(&opts.URL, "url", "", "run the batch in the forecastd service at this URL (http://host:8080) instead of offline")
	fs.StringVar(&opts.Token, "token", "", "with --url: bearer token of a service with authentication (a write token)")
	fs.IntVar(&opts.Horizon, "horizon", 0, "with --url: steps to forecast for every series (required for CSV and NDJSON input)")
	fs.IntVar(&opts.SeasonLength, "season-length", 0, "with --url: season length of the series that give none")
	fs.StringVar(&opts.Format, "format", "", "with --url: results as json, ndjson or csv (default: by --output's extension, else json)")
	fs.DurationVar(&opts.PollInterval, "poll-interval", time.Second, "with --url: how often to ask for the status of a service without the event stream")
	fs.BoolVar(&opts.CancelOnInterrupt, "cancel-on-interrupt", false, "with --url: on Ctrl-C, cancel the batch in the service (by default it goes on)")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if opts.Format == "" {
		opts.Format = formatOf(opts.Output)
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case opts.Input == "":
		err = errors.New("--input is required")
	case opts.Output == "":
		err = errors.New("--output is required")
	case !slices.Contains(forecast.Methods, opts.Method):
		err = fmt.Errorf("--method must be one of %s, got %q", strings.Join(forecast.Methods, ", "), opts.Method)
	case opts.Workers < 1:
		err = fmt.Errorf("--workers must be at least 1, got %d", opts.Workers)
	case opts.URL != "":
		err = checkRemoteFlags(opts)
	}
	if err == nil {
		opts.Levels, err = parseLevels(levels)
	}
	return opts, err
}

// parseLevels reads "80,95" (or, as in R, fractions "0.8,0.95") into distinct percentages
// strictly between 0 and 100.
func parseLevels(s string) ([]float64, error) {
	var levels []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		l, err := strconv.ParseFloat(f, 64)
		if err != nil || !(l > 0 && l < 100) {
			return nil, fmt.Errorf("--levels: %q is not a percentage strictly between 0 and 100 (or a fraction between 0 and 1)", f)
		}
		if slices.Contains(levels, l) {
			return nil, fmt.Errorf("--levels: %v is given twice", l)
		}
		levels = append(levels, l)
	}
	if len(levels) > messages.MaxLevels {
		return nil, fmt.Errorf("--levels: at most %d levels, got %d", messages.MaxLevels, len(levels))
	}
	levels, problem := messages.PercentLevels(levels)
	if problem != "" {
		return nil, fmt.Errorf("--levels: %s", problem)
	}
	return levels, nil
}

// readBatch stream-decodes the input array one element at a time, so the file is never held
// in memory next to its decoded series. An element of the wrong shape becomes an item error;
// broken JSON fails the whole input.
func readBatch(ctx context.Context, r io.Reader) ([]batchItem, error) {
	in := &recentReader{r: r}
	dec := json.NewDecoder(bufio.NewReaderSize(in, 1<<16))
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New("empty; want a JSON array of series")
	}
	if err != nil {
		return nil, in.between(0, err)
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("want a JSON array of series, got %v", describeToken(tok))
	}
	var items []batchItem
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var it batchItem
		from := dec.InputOffset()
		if err := dec.Decode(&it); err != nil {
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				return nil, fmt.Errorf("series %d: %w", len(items)+1, in.inValue(from, len(items) > 0, err))
			}
			it = batchItem{Name: it.Name, err: describeTypeError(typeErr)}
		}
		items = append(items, it)
	}
	from := dec.InputOffset()
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, in.between(from, err)
	}
	from = dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return nil, in.between(from, errors.New("unexpected data after the array"))
	}
	return items, nil
}

// recentWindow is how much of what was read a recentReader keeps, at least: a series longer
// than that has its malformed JSON told by the decoder's own words alone.
const recentWindow = 1 << 20

// recentReader keeps the last bytes read through it and counts the lines and columns before
// them, so that malformed JSON in a streamed input is told by line and column (in characters),
// as editors show it.
type recentReader struct {
	r    io.Reader
	read int64 // bytes read
	// lines counts the newlines before buf, and column the characters after the last of them.
	lines, column int64
	buf           []byte // the last bytes read, recentWindow to twice that; buf[0] is byte read-len(buf)
}

func (c *recentReader) Read(p []byte) (int, error) {
	// A decoder holding a long series reads far ahead; in bites, the window keeps up.
	n, err := c.r.Read(p[:min(len(p), recentWindow/2)])
	c.buf = append(c.buf, p[:n]...)
	c.read += int64(n)
	if len(c.buf) > 2*recentWindow {
		drop := c.buf[:len(c.buf)-recentWindow]
		if nl := bytes.LastIndexByte(drop, '\n'); nl >= 0 {
			c.lines += int64(bytes.Count(drop, []byte{'\n'}))
			c.column, drop = 0, drop[nl+1:]
		}
		c.column += characters(drop)
		c.buf = append(c.buf[:0], c.buf[len(c.buf)-recentWindow:]...)
	}
	return n, err
}

// characters counts the UTF-8 characters that start in b: its bytes that do not continue one.
func characters(b []byte) int64 {
	n := int64(0)
	for _, c := range b {
		if c&0xC0 != 0x80 {
			n++
		}
	}
	return n
}

// inValue places a syntax error met while decoding the value that starts at input offset from
// (after a comma, when one came before it): it checks the value again on its own, since the
// decoder's offset counts only the bytes of values, and names the malformed byte's line and
// column. Errors other than syntax, and values no longer kept, are err.
func (c *recentReader) inValue(from int64, afterComma bool, err error) error {
	var syntaxErr *json.SyntaxError
	at := c.first(from)
	if !errors.As(err, &syntaxErr) || at < 0 {
		return err
	}
	if strings.Contains(syntaxErr.Error(), "expected comma") { // met before the value
		problem := "a comma is missing between two series"
		if hint := messages.SyntaxHint(c.buf, at, syntaxErr); hint != "" {
			problem = hint // what looked like two values: 0 and 1 of 01, say
		}
		return c.at(at, problem, err)
	}
	if afterComma && at < len(c.buf) && c.buf[at] == ',' {
		at = c.skipSpace(at + 1)
	}
	var raw json.RawMessage
	if !errors.As(json.Unmarshal(c.buf[at:], &raw), &syntaxErr) {
		return err
	}
	at += int(syntaxErr.Offset) - 1
	problem := strings.TrimPrefix(syntaxErr.Error(), "json: ")
	if hint := messages.SyntaxHint(c.buf, at, syntaxErr); hint != "" {
		problem += ": " + hint
	}
	return c.at(at, problem, err)
}

// between places an error met between values, at the first byte from input offset from on
// that is not white space.
func (c *recentReader) between(from int64, err error) error {
	return c.at(c.first(from), strings.TrimPrefix(err.Error(), "json: "), err)
}

// first is where in buf the first byte from input offset from on that is not white space is,
// or -1 when from is not in buf.
func (c *recentReader) first(from int64) int {
	start := c.read - int64(len(c.buf))
	if from < start || from > c.read {
		return -1
	}
	return c.skipSpace(int(from - start))
}

// skipSpace is where in buf the first byte from i on that is not white space is (len(buf) if
// none is).
func (c *recentReader) skipSpace(i int) int {
	return len(c.buf) - len(bytes.TrimLeft(c.buf[i:], " \t\r\n"))
}

// at is problem at byte at of buf, by line and column; err when at is not in buf.
func (c *recentReader) at(at int, problem string, err error) error {
	if at < 0 || at >= len(c.buf) {
		return err
	}
	before := c.buf[:at]
	line, column := c.lines, c.column
	if nl := bytes.LastIndexByte(before, '\n'); nl >= 0 {
		line += int64(bytes.Count(before, []byte{'\n'}))
		column, before = 0, before[nl+1:]
	}
	return fmt.Errorf("malformed JSON at line %d, column %d: %s", line+1, column+characters(before)+1, problem)
}

func describeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		if tok == json.Delim('{') {
			return "an object"
		}
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

func describeTypeError(e *json.UnmarshalTypeError) error {
	if e.Field == "" {
		return fmt.Errorf("a series must be a JSON object, got a %s", e.Value)
	}
	field := strings.ReplaceAll(e.Field, ".[", "[") // values[1]: an element of the array
	if number, ok := strings.CutPrefix(e.Value, "number "); ok && e.Type.Kind() == reflect.Float64 {
		return fmt.Errorf("%s must be a number of magnitude below about 1.8e308, got %s", field, number)
	}
	want := "a " + e.Type.String()
	switch e.Type.Kind() {
	case reflect.Float64:
		want = "a number (or null in values)"
	case reflect.Int:
		want = "an integer"
	case reflect.String:
		want = "a string"
	case reflect.Slice:
		want = "an array"
	}
	return fmt.Errorf("%s must be %s, got a JSON %s", field, want, e.Value)
}

// forecastAll fits and forecasts the items on opts.Workers goroutines and writes the results to
// w as a JSON array in input order, one element per line. It stops at the first write error or
// when ctx ends; a bad series is only an error element.
func forecastAll(ctx context.Context, items []batchItem, opts batchOptions, w io.Writer, prog *progress) error {
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(opts.Workers)
	ord := orderedWriter{w: w, pending: map[int][]byte{}}
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i := range items {
		if gctx.Err() != nil {
			break
		}
		it := items[i]
		items[i] = batchItem{} // let the series be collected once forecast
		eg.Go(func() error {
			res, err := forecastOne(gctx, it, opts)
			if err != nil {
				return err
			}
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			prog.add(res.Error != "")
			return ord.put(i, b)
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}

// forecastOne returns the result of one item. Its error is only ctx's: every problem of the
// series itself is reported in the result.
func forecastOne(ctx context.Context, it batchItem, opts batchOptions) (res batchResult, err error) {
	res.Name = it.Name
	fail := func(format string, args ...any) (batchResult, error) {
		return batchResult{Name: it.Name, Error: fmt.Sprintf(format, args...)}, nil
	}
	defer func() {
		// One series that trips the engine must not lose the rest of a long run.
		if p := recover(); p != nil {
			res, err = fail("internal error: %v", p)
		}
	}()
	switch {
	case it.err != nil:
		return fail("%v", it.err)
	case it.Name == "":
		return fail("name is required")
	case len(it.Values) == 0:
		return fail("values are required: a list of numbers, null for a missing one")
	case it.Horizon < 1 || it.Horizon > messages.MaxHorizon:
		return fail("horizon must be an integer from 1 to %d, got %d", messages.MaxHorizon, it.Horizon)
	case it.SeasonLength < 0:
		return fail("season_length must not be negative, got %d", it.SeasonLength)
	}
	start := time.Now()
	m, err := forecast.Fit(ctx, it.Values, forecast.Spec{Method: opts.Method, SeasonLength: it.SeasonLength}, nil)
	secs := time.Since(start).Seconds()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err != nil {
		return fail("fit %s: %v", opts.Method, err)
	}
	fc, err := m.Forecast(it.Horizon, opts.Levels)
	if err != nil {
		return fail("forecast: %v", err)
	}
	res.Method = m.Summary().Method
	res.Point = fc.Point
	res.Intervals = make(map[string]batchInterval, len(fc.Intervals))
	for k, iv := range fc.Intervals {
		res.Intervals[k] = batchInterval{Lower: iv.Lower, Upper: iv.Upper}
	}
	res.FitSeconds = &secs
	return res, nil
}

// orderedWriter writes the encoded results in input order as they complete out of order.
type orderedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	next    int
	pending map[int][]byte
}

func (o *orderedWriter) put(i int, b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending[i] = b
	for {
		b, ok := o.pending[o.next]
		if !ok {
			return nil
		}
		delete(o.pending, o.next)
		sep := ",\n"
		if o.next == 0 {
			sep = "\n"
		}
		if _, err := io.WriteString(o.w, sep); err != nil {
			return err
		}
		if _, err := o.w.Write(b); err != nil {
			return err
		}
		o.next++
	}
}

// output is the result file being written: a temporary file renamed over the target on commit,
// or, for standard output, a temporary file copied to it on commit.
type output struct {
	path string // "-" for standard output
	tmp  *os.File
	w    *bufio.Writer
	done bool
}

func createOutput(path string) (*output, error) {
	dir := os.TempDir()
	if path != "-" {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("output %s is a directory", path)
		}
		dir = filepath.Dir(path)
	}
	tmp, err := os.CreateTemp(dir, ".forecastd-batch-*.json")
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", displayName(path), err)
	}
	return &output{path: path, tmp: tmp, w: bufio.NewWriterSize(tmp, 1<<16)}, nil
}

func (o *output) commit(stdout io.Writer) error {
	if err := o.w.Flush(); err != nil {
		return err
	}
	if o.path == "-" {
		if _, err := o.tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(stdout, o.tmp); err != nil {
			return err
		}
		return nil // abort removes the temporary file
	}
	if err := o.tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := o.tmp.Sync(); err != nil {
		return err
	}
	if err := o.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.tmp.Name(), o.path); err != nil {
		return err
	}
	o.done = true
	return nil
}

// abort removes the temporary file unless commit renamed it.
func (o *output) abort() {
	if o.done {
		return
	}
	o.tmp.Close()
	os.Remove(o.tmp.Name())
}

func displayName(path string) string {
	if path == "-" {
		return "(standard stream)"
	}
	return path
}

// progress shows done/total, rate and ETA on stderr: redrawn in place on a terminal, a plain
// line every few seconds otherwise, and a summary line at the end.
type progress struct {
	w       io.Writer
	tty     bool
	total   int
	begin   time.Time
	done    atomic.Int64
	failed  atomic.Int64
	drawing sync.Mutex
	eta     time.Duration // the service's estimate (set); negative: computed from the rate
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, begin: time.Now(), eta: -1}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) add(failed bool) {
	p.done.Add(1)
	if failed {
		p.failed.Add(1)
	}
}

// set takes counts and an estimate (negative: none) from a service running the batch.
func (p *progress) set(done, failed int, eta time.Duration) {
	p.done.Store(int64(done))
	p.failed.Store(int64(failed))
	p.drawing.Lock()
	p.eta = eta
	p.drawing.Unlock()
}

// start draws until the returned function is called, which draws the final line.
func (p *progress) start() (stop func()) {
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
		p.draw(true)
	}
}

func (p *progress) draw(final bool) {
	p.drawing.Lock()
	defer p.drawing.Unlock()
	done, failed := p.done.Load(), p.failed.Load()
	elapsed := time.Since(p.begin)
	rate := float64(done) / elapsed.Seconds()
	var b bytes.Buffer
	if p.tty {
		b.WriteString("\r")
	}
	fmt.Fprintf(&b, "forecastd batch: %d/%d series", done, p.total)
	if p.total > 0 {
		fmt.Fprintf(&b, " (%.0f%%)", 100*float64(done)/float64(p.total))
	}
	fmt.Fprintf(&b, ", %.1f/s", rate)
	if final {
		fmt.Fprintf(&b, " in %.3fs", elapsed.Seconds())
	} else if p.eta >= 0 {
		fmt.Fprintf(&b, ", ETA %s", p.eta.Round(time.Second))
	} else if done > 0 && rate > 0 {
		eta := time.Duration(float64(int64(p.total)-done) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
	}
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed", failed)
	}
	if p.tty {
		b.WriteString("\x1b[K") // clear what a longer previous line left
	}
	if final || !p.tty {
		b.WriteString("\n")
	}
	_, _ = p.w.Write(b.Bytes())
}
