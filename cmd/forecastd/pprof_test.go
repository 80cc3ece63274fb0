package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/store"
)

// With --pprof the gateway serves the profiles on its own address; without it, /debug/pprof/ is
// an unknown path.
func TestPprofOnlyWhenAsked(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name  string
		debug http.Handler
		want  int
	}{{"off", nil, http.StatusNotFound}, {"on", pprofHandler(), http.StatusOK}} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			t.Cleanup(func() { st.Close() })
			gw := gateway.New(gateway.DefaultConfig(), gateway.Deps{Store: st, Log: log, Debug: tc.debug})
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
				rec := httptest.NewRecorder()
				gw.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != tc.want {
					t.Fatalf("GET %s: %d, want %d", path, rec.Code, tc.want)
				}
			}
		})
	}
}
