// Package sse parses Server-Sent Events streams: the client side of the gateway's SSE
// endpoints, used by tests and tools.
package sse

import (
	"bufio"
	"io"
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
