package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/forecastd/forecastd/messages"

	"github.com/forecastd/forecastd/store"
)

func TestFitThenForecastDistributed(t *testing.T) {
	c := newCluster(t, 2)
	r := c.do("POST", "/v1/models/sales/fit", map[string]any{"values": series(1, 30), "method": "naive"})
	if r.Code != http.StatusOK || r.Status != "success" {
		t.Fatalf("fit: %d %s %s", r.Code, r.Data, r.Message)
	}
	var fit fitData
	r.decode(t, &fit)
	if fit.Generation != 1 || !fit.Current || fit.Method == "" {
		t.Fatalf("fit summary = %+v; want generation 1, current, a method", fit)
	}

	r = c.do("POST", "/v1/models/sales/forecast", map[string]any{"horizon": 5, "levels": []float64{80, 95}})
	if r.Code != http.StatusOK {
		t.Fatalf("forecast: %d %s %s", r.Code, r.Data, r.Message)
	}
	var fc forecastData
	r.decode(t, &fc)
	if fc.Generation != 1 || len(fc.Point) != 5 {
		t.Fatalf("forecast = %+v; want generation 1 and 5 points", fc)
	}
	last := series(1, 30)[29]
	for i, p := range fc.Point {
		if p != last {
			t.Errorf("naive point %d = %v, want the last observation %v", i, p, last)
		}
		if iv := fc.Intervals["95"]; !(iv.Lower[i] < p && p < iv.Upper[i]) {
			t.Errorf("95%% interval %d = [%v, %v] does not contain %v", i, iv.Lower[i], iv.Upper[i], p)
		}
	}
	if fc.Fallback != nil {
		t.Errorf("unexpected fallback %+v", fc.Fallback)
	}

	// Both ends of the job API agree with what the client got.
	j := c.waitJob(fit.JobID, "succeeded")
	if j.Generation != 1 {
		t.Errorf("job generation = %d, want 1", j.Generation)
	}
	r = c.do("GET", "/v1/models/sales", nil)
	var info struct {
		Generation int64 `json:"generation"`
		Sequence   int64 `json:"sequence"`
	}
	r.decode(t, &info)
	if r.Code != http.StatusOK || info.Generation != 1 || info.Sequence != 1 {
		t.Errorf("model info = %d %+v", r.Code, info)
	}
}

func TestForecastIsHeldUntilPendingFitEnds(t *testing.T) {
	c := newCluster(t, 2)
	c.fitNow("m", series(1, 20))
	release, started := c.gates.add(2, false)
	defer release()
	_, gen := c.fitAsync("m", series(2, 20))
	if gen != 2 {
		t.Fatalf("second fit generation = %d, want 2", gen)
	}
	waitClosed(t, started, "the slow fit to start")

	// A synchronous forecast sent now must wait for generation 2, not use generation 1.
	type result struct{ r response }
	done := make(chan result, 1)
	go func() {
		done <- result{c.do("POST", "/v1/models/m/forecast", map[string]any{"horizon": 3})}
	}()
	// And an async one shows as held meanwhile.
	forecastJob := c.forecastAsync("m", 3)
	c.waitJob(forecastJob, "held")
	select {
	case res := <-done:
		t.Fatalf("forecast answered while the fit it depends on was pending: %d %s", res.r.Code, res.r.Data)
	case <-time.After(300 * time.Millisecond):
	}

	release()
	res := <-done
	if res.r.Code != http.StatusOK {
		t.Fatalf("held forecast: %d %s %s", res.r.Code, res.r.Data, res.r.Message)
	}
	var fc forecastData
	res.r.decode(t, &fc)
	if fc.Generation != 2 {
		t.Fatalf("held forecast used generation %d, want the new generation 2", fc.Generation)
	}
	if fc.HeldMS < 300 {
		t.Errorf("held_ms = %v, want at least the 300 ms it was held", fc.HeldMS)
	}
	j := c.waitJob(forecastJob, "succeeded")
	var jfc forecastData
	if err := jsonUnmarshal(j.Result, &jfc); err != nil || jfc.Generation != 2 {
		t.Errorf("async held forecast result = %s (%v), want generation 2", j.Result, err)
	}
}

func TestOutOfOrderFitsLeaveNewestCurrent(t *testing.T) {
	c := newCluster(t, 2)
	release1, started1 := c.gates.add(11, false)
	defer release1()
	job1, gen1 := c.fitAsync("ooo", series(11, 20))
	waitClosed(t, started1, "fit 1 to start")
	job2, gen2 := c.fitAsync("ooo", series(12, 20))
	if gen1 != 1 || gen2 != 2 {
		t.Fatalf("generations = %d, %d; want 1, 2", gen1, gen2)
	}
	c.waitJob(job2, "succeeded")
	release1()
	j1 := c.waitJob(job1, "succeeded")
	var fit1 fitData
	if err := jsonUnmarshal(j1.Result, &fit1); err != nil {
		t.Fatal(err)
	}
	if fit1.Current {
		t.Errorf("the older fit finishing last claims to be current")
	}
	cur, err := c.store.Current(t.Context(), "ooo")
	if err != nil || cur.Generation != 2 {
		t.Fatalf("current = %d (%v), want generation 2", cur.Generation, err)
	}
	r := c.do("POST", "/v1/models/ooo/forecast", map[string]any{"horizon": 2})
	var fc forecastData
	r.decode(t, &fc)
	if r.Code != http.StatusOK || fc.Generation != 2 {
		t.Fatalf("forecast after out-of-order fits: %d generation %d, want 200 with 2", r.Code, fc.Generation)
	}
}

