package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// asyncForecast asks for a forecast of model with Prefer: respond-async and returns its job id.
func (s *apiServer) asyncForecast(t *testing.T, model string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/v1/models/"+model+"/forecast", strings.NewReader(`{"horizon":2}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Data struct {
			JobID string `json:"job_id"`
		} `json:"data"`
	}
	_ = json.NewDecoder(res.Body).Decode(&env)
	if res.StatusCode != http.StatusAccepted || env.Data.JobID == "" {
		t.Fatalf("async forecast of %s: %d %+v", model, res.StatusCode, env)
	}
	return env.Data.JobID
}

// waitJob polls job id until its status is one of want, and returns its data.
func (s *apiServer) waitJob(t *testing.T, id string, want ...string) map[string]json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, env := s.send(t, "GET", "/v1/jobs/"+id, "", nil)
		var status string
		_ = json.Unmarshal(env.Data["status"], &status)
		for _, w := range want {
			if code == http.StatusOK && status == w {
				return env.Data
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %d %s; want %v", id, code, status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A batch with save_models keeps each series as the model {batch_id}.{name}: a forecast of it
// asked for while the series runs is held and then computed with the series' generation, the
// model is listed and described, and it forecasts like any model.
func TestBatchWithSaveModelsKeepsEachSeriesAsAModel(t *testing.T) {
	release := make(chan struct{})
	s := newAPIServer(t, apiOption{
		fit: func(ctx context.Context, y []float64, spec forecast.Spec, p forecast.ProgressFunc) (forecast.Model, error) {
			<-release
			return forecast.Fit(ctx, y, spec, p)
		},
	})
	body := `{"method":"naive","horizon":2,"levels":[80],"save_models":true,"series":[
		{"name":"store-1","values":[1,2,3]},
		{"name":"short","values":[null,null,4]}]}`
	code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(body))
	var acc batchAnswer
	decodeData(t, env, &acc)
	if code != http.StatusAccepted || len(acc.BatchID) != messages.BatchIDLength || string(env.Data["save_models"]) != "true" {
		t.Fatalf("POST: %d %v; want 202 with a %d-character batch id, save_models", code, env, messages.BatchIDLength)
	}
	model := acc.BatchID + ".store-1"
	job := s.asyncForecast(t, model)
	s.waitJob(t, job, "held") // no model yet, but one is being made: held, not 404
	close(release)

	data := s.waitJob(t, job, "succeeded")
	var fc struct {
		Generation int64     `json:"generation"`
		Point      []float64 `json:"point"`
	}
	if err := json.Unmarshal(data["result"], &fc); err != nil || fc.Generation != 1 || len(fc.Point) != 2 || fc.Point[0] != 3 {
		t.Fatalf("held forecast: %s (%v); want generation 1, point [3 3]", data["result"], err)
	}
	s.waitBatchEnded(t, acc.BatchID)
	_, env = s.send(t, "GET", "/v1/batches/"+acc.BatchID+"/results", "", nil)
	var r struct {
		Results []struct {
			Status     string `json:"status"`
			Model      string `json:"model"`
			Generation int64  `json:"generation"`
		} `json:"results"`
	}
	decodeData(t, env, &r)
	if len(r.Results) != 2 || r.Results[0].Model != model || r.Results[0].Generation != 1 || r.Results[1].Status != "failed" || r.Results[1].Model != "" {
		t.Fatalf("results %+v; want store-1 kept as %s generation 1, short failed", r.Results, model)
	}

	code, env = s.send(t, "POST", "/v1/models/"+model+"/forecast", "application/json", []byte(`{"horizon":3}`))
	if code != http.StatusOK || string(env.Data["generation"]) != "1" || string(env.Data["model"]) != `"`+model+`"` {
		t.Fatalf("forecast of %s: %d %v", model, code, env)
	}
	code, env = s.send(t, "GET", "/v1/models/"+model, "", nil)
	if recent := string(env.Data["recent_generations"]); code != http.StatusOK || string(env.Data["generation"]) != "1" ||
		!strings.Contains(recent, `"job_id":"`+acc.BatchID+`.0"`) || !strings.Contains(recent, `"succeeded"`) {
		t.Fatalf("GET %s: %d generation %s, recent %s; want generation 1, the series' fit succeeded", model, code, env.Data["generation"], recent)
	}
	code, env = s.send(t, "GET", "/v1/models/"+acc.BatchID+".short", "", nil)
	if g := string(env.Data["generation"]); code != http.StatusOK || g != "" && g != "0" || !strings.Contains(string(env.Data["recent_generations"]), `"failed"`) {
		t.Fatalf("GET the failed series' model: %d generation %s, recent %s; want no current model, a failed fit", code, env.Data["generation"], env.Data["recent_generations"])
	}
	code, env = s.send(t, "GET", "/v1/models", "", nil)
	if listed := string(env.Data["models"]); code != http.StatusOK || !strings.Contains(listed, `"model":"`+model+`"`) {
		t.Fatalf("GET /v1/models: %d %s; want %s listed", code, listed, model)
	}
}

// With save_models, a series name must leave room for the batch id in its model's name.
func TestSaveModelsRefusesNamesTooLongForAModel(t *testing.T) {
	s := newAPIServer(t)
	long := strings.Repeat("n", messages.MaxSavedSeriesName+1)
	code, env := s.send(t, "POST", "/v1/batches", "application/json",
		[]byte(`{"horizon":2,"save_models":true,"series":[{"name":"ok","values":[1,2]},{"name":"`+long+`","values":[1,2]}]}`))
	if code != http.StatusBadRequest || env.Status != "fail" || !strings.Contains(string(env.Data["series[1].name"]), "{batch_id}.{name}") {
		t.Fatalf("%d %v; want a 400 fail naming series[1].name", code, env)
	}
	code, env = s.send(t, "POST", "/v1/batches", "application/json", []byte(`{"horizon":2,"save_models":"yes","series":[{"name":"ok","values":[1,2]}]}`))
	if code != http.StatusBadRequest || env.Data["save_models"] == nil {
		t.Fatalf("save_models a string: %d %v; want a 400 fail naming save_models", code, env)
	}
}

// acceptFailsFor fails AcceptSavedFit for models ending in suffix, as a store that went away midway,
// once every other model's AcceptSavedFit has returned (others of them), so that those were accepted
// before the failure stops the gateway starting more.
type acceptFailsFor struct {
	store.Store
	suffix string
	others *sync.WaitGroup
}

func (s acceptFailsFor) AcceptSavedFit(ctx context.Context, model, job string, lease time.Duration) (int64, error) {
	if strings.HasSuffix(model, s.suffix) {
		s.others.Wait()
		return 0, errors.New("dial tcp 127.0.0.1:6379: connection refused")
	}
	defer s.others.Done()
	return s.Store.AcceptSavedFit(ctx, model, job, lease)
}

// A batch with save_models whose fits the store does not all accept does not run: the client
// gets 503, the batch is failed and the fits that were accepted are failed, so no forecast is
// held for them.
func TestSaveModelsBatchTheStoreDoesNotAcceptLeavesNoFitPending(t *testing.T) {
	others := new(sync.WaitGroup)
	others.Add(1)
	s := newAPIServer(t, apiOption{wrap: func(st store.Store) store.Store { return acceptFailsFor{st, ".bad", others} }})
	code, env := s.send(t, "POST", "/v1/batches", "application/json",
		[]byte(`{"horizon":2,"method":"naive","save_models":true,"series":[{"name":"ok","values":[1,2]},{"name":"bad","values":[1,2]}]}`))
	if code != http.StatusServiceUnavailable || env.Status != "error" || strings.Contains(env.Message, "6379") {
		t.Fatalf("%d %+v; want a 503 error that does not show the store's", code, env)
	}
	infos, err := s.store.List(t.Context())
	if err != nil || len(infos) != 1 || !strings.HasSuffix(infos[0].Model, ".ok") {
		t.Fatalf("models %+v, %v; want the ok series' only", infos, err)
	}
	if info := infos[0]; len(info.Pending) != 0 || len(info.Recent) != 1 || info.Recent[0].Status != store.FitFailed {
		t.Errorf("%s: pending %v, recent %+v; want its fit failed", info.Model, info.Pending, info.Recent)
	}
	id, _, _ := strings.Cut(infos[0].Model, ".")
	if b, err := s.store.GetBatch(t.Context(), id); err != nil || b.Status != store.BatchFailed {
		t.Errorf("batch %s: %+v, %v; want failed", id, b, err)
	}
}
