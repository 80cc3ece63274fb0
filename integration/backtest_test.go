package integration

import (
	"net/http"
	"slices"
	"testing"

	"github.com/forecastd/forecastd/messages"
)

// backtestBody compares naive and drift on a line of 24 values: drift is exact, naive is off by
// (horizon+1)/2 = 2.5 scaled errors in every window.
func backtestBody() map[string]any {
	return map[string]any{"values": line(24), "horizon": 4, "windows": 3, "step": 2, "methods": []string{"naive", "drift"}}
}

func line(n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = float64(10 + 3*i)
	}
	return y
}

func checkBacktest(t *testing.T, res messages.BacktestResult) {
	t.Helper()
	naive, drift := res.Accuracy["naive"], res.Accuracy["drift"]
	if naive.MASE == nil || *naive.MASE != 2.5 || drift.MASE == nil || *drift.MASE > 1e-9 || naive.Points != 12 || len(naive.Windows) != 3 {
		t.Errorf("accuracy %+v; want naive MASE 2.5 over 12 points in 3 windows, drift 0", res.Accuracy)
	}
	if !slices.Equal(res.Leaderboard, []string{"drift", "naive"}) {
		t.Errorf("leaderboard %v, want drift, naive", res.Leaderboard)
	}
}

// A backtest runs on a processor over the broker, answered synchronously or polled as a job,
// and saves no model.
func TestBacktestOverTheBroker(t *testing.T) {
	c := newCluster(t, 1)
	r := c.do("POST", "/v1/models/bt/backtest", backtestBody())
	if r.Code != http.StatusOK {
		t.Fatalf("backtest: %d %s %s", r.Code, r.Data, r.Message)
	}
	var res messages.BacktestResult
	r.decode(t, &res)
	checkBacktest(t, res)

	r = c.do("POST", "/v1/models/bt/backtest", backtestBody(), "Prefer", "respond-async")
	var acc struct {
		JobID string `json:"job_id"`
	}
	r.decode(t, &acc)
	if r.Code != http.StatusAccepted || acc.JobID == "" {
		t.Fatalf("async backtest: %d %s", r.Code, r.Data)
	}
	var polled messages.BacktestResult
	if err := jsonUnmarshal(c.waitJob(acc.JobID, "succeeded").Result, &polled); err != nil {
		t.Fatal(err)
	}
	checkBacktest(t, polled)

	if r := c.do("GET", "/v1/models/bt", nil); r.Code != http.StatusNotFound {
		t.Errorf("GET the model after backtests: %d, want 404", r.Code)
	}
	r = c.do("POST", "/v1/models/bt/backtest", map[string]any{"values": line(6), "horizon": 4, "windows": 3})
	if r.Code != http.StatusBadRequest || r.Status != "fail" {
		t.Errorf("too little data: %d %s; want a 400 fail", r.Code, r.Data)
	}
}

// A batch with a backtest of two methods: every series carries both methods' accuracy beside
// its forecast, and the results carry the overall accuracy and the leaderboard.
func TestBatchBacktestOverTheBroker(t *testing.T) {
	c := newCluster(t, 2)
	in := []batchSeries{{Name: "a", Values: line(24)}, {Name: "b", Values: line(30)}, {Name: "short", Values: line(5)}}
	r := c.do("POST", "/v1/batches", map[string]any{"series": in, "horizon": 4, "levels": []float64{80, 95},
		"backtest": map[string]any{"windows": 3, "step": 2}, "methods": []string{"naive", "drift"}})
	var b batchData
	r.decode(t, &b)
	if r.Code != http.StatusAccepted {
		t.Fatalf("POST /v1/batches: %d %s", r.Code, r.Data)
	}
	if end := c.waitBatch(b.BatchID, len(in)); end.Status != "succeeded" || end.Failed != 1 {
		t.Fatalf("batch %+v; want succeeded with the short series failed", end)
	}
	r = c.do("GET", "/v1/batches/"+b.BatchID+"/results", nil)
	var res struct {
		Results []struct {
			Name     string                       `json:"name"`
			Status   string                       `json:"status"`
			Method   string                       `json:"method"`
			Point    []float64                    `json:"point"`
			Backtest map[string]messages.Accuracy `json:"backtest"`
		} `json:"results"`
		Overall     map[string]messages.OverallAccuracy `json:"overall"`
		Leaderboard []string                            `json:"leaderboard"`
	}
	r.decode(t, &res)
	for _, s := range res.Results[:2] {
		if s.Status != "succeeded" || len(s.Point) != 4 || s.Backtest["naive"].MASE == nil || *s.Backtest["naive"].MASE != 2.5 || s.Backtest["drift"].Points != 12 {
			t.Errorf("series %s: %+v", s.Name, s)
		}
	}
	if res.Results[2].Status != "failed" {
		t.Errorf("series short: %+v; want its own error", res.Results[2])
	}
	naive := res.Overall["naive"]
	if naive.Series != 2 || naive.Points != 24 || naive.MASE == nil || *naive.MASE != 2.5 || !slices.Equal(res.Leaderboard, []string{"drift", "naive"}) {
		t.Errorf("overall %+v, leaderboard %v", res.Overall, res.Leaderboard)
	}
}

// A processor that dies mid-backtest leaves its command unacknowledged: RabbitMQ redelivers it
// and another processor answers the job.
func TestProcessorDeathMidBacktestIsRedelivered(t *testing.T) {
	c := newCluster(t, 0)
	victim := c.addProcessor()
	const key = 11 // the series starts with the gate's key: every window's fit waits at the gate
	release, started := c.gates.add(key, false)
	defer release() // lets the victim's stuck handler end
	y := make([]float64, 24)
	for i := range y {
		y[i] = key + float64(i)
	}
	r := c.do("POST", "/v1/models/bt/backtest", map[string]any{"values": y, "horizon": 4, "windows": 3, "step": 2, "methods": []string{"naive", "drift"}},
		"Prefer", "respond-async")
	var acc struct {
		JobID string `json:"job_id"`
	}
	r.decode(t, &acc)
	if r.Code != http.StatusAccepted {
		t.Fatalf("async backtest: %d %s", r.Code, r.Data)
	}
	waitClosed(t, started, "the victim to take the backtest")
	c.gates.mu.Lock()
	delete(c.gates.open, key) // the redelivered attempt runs at full speed
	c.gates.mu.Unlock()
	c.addProcessor()
	victim.Kill()

	var res messages.BacktestResult
	if err := jsonUnmarshal(c.waitJob(acc.JobID, "succeeded").Result, &res); err != nil {
		t.Fatal(err)
	}
	if naive := res.Accuracy["naive"]; naive.MASE == nil || *naive.MASE != 2.5 || !slices.Equal(res.Leaderboard, []string{"drift", "naive"}) {
		t.Errorf("accuracy %+v, leaderboard %v", res.Accuracy, res.Leaderboard)
	}
}