func TestFitFloodDoesNotStarveForecast(t *testing.T) {
	c := newCluster(t, 2)
	c.fitNow("flood", series(1, 20))
	release2, started2 := c.gates.add(2, false)
	defer release2()
	c.fitAsync("flood", series(2, 20)) // generation 2, slow
	waitClosed(t, started2, "fit 2 to start")

	forecastJob := c.forecastAsync("flood", 2)
	c.waitJob(forecastJob, "held")

	// A flood of fits accepted after the forecast, none of which will finish during the test.
	var releases []func()
	for i := range 10 {
		rel, _ := c.gates.add(float64(100+i), false)
		releases = append(releases, rel)
		c.fitAsync("flood", series(float64(100+i), 20))
	}
	defer func() {
		for _, rel := range releases {
			rel()
		}
	}()

	release2()
	fc := c.forecastOf(forecastJob)
	if fc.Generation != 2 {
		t.Fatalf("forecast generation = %d, want 2: it waits only for fits accepted before it", fc.Generation)
	}
	pending, err := c.store.Unsettled(t.Context(), "flood", 100)
	if err != nil || len(pending) == 0 {
		t.Fatalf("the flood should still be pending when the forecast is answered: %v %v", pending, err)
	}
}

func TestFailedFitReleasesHeldForecastWithFallback(t *testing.T) {
	c := newCluster(t, 2)
	c.fitNow("fb", series(1, 20))
	release, started := c.gates.add(2, true)
	defer release()
	fitJob, _ := c.fitAsync("fb", series(2, 20))
	waitClosed(t, started, "the failing fit to start")

	forecastJob := c.forecastAsync("fb", 2)
	c.waitJob(forecastJob, "held")
	release()

	fj := c.waitJob(fitJob, "failed")
	if fj.Status != "failed" {
		t.Fatalf("fit job status = %s, want failed", fj.Status)
	}
	fc := c.forecastOf(forecastJob)
	if fc.Generation != 1 {
		t.Fatalf("forecast generation = %d, want the newest successful model, 1", fc.Generation)
	}
	if fc.Fallback == nil || fc.Fallback.AwaitedGeneration != 2 || !strings.Contains(fc.Fallback.Reason, "failed") {
		t.Fatalf("fallback = %+v; want it to say generation 2 failed", fc.Fallback)
	}
}

func TestFitFailureIsReportedToClient(t *testing.T) {
	c := newCluster(t, 1)
	r := c.do("POST", "/v1/models/short/fit", map[string]any{"values": []float64{1, 2, 3}, "method": "snaive", "season_length": 12})
	if r.Code != http.StatusBadRequest || r.Status != "fail" {
		t.Fatalf("too-short snaive fit: %d %s %s; want 400 fail", r.Code, r.Status, r.Data)
	}
	if !strings.Contains(string(r.Data), "values") {
		t.Errorf("fail data %s does not name the field", r.Data)
	}
	// Nothing half-written: the failed generation is terminal and no model exists.
	fr, err := c.store.Fit(t.Context(), "short", 1)
	if err != nil || fr.Status != store.FitFailed {
		t.Fatalf("fit record = %+v (%v), want failed", fr, err)
	}
	r = c.do("POST", "/v1/models/short/forecast", map[string]any{"horizon": 2})
	if r.Code != http.StatusNotFound || r.Status != "fail" {
		t.Fatalf("forecast without a model: %d %s; want 404 fail", r.Code, r.Data)
	}
}

func TestProcessorDeathMidFitIsRedelivered(t *testing.T) {
	c := newCluster(t, 0)
	victim := c.addProcessor()
	release, started := c.gates.add(7, false)
	job, gen := c.fitAsync("crash", series(7, 20))
	waitClosed(t, started, "the victim to take the fit")

	// The survivor starts only now, so the victim is sure to have taken the fit.
	c.gates.mu.Lock()
	delete(c.gates.open, 7) // the redelivered attempt runs at full speed
	c.gates.mu.Unlock()
	c.addProcessor()
	victim.Kill()

	j := c.waitJob(job, "succeeded")
	if j.Generation != gen {
		t.Fatalf("job generation = %d, want %d", j.Generation, gen)
	}
	cur, err := c.store.Current(t.Context(), "crash")
	if err != nil || cur.Generation != gen {
		t.Fatalf("current = %d (%v), want %d", cur.Generation, err, gen)
	}
	release() // let the victim's stuck handler end
}

