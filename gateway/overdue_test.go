package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// A job whose answer can no longer come is shown expired, with the 503 its client would have
// got, rather than queued or held for as long as its record lasts: the fit job of a fit that
// expired unrun (marked so, or only past its expiry), and a forecast no gateway answered long
// after any would have; and the job of a fit failed long ago whose answer was never recorded
// is shown failed. A forecast within that time, and a fit still pending, show as they are.
func TestJobWhoseAnswerCanNoLongerComeIsExpired(t *testing.T) {
	var shift atomic.Int64 // the store's clock, ahead of or behind the gateway's
	st := store.NewMemory(store.WithClock(func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }))
	t.Cleanup(func() { st.Close() })
	s := newAPIServer(t, apiOption{store: st})
	ctx := t.Context()
	now := time.Now()
	put := func(job store.Job) {
		t.Helper()
		if err := st.PutJob(ctx, job, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// Fits accepted as a gateway that went away would have (their commands never published).
	gone, err := st.AcceptFit(ctx, "gone", "fit-gone", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	put(store.Job{ID: "fit-gone", Kind: messages.KindFit, Model: "gone", Generation: gone, Status: store.JobQueued, CreatedAt: now, UpdatedAt: now})
	expired, err := st.AcceptFit(ctx, "expired", "fit-expired", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	put(store.Job{ID: "fit-expired", Kind: messages.KindFit, Model: "expired", Generation: expired, Status: store.JobQueued, CreatedAt: now, UpdatedAt: now})
	time.Sleep(5 * time.Millisecond)
	// A forecast on "expired" marks its fit expired; "gone"'s is only past its expiry.
	if _, err := st.Unsettled(ctx, "expired", expired); err != nil {
		t.Fatal(err)
	}
	shift.Store(int64(-time.Hour)) // an hour ago
	failed, err := st.AcceptFit(ctx, "failed", "fit-failed", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FailFit(ctx, "failed", failed, "the broker did not take the fit"); err != nil {
		t.Fatal(err)
	}
	shift.Store(0)
	long := now.Add(-time.Hour)
	put(store.Job{ID: "fit-failed", Kind: messages.KindFit, Model: "failed", Generation: failed, Status: store.JobQueued, CreatedAt: long, UpdatedAt: long})
	waiting, err := st.AcceptFit(ctx, "waiting", "fit-waiting", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	put(store.Job{ID: "fit-waiting", Kind: messages.KindFit, Model: "waiting", Generation: waiting, Status: store.JobQueued, CreatedAt: now, UpdatedAt: now})
	old := now.Add(-time.Hour)
	put(store.Job{ID: "forecast-old", Kind: messages.KindForecast, Model: "waiting", Status: store.JobHeld, CreatedAt: old, UpdatedAt: old})
	put(store.Job{ID: "forecast-new", Kind: messages.KindForecast, Model: "waiting", Status: store.JobHeld, CreatedAt: now, UpdatedAt: now})

	defer func() { // shown expired, the fit is expired: no processor can take it over any more
		if fr, err := st.Fit(ctx, "gone", gone); err != nil || fr.Status != store.FitExpired {
			t.Errorf("fit of the job shown expired: %+v, %v; want expired", fr, err)
		}
	}()
	for id, want := range map[string]string{
		"fit-gone": `"expired"`, "fit-expired": `"expired"`, "forecast-old": `"expired"`, "fit-failed": `"failed"`, "fit-waiting": `"queued"`, "forecast-new": `"held"`,
	} {
		code, job := s.send(t, "GET", "/v1/jobs/"+id, "", nil)
		if code != http.StatusOK || string(job.Data["status"]) != want {
			t.Errorf("GET job %s: %d status %s; want %s", id, code, job.Data["status"], want)
			continue
		}
		wantHTTP := map[string]string{`"expired"`: "503", `"failed"`: "500"}[want]
		if got := string(job.Data["http_status"]); wantHTTP != "" && got != wantHTTP {
			t.Errorf("GET job %s: http_status %s, error %s; want %s", id, got, job.Data["error"], wantHTTP)
		}
	}
}

// A fit or backtest job that has not started, or not reported progress yet, says so with
// progress 0, as a running one says how far it is; a forecast has no progress.
func TestJobsNotStartedHaveProgressZero(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	s := newAPIServer(t, apiOption{store: st})
	ctx := t.Context()
	now := time.Now()
	half := 50.0
	for _, job := range []store.Job{
		{ID: "fit-queued", Kind: messages.KindFit, Model: "m", Status: store.JobQueued},
		{ID: "backtest-queued", Kind: messages.KindBacktest, Model: "m", Status: store.JobQueued},
		{ID: "fit-running", Kind: messages.KindFit, Model: "m", Status: store.JobRunning, Progress: &half},
		{ID: "fit-started", Kind: messages.KindFit, Model: "m", Status: store.JobRunning},
		{ID: "forecast-held", Kind: messages.KindForecast, Model: "m", Status: store.JobHeld},
	} {
		job.CreatedAt, job.UpdatedAt = now, now
		if err := st.PutJob(ctx, job, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]string{"fit-queued": "0", "backtest-queued": "0", "fit-running": "50", "fit-started": "0", "forecast-held": ""} {
		if code, job := s.send(t, "GET", "/v1/jobs/"+id, "", nil); code != http.StatusOK || string(job.Data["progress"]) != want {
			t.Errorf("GET job %s: %d progress %q; want %q", id, code, job.Data["progress"], want)
		}
	}
}

// The job id a batch's saved model names (its summary's job_id, {batch}.{index}) has no
// record of its own: asked for, it is answered with where its outcome is, the batch.
func TestSavedFitJobPointsAtItsBatch(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	s := newAPIServer(t, apiOption{store: st})
	if err := st.CreateBatch(t.Context(), store.Batch{ID: "3n4xkq7rzb2m5hta", CreatedAt: time.Now()}, make([]string, 8), time.Hour); err != nil {
		t.Fatal(err)
	}
	problemOf := func(id string) (int, string) {
		code, env := s.send(t, "GET", "/v1/jobs/"+id, "", nil)
		var problem string
		_ = json.Unmarshal(env.Data["job_id"], &problem)
		return code, problem
	}
	code, problem := problemOf(messages.SavedFitJob("3n4xkq7rzb2m5hta", 7))
	if code != http.StatusNotFound || !strings.Contains(problem, "series 7 of batch 3n4xkq7rzb2m5hta") || !strings.Contains(problem, "/v1/batches/3n4xkq7rzb2m5hta/results") {
		t.Errorf("GET job of a saved fit: %d %q; want 404 pointing at the batch's results", code, problem)
	}
	// Of a batch there is no record of, it is just no job.
	if code, problem := problemOf(messages.SavedFitJob("aaaaaaaaaaaaaaaa", 1)); code != http.StatusNotFound || strings.Contains(problem, "batch") {
		t.Errorf("GET job of an unknown batch's fit: %d %q; want 404, no such job", code, problem)
	}
	for _, id := range []string{"3n4xkq7rzb2m5hta.07", "3n4xkq7rzb2m5hta.-1", "nota-batch.7", "3n4xkq7rzb2m5hta."} {
		if _, _, ok := messages.SavedFitOf(id); ok {
			t.Errorf("SavedFitOf(%q) is a saved fit", id)
		}
	}
}
