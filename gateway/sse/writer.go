package sse

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Writer writes Server-Sent Events to a response and flushes each one.
type Writer struct {
	w  io.Writer
	rc *http.ResponseController
}

// Start sends the stream's headers. Proxies are told not to buffer.
func Start(w http.ResponseWriter) *Writer {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &Writer{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

// Event writes one event; id may be empty. data is JSON-encoded on one line.
func (s *Writer) Event(id, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return s.write(frame(id, name, b))
}

// Comment writes a heartbeat comment.
func (s *Writer) Comment(text string) error {
	return s.write(fmt.Appendf(nil, ": %s\n\n", text))
}

// RetryFrom tells the client how long to wait before reconnecting and, when start is not
// empty, sets its last event id to start.
func (s *Writer) RetryFrom(d time.Duration, start string) error {
	return s.write(retryBlock(d, start))
}

// retryBlock is the block that tells the client its reconnection delay and, when start is not
// empty, the event id to resume after: a block without data, which sets them and dispatches
// no event.
func retryBlock(d time.Duration, start string) []byte {
	b := fmt.Appendf(nil, "retry: %d\n", d.Milliseconds())
	if start != "" {
		b = fmt.Appendf(b, "id: %s\n", start)
	}
	return append(b, '\n')
}

func (s *Writer) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// frame is one whole event: id (when not empty), event name and data.
func frame(id, name string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(id)+len(name)+24)
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	b = append(append(append(b, "event: "...), name...), '\n')
	b = append(append(append(b, "data: "...), data...), "\n\n"...)
	return b
}
