package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/forecastd/forecastd/messages"
)

// An answer its client stops reading is cut off once its write deadline (BodyTimeout, and a
// second per BatchUploadMinRate bytes) has passed, and its handler ends, instead of holding
// the answer in memory for as long as the client keeps the connection; an answer read at pace
// is whole, told by its length, and the next request on its connection is not cut by the
// deadline the answer had (net/http clears it after each response).
func TestAnswersAreWrittenAtAPaceOrCutOff(t *testing.T) {
	g := &Gateway{cfg: Config{BodyTimeout: 200 * time.Millisecond, BatchUploadMinRate: 64 << 20}}
	data := json.RawMessage(`"` + strings.Repeat("x", 32<<20) + `"`) // 32 MiB: half a second at 64 MiB/s
	ended := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { ended <- struct{}{} }()
		if r.URL.Path == "/unpaced" { // as /metrics or a command's stream write
			_, _ = w.Write([]byte("ok"))
			return
		}
		g.writeJSend(w, http.StatusOK, messages.Envelope{Status: messages.StatusSuccess, Data: data})
	}))
	defer srv.Close()

	// A client that reads nothing, with a receive buffer that never grows.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	stalled, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler of an answer nobody reads still writes 10 s later; its deadline was 0.7 s")
	}

	// A client that reads gets it all, and its connection serves the next request after the
	// big answer's deadline has passed.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	read := func(path string) []byte {
		t.Helper()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: body: %v", path, err)
		}
		if path == "/big" && (resp.ContentLength != int64(len(body)) || resp.Close) {
			t.Errorf("GET %s: Content-Length %d for %d bytes, close %v; want the length told and the connection kept", path, resp.ContentLength, len(body), resp.Close)
		}
		return body
	}
	if body := read("/big"); !bytes.Contains(body, data) {
		t.Fatalf("answer read at pace: %d bytes; want the whole %d", len(body), len(data))
	}
	time.Sleep(time.Second) // past the big answer's deadline
	if body := read("/unpaced"); string(body) != "ok" {
		t.Fatalf("next answer on the connection, written without a deadline of its own: %q", body)
	}
}
