package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/store"
)

// BenchmarkEventFanOut measures one model event reaching 500 WebSocket and 500 SSE sessions.
func BenchmarkEventFanOut(b *testing.B) {
	e := newLiveEnv(b, nil)
	const n = 500
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got sync.WaitGroup
	for range n {
		c, _, err := websocket.Dial(ctx, "ws"+e.srv.URL[4:]+"/v1/ws", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow()
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","id":1,"models":["bench"]}`))
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				_, msg, err := c.Read(ctx)
				if err != nil {
					return
				}
				if bytes.Contains(msg, []byte(`"event"`)) {
					got.Done()
				}
			}
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/events?model=bench", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		go func() {
			_ = sse.Read(resp.Body, func(m sse.Message) {
				if m.ID != "" {
					got.Done()
				}
			})
		}()
	}
	for e.counter("forecastd_sessions", "transport", "sse") < n {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for i := range b.N {
		got.Add(2 * n)
		if _, err := e.store.Emit(ctx, store.Event{Type: store.EventModelReady, Model: "bench", Generation: int64(i + 1)}); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
}
