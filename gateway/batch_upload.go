package gateway

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/forecastd/forecastd/messages"
)

// A batch comes as the JSON body, or as an upload in the long format (CSV or NDJSON rows of
// series_id, timestamp, value) with the other fields as query parameters. An upload is read
// as a stream, at most Config.BatchUploadMaxBytes of it, and has BodyTimeout plus a second per
// Config.BatchUploadMinRate bytes received to arrive: its read deadline moves on as bytes come
// in, so a big upload over a fair link is read whole while one that trickles is cut (408).
// Once read, an upload is the same batch request as the JSON body, checked the same way.

// uploadSlot takes one of the gateway's Config.BatchUploads slots for r if it is an upload,
// and returns the function that gives it back (idempotent); with none free, it fails
// unavailable, after setting Retry-After. A JSON batch needs no slot.
func (g *Gateway) uploadSlot(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || !isUpload(mt) {
		return func() {}, nil
	}
	select {
	case g.uploads <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-g.uploads }) }, nil
	default:
		w.Header().Set("Retry-After", strconv.Itoa(uploadRetryAfter))
		return nil, messages.Errorf(messages.CodeUnavailable, nil,
			"the gateway is reading as many batch uploads as it takes at once (%d); retry shortly", cap(g.uploads))
	}
}

// isUpload reports whether mediaType is that of a batch upload, in the long format.
func isUpload(mediaType string) bool {
	return mediaType == messages.MediaCSV || mediaType == messages.MediaNDJSON
}

// uploadRetryAfter is the Retry-After, in seconds, of an upload refused for want of a slot.
const uploadRetryAfter = 5

// readBatch reads and checks the batch of a POST /v1/batches, whichever form it comes in.
func (g *Gateway) readBatch(w http.ResponseWriter, r *http.Request) (messages.BatchRequest, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case ct == "" || err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")):
		var req messages.BatchRequest
		if err := noQuery(r, "is a query parameter of uploads (CSV, NDJSON); a JSON batch gives its fields in its body"); err != nil {
			return req, err
		}
		if err := g.readJSON(w, r, &req); err != nil {
			return req, err
		}
		return req, req.Validate()
	case err == nil && isUpload(mt):
		if err := utf8Charset(params); err != nil {
			return messages.BatchRequest{}, err
		}
		read := messages.ReadCSVUpload
		if mt == messages.MediaNDJSON {
			read = messages.ReadNDJSONUpload
		}
		return g.readUpload(w, r, read)
	}
	return messages.BatchRequest{}, messages.FailField(messages.CodeUnsupportedMedia, "Content-Type",
		"must be application/json, %s or %s, got %q", messages.MediaCSV, messages.MediaNDJSON, messages.Clip(ct))
}

// readUpload reads an upload's query parameters and then its body with read.
func (g *Gateway) readUpload(w http.ResponseWriter, r *http.Request, read func(io.Reader) ([]messages.BatchSeries, error)) (messages.BatchRequest, error) {
	if err := identityEncoded(r); err != nil {
		return messages.BatchRequest{}, err
	}
	params, err := messages.ParseUploadParams(r.URL.Query())
	if err != nil {
		return messages.BatchRequest{}, err
	}
	limit := g.cfg.BatchUploadMaxBytes
	if r.ContentLength > limit {
		return messages.BatchRequest{}, bodyFailure(&http.MaxBytesError{Limit: limit}, 0, "")
	}
	body := &uploadBody{
		body: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w),
		start: time.Now(), base: g.cfg.BodyTimeout, rate: g.cfg.BatchUploadMinRate,
	}
	series, err := read(body)
	if err != nil {
		var f *messages.Failure
		if errors.As(err, &f) {
			return messages.BatchRequest{}, err
		}
		late := fmt.Sprintf("upload not received in time: %d bytes arrived in %s, below the %d bytes per second an upload must average after its first %s",
			body.n, time.Since(body.start).Round(time.Millisecond), body.rate, body.base)
		return messages.BatchRequest{}, bodyFailure(err, body.n, late)
	}
	body.done()
	req := params.Batch(series)
	return req, req.ValidateUpload()
}

// uploadBody reads an upload, moving the connection's read deadline on as bytes arrive: to
// start + base + n/rate after n bytes. A zero base leaves the body without a time limit, as
// BodyTimeout does.
type uploadBody struct {
	body  io.Reader
	rc    *http.ResponseController
	start time.Time
	base  time.Duration
	rate  int64 // bytes per second
	n     int64
	set   time.Time // the deadline last set
}

// deadlineStep is how far the deadline must move before it is set again: not on every read.
const deadlineStep = 100 * time.Millisecond

func (b *uploadBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.n += int64(n)
	if b.base > 0 && n > 0 {
		if d := b.start.Add(b.base + time.Duration(b.n*int64(time.Second)/b.rate)); d.Sub(b.set) >= deadlineStep {
			_ = b.rc.SetReadDeadline(d) // refused only by writers without deadlines: no limit then
			b.set = d
		}
	}
	return n, err
}

// done clears the read deadline once the body has been read, so the answer has no time limit.
func (b *uploadBody) done() { _ = b.rc.SetReadDeadline(time.Time{}) }

// utf8Charset refuses a Content-Type whose charset is not UTF-8 (or its subset US-ASCII): the
// body would be read as UTF-8 all the same.
func utf8Charset(params map[string]string) error {
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return messages.FailField(messages.CodeUnsupportedMedia, "Content-Type", "charset %q is not accepted; send UTF-8", messages.Clip(cs))
	}
	return nil
}
