// Package sse is the client side of the gateway's Server-Sent Events endpoints, used by tests
// and tools: a parser of streams (Read) and a stream read in the background (Open, Do).
package sse

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
)

// Message is one block of an SSE stream: an event, a comment or a retry hint.
type Message struct {
	ID, Event, Data, Comment, Retry string
}

// Read parses r until it ends, calling emit for every non-empty block, and returns the
// stream's read error (nil at a clean end). Lines may be up to 1 MiB long.
func Read(r io.Reader, emit func(Message)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var m Message
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m != (Message{}) {
				emit(m)
			}
			m = Message{}
		case strings.HasPrefix(line, ":"):
			m.Comment = strings.TrimSpace(line[1:])
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "id":
				m.ID = v
			case "event":
				m.Event = v
			case "data":
				if m.Data != "" {
					v = m.Data + "\n" + v // multi-line data joins with newlines
				}
				m.Data = v
			case "retry":
				m.Retry = v
			}
		}
	}
	return sc.Err()
}

// Stream is an SSE response being read in the background: its messages arrive in order on
// Messages, which is closed when the stream ends.
type Stream struct {
	// Response is the answer whose body is being read; its status and headers are the
	// caller's to check (a refused stream is a JSON body that yields no messages).
	Response *http.Response
	msgs     chan Message
	err      error // the read error, set before msgs is closed
	cancel   context.CancelFunc
}

// buffered is how many messages a stream reads ahead of its reader; beyond that it stops
// reading, and the server sees a slow client.
const buffered = 8192

// Do sends req with client and reads the answer as a stream until it ends or Close.
func Do(client *http.Client, req *http.Request) (*Stream, error) {
	ctx, cancel := context.WithCancel(req.Context())
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Stream{Response: resp, msgs: make(chan Message, buffered), cancel: cancel}
	go func() {
		defer close(s.msgs)
		s.err = Read(resp.Body, func(m Message) { s.msgs <- m })
	}()
	return s, nil
}

// Open asks for the stream at url with header (which may be nil).
func Open(ctx context.Context, client *http.Client, url string, header http.Header) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	maps.Copy(req.Header, header)
	req.Header.Set("Accept", "text/event-stream")
	return Do(client, req)
}

// Messages delivers every message (events, comments, retry hints) and is closed at the end.
func (s *Stream) Messages() <-chan Message { return s.msgs }

// Next returns the next message: io.EOF once the stream has ended cleanly, its read error if
// it broke, ctx's error if none came in time.
func (s *Stream) Next(ctx context.Context) (Message, error) {
	select {
	case m, ok := <-s.msgs:
		if !ok {
			if s.err != nil {
				return Message{}, s.err
			}
			return Message{}, io.EOF
		}
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// NextEvent is Next skipping comments and retry hints.
func (s *Stream) NextEvent(ctx context.Context) (Message, error) {
	for {
		m, err := s.Next(ctx)
		if err != nil || m.Event != "" {
			return m, err
		}
	}
}

// Close ends the request; the messages already read stay readable.
func (s *Stream) Close() error {
	s.cancel()
	return s.Response.Body.Close()
}
