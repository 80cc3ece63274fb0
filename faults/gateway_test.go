package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/forecastd/forecastd/internal/testenv"
)

// The gateway killed with SIGKILL while it holds async forecasts behind a fit: they were held in
// its memory, never published, so no processor will ever answer them. A gateway started in its
// place shows their jobs expired with the 503 their clients would have got, once no gateway
// could still answer them, instead of held for as long as the records last; the fit they waited
// for finishes on the processors all the same.
func TestGatewayKilledHoldingAsyncForecasts(t *testing.T) {
	const hold, request = 5 * time.Second, 2 * time.Second
	c := newCluster(t, "--hold-timeout", hold.String(), "--request-timeout", request.String())
	post := func(path, body string) (int, envelope) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "respond-async")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var env envelope
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatalf("POST %s: %d, body not JSend: %v", path, resp.StatusCode, err)
		}
		return resp.StatusCode, env
	}
	job := func(id string) envelope {
		t.Helper()
		var env envelope
		err := testenv.Poll(10*time.Second, func() error {
			resp, err := http.Get(c.base + "/v1/jobs/" + id)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET job %s: %d", id, resp.StatusCode)
			}
			return json.NewDecoder(resp.Body).Decode(&env)
		})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}

	// The processors frozen, the fit stays pending and the forecasts behind it held.
	for _, p := range c.procs {
		if err := syscall.Kill(-p.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP: %v", err)
		}
	}
	resumed := false
	resume := func() {
		if resumed {
			return
		}
		resumed = true
		for _, p := range c.procs {
			_ = syscall.Kill(-p.Pid(), syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	code, fit := post("/v1/models/m/fit", `{"values":[1,2,3,4,5,6,7,8,9,10],"method":"naive"}`)
	if code != http.StatusAccepted {
		t.Fatalf("fit: %d %+v", code, fit)
	}
	var held []string
	for h := 1; h <= 4; h++ {
		code, env := post("/v1/models/m/forecast", fmt.Sprintf(`{"horizon":%d}`, h))
		if code != http.StatusAccepted {
			t.Fatalf("forecast: %d %+v", code, env)
		}
		held = append(held, env.Data.JobID)
	}
	for _, id := range held {
		if err := testenv.Poll(10*time.Second, func() error {
			if s := job(id).Data.Status; s != "held" {
				return fmt.Errorf("forecast %s is %s, not held yet", id, s)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	c.gw.Kill9(t)
	killed := time.Now()
	resume()
	c.startGateway()
	testenv.WaitReady(t, c.base+"/readyz", 30*time.Second)

	// Hold timeout + publish timeout (10 s) + twice the request timeout, and some slack.
	limit := hold + 10*time.Second + 2*request + 20*time.Second
	for _, id := range held {
		var last envelope
		err := testenv.Poll(limit, func() error {
			if last = job(id); last.Data.Status != "expired" {
				return fmt.Errorf("forecast %s is %s %s after the kill", id, last.Data.Status, time.Since(killed).Round(time.Second))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if last.Data.HTTPStatus != http.StatusServiceUnavailable {
			t.Errorf("forecast %s expired with http_status %d, want 503", id, last.Data.HTTPStatus)
		}
	}
	t.Logf("the held forecasts showed expired %s after the kill", time.Since(killed).Round(time.Second))
	if err := testenv.Poll(30*time.Second, func() error {
		if s := job(fit.Data.JobID).Data.Status; s != "succeeded" {
			return fmt.Errorf("the fit is %s", s)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