// A processor dying mid-fit lets its lease run out; a forecast held behind that fit keeps
// checking the store meanwhile. The lapsed lease must hand the fit over to the processor that
// gets the redelivered command, not end it: the fit succeeds and the held forecast uses it.
// (Reported: the held forecast's checks expired the fit once the dead owner's lease ran out,
// losing a fit the client was told was accepted.)
func TestLapsedLeaseOfDeadProcessorHandsFitOver(t *testing.T) {
	c := newCluster(t, 0)
	victim := c.addProcessor()
	release, started := c.gates.add(9, false)
	defer release() // lets the victim's stuck handler end
	job, gen := c.fitAsync("takeover", series(9, 20))
	waitClosed(t, started, "the victim to take the fit")
	victim.Kill()
	held := c.forecastAsync("takeover", 3)
	if j := c.waitJob(held, "held"); j.Status != "held" {
		t.Fatalf("forecast = %s, want held behind the fit", j.Status)
	}

	// No processor has the command until the victim's lease (3 s) has run out and the held
	// forecast has re-checked the store several times (every 200 ms).
	time.Sleep(4 * time.Second)
	if f, err := c.store.Fit(t.Context(), "takeover", gen); err != nil || f.Status != store.FitPending {
		t.Fatalf("fit = %+v (%v) once its dead processor's lease ran out, want it still pending, to be handed over", f, err)
	}
	c.gates.mu.Lock()
	delete(c.gates.open, 9) // the redelivered attempt runs at full speed
	c.gates.mu.Unlock()
	c.addProcessor()

	if j := c.waitJob(job, "succeeded", "failed", "expired"); j.Status != "succeeded" || j.Generation != gen {
		t.Fatalf("fit = %s generation %d, want succeeded generation %d", j.Status, j.Generation, gen)
	}
	if fc := c.forecastOf(held); fc.Generation != gen {
		t.Fatalf("held forecast used generation %d, want the taken-over fit's %d", fc.Generation, gen)
	}
}

// A fit command delivered twice while the first copy is still being fitted (RabbitMQ delivers
// at least once) must not run the fit a second time: the second processor waits for the first
// to finish and answers with that outcome.
func TestDuplicateFitCommandDoesNotRunTheFitTwice(t *testing.T) {
	c := newCluster(t, 2)
	release, started := c.gates.add(8, false)
	defer release()
	job, gen := c.fitAsync("dup", series(8, 20))
	waitClosed(t, started, "a processor to take the fit")

	body, _ := json.Marshal(messages.FitCommand{
		JobID: job, Model: "dup", Generation: gen, ReplyTo: c.gw.ID(),
		Values: series(8, 20), SeasonLength: 1, Method: "naive",
	})
	c.publishCommand(messages.TopicFit, body)
	time.Sleep(500 * time.Millisecond) // the copy reaches the other processor, which must wait
	if n := c.gates.runsOf(8); n != 1 {
		t.Fatalf("the fit started %d times while the first run was going on, want once", n)
	}
	release()
	if j := c.waitJob(job, "succeeded"); j.Generation != gen {
		t.Fatalf("job generation = %d, want %d", j.Generation, gen)
	}
	time.Sleep(300 * time.Millisecond) // the waiting processor answers from the store
	if n := c.gates.runsOf(8); n != 1 {
		t.Fatalf("the fit ran %d times, want once", n)
	}
}

// Forecasts held on one model behind different fits share their re-checks of the pending fits,
// yet each is released only once the fits up to its own barrier have ended: those behind
// generation 2 go when fit 2 ends while those behind generation 3 stay held until fit 3 does.
func TestHeldForecastsAreReleasedByTheirOwnBarrier(t *testing.T) {
	c := newCluster(t, 2)
	c.fitNow("b", series(1, 20))
	release2, started2 := c.gates.add(21, false)
	defer release2()
	if _, gen := c.fitAsync("b", series(21, 20)); gen != 2 {
		t.Fatalf("second fit generation = %d, want 2", gen)
	}
	waitClosed(t, started2, "fit 2 to start")
	var behind2, behind3 []string
	for range 5 {
		behind2 = append(behind2, c.forecastAsync("b", 3))
	}
	release3, started3 := c.gates.add(31, false)
	defer release3()
	if _, gen := c.fitAsync("b", series(31, 20)); gen != 3 {
		t.Fatalf("third fit generation = %d, want 3", gen)
	}
	waitClosed(t, started3, "fit 3 to start")
	for range 5 {
		behind3 = append(behind3, c.forecastAsync("b", 3))
	}
	for _, id := range append(append([]string{}, behind2...), behind3...) {
		c.waitJob(id, "held")
	}

	release2()
	for _, id := range behind2 {
		if fc := c.forecastOf(id); fc.Generation != 2 {
			t.Fatalf("forecast behind fit 2 used generation %d, want 2", fc.Generation)
		}
	}
	for _, id := range behind3 {
		if j := c.waitJob(id, "held", "queued", "running", "succeeded", "failed"); j.Status != "held" {
			t.Fatalf("forecast behind fit 3 is %s while fit 3 is pending, want held", j.Status)
		}
	}
	release3()
	for _, id := range behind3 {
		if fc := c.forecastOf(id); fc.Generation != 3 {
			t.Fatalf("forecast behind fit 3 used generation %d, want 3", fc.Generation)
		}
	}
}
