package gateway_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/sse"
	"github.com/forecastd/forecastd/messages"
)

// lineBacktest compares naive and drift on the line 1..12: three windows of two steps, where
// naive is off by 1.5 scaled errors and drift is exact.
const lineBacktest = `{"values":[1,2,3,4,5,6,7,8,9,10,11,12],"horizon":2,"windows":3,"methods":["naive","drift"]}`

func backtestOf(t *testing.T, env jsend) messages.BacktestResult {
	t.Helper()
	var res messages.BacktestResult
	decodeData(t, env, &res)
	return res
}

func checkLineBacktest(t *testing.T, res messages.BacktestResult) {
	t.Helper()
	naive, drift := res.Accuracy["naive"], res.Accuracy["drift"]
	if naive.MASE == nil || *naive.MASE != 1.5 || drift.MASE == nil || *drift.MASE > 1e-9 || naive.Points != 6 {
		t.Errorf("accuracy %+v; want naive MASE 1.5 over 6 points, drift 0", res.Accuracy)
	}
	if !slices.Equal(res.Leaderboard, []string{"drift", "naive"}) || res.Windows != 3 || res.Step != 1 || res.N != 12 || len(naive.Windows) != 3 {
		t.Errorf("leaderboard %v, plan %d×%d over %d values, %d windows", res.Leaderboard, res.Windows, res.Step, res.N, len(naive.Windows))
	}
}

func TestBacktestAnswersTheAccuracyTable(t *testing.T) {
	s := newAPIServer(t)
	code, env := s.send(t, "POST", "/v1/models/bt/backtest", "application/json", []byte(lineBacktest))
	if code != http.StatusOK {
		t.Fatalf("backtest: %d %+v", code, env)
	}
	res := backtestOf(t, env)
	checkLineBacktest(t, res)
	if res.Model != "bt" || res.JobID == "" {
		t.Errorf("model %q job %q", res.Model, res.JobID)
	}
	// Options apply to the method they are given for.
	code, env = s.send(t, "POST", "/v1/models/bt/backtest", "application/json",
		[]byte(`{"values":[3,5,4,6,5,7,6,8,7,9,8,10],"horizon":2,"windows":2,"method":"ets","options":{"spec":"ANN"},"methods":["naive","ets"]}`))
	if ets := backtestOf(t, env).Accuracy["ets"]; code != http.StatusOK || ets.Model != "ETS(A,N,N)" {
		t.Errorf("ets with spec ANN: %d, model %q", code, ets.Model)
	}
	// It saves no model.
	if code, _ := s.send(t, "GET", "/v1/models/bt", "", nil); code != http.StatusNotFound {
		t.Errorf("GET the model after a backtest: %d, want 404", code)
	}
	// Its job is recorded as a backtest.
	code, job := s.send(t, "GET", "/v1/jobs/"+res.JobID, "", nil)
	if code != http.StatusOK || string(job.Data["kind"]) != `"backtest"` || string(job.Data["status"]) != `"succeeded"` {
		t.Errorf("job: %d %v", code, job.Data)
	}
}

func TestAsyncBacktestIsPollable(t *testing.T) {
	s := newAPIServer(t)
	req, _ := http.NewRequest("POST", s.url+"/v1/models/bt/backtest", strings.NewReader(lineBacktest))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var env jsend
	_ = json.NewDecoder(res.Body).Decode(&env)
	res.Body.Close()
	var acc gateway.Accepted
	decodeData(t, env, &acc)
	if res.StatusCode != http.StatusAccepted || acc.JobID == "" || acc.Generation != 0 || res.Header.Get("Location") != "/v1/jobs/"+acc.JobID {
		t.Fatalf("async backtest: %d %+v, Location %q", res.StatusCode, acc, res.Header.Get("Location"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, job := s.send(t, "GET", "/v1/jobs/"+acc.JobID, "", nil)
		if code == http.StatusOK && string(job.Data["status"]) == `"succeeded"` {
			var result messages.BacktestResult
			if err := json.Unmarshal(job.Data["result"], &result); err != nil {
				t.Fatal(err)
			}
			checkLineBacktest(t, result)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("async backtest never succeeded")
}

func TestBacktestOverSSE(t *testing.T) {
	s := newAPIServer(t)
	for _, tc := range []struct{ body, last, says string }{
		{lineBacktest, "succeeded", `"leaderboard":["drift","naive"]`},
		// Passes validation (the first window has the 2 values MASE needs) but drift needs 3.
		{`{"values":[1,2,3,4,5],"horizon":2,"windows":2,"method":"drift"}`, "failed", `windows`},
	} {
		req, _ := http.NewRequest("POST", s.url+"/v1/models/bt/backtest", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var events []sse.Message
		err = sse.Read(res.Body, func(m sse.Message) { events = append(events, m) })
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(events) < 2 || events[0].Event != "accepted" || events[len(events)-1].Event != tc.last || !strings.Contains(events[len(events)-1].Data, tc.says) {
			t.Errorf("events %+v; want accepted … %s saying %s", events, tc.last, tc.says)
		}
		progress := slices.IndexFunc(events, func(m sse.Message) bool {
			return m.Event == "progress" && strings.Contains(m.Data, `"stage":"backtest"`)
		})
		if tc.last == "succeeded" && progress < 0 {
			t.Errorf("events %+v; want the backtest's progress", events)
		}
	}
}

func TestBacktestBadInputNamesTheField(t *testing.T) {
	s := newAPIServer(t)
	for _, tc := range []struct{ body, field, says string }{
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":0}`, "windows", "from 1 to 100"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"step":0}`, "step", "got 0"},
		{`{"values":[1,2,3,4,5,6],"horizon":2}`, "windows", "is required"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":4}`, "windows", "at most 3 windows fit"},
		{`{"values":[1,2,3,4,5,6],"horizon":5,"windows":1}`, "horizon", "at most horizon 4"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"methods":["naive","magic"]}`, "methods[1]", "unknown method"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"methods":["naive","naive"]}`, "methods[1]", "also methods[0]"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"methods":["naive","mean","drift","snaive","theta"]}`, "methods", "at most 4"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":"two"}`, "windows", "integer"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"window":1}`, "window", "not a known field"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"windows":2}`, "windows", "more than once"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1e300}`, "windows", "integer"},
		{`{"values":"1,2,3","horizon":2,"windows":1}`, "values", "must be an array"},
		{`{"values":[1,2,3,4,5,6],"horizon":2,"windows":1,"options":{"spec":"ANN"}}`, "options.spec", "only to method"},
		{`{"values":[1,2,null,1e400],"horizon":1,"windows":1}`, "values[3]", "1e400"},
		{`{"values":[null,null,null,null],"horizon":1,"windows":1}`, "values", "missing"},
	} {
		code, env := s.send(t, "POST", "/v1/models/bt/backtest", "application/json", []byte(tc.body))
		if code != http.StatusBadRequest || env.Status != "fail" || !strings.Contains(string(env.Data[tc.field]), tc.says) {
			t.Errorf("%s: %d %+v; want 400 fail naming %q saying %q", tc.body, code, env, tc.field, tc.says)
		}
	}
}

// With every result reply lost, a synchronous backtest is answered from its job record.
func TestLostBacktestReplyIsAnsweredFromTheJobRecord(t *testing.T) {
	s := newAPIServer(t, apiOption{
		procPub: func(p message.Publisher) message.Publisher { return dropResults{p} },
		cfg:     func(c *gateway.Config) { c.LostReplyCheck = 100 * time.Millisecond },
	})
	code, env := s.send(t, "POST", "/v1/models/lost/backtest", "application/json", []byte(lineBacktest))
	if code != http.StatusOK {
		t.Fatalf("backtest with its reply lost: %d %+v", code, env)
	}
	checkLineBacktest(t, backtestOf(t, env))
}

// A batch with a backtest compares its methods on every series: each series carries their
// accuracy beside its forecast, and the results carry the overall accuracy and leaderboard.
func TestBatchBacktestCarriesPerSeriesAndOverallAccuracy(t *testing.T) {
	s := newAPIServer(t)
	body := `{"horizon":2,"levels":[80,95],"backtest":{"windows":3},"methods":["naive","drift"],"series":[
		{"name":"line","values":[1,2,3,4,5,6,7,8,9,10,11,12]},
		{"name":"steep","values":[2,4,6,8,10,12,14,16,18,20]},
		{"name":"short","values":[1,2,3,4,5]}]}`
	id := s.postBatch(t, "/v1/batches", "application/json", body)
	s.waitBatchEnded(t, id)
	code, env := s.send(t, "GET", "/v1/batches/"+id+"/results", "", nil)
	var r struct {
		Method   string            `json:"method"`
		Backtest messages.Backtest `json:"backtest"`
		Results  []struct {
			Status   string                       `json:"status"`
			Point    []float64                    `json:"point"`
			Backtest map[string]messages.Accuracy `json:"backtest"`
			Error    *messages.Envelope           `json:"error"`
		} `json:"results"`
		Overall     map[string]messages.OverallAccuracy `json:"overall"`
		Leaderboard []string                            `json:"leaderboard"`
	}
	decodeData(t, env, &r)
	if code != http.StatusOK || len(r.Results) != 3 {
		t.Fatalf("results: %d %+v", code, env)
	}
	// The first method compared is the one forecast.
	if r.Method != "naive" || r.Backtest.Windows != 3 || r.Backtest.Step != 1 || !slices.Equal(r.Backtest.Methods, []string{"naive", "drift"}) {
		t.Errorf("batch method %q backtest %+v", r.Method, r.Backtest)
	}
	line := r.Results[0]
	if line.Status != "succeeded" || len(line.Point) != 2 || line.Point[0] != 12 || *line.Backtest["naive"].MASE != 1.5 || line.Backtest["naive"].Windows != nil {
		t.Errorf("series line: %+v", line)
	}
	if short := r.Results[2]; short.Status != "failed" || short.Error == nil || !strings.Contains(string(short.Error.Data), "backtest.windows") {
		t.Errorf("series short: %+v; want its own error naming backtest.windows", short)
	}
	// Both lines give naive MASE 1.5 (steep's errors and scale are doubled); drift is exact on both.
	naive, drift := r.Overall["naive"], r.Overall["drift"]
	if naive.Series != 2 || naive.Points != 12 || naive.MASE == nil || *naive.MASE != 1.5 || drift.MASE == nil || *drift.MASE > 1e-9 {
		t.Errorf("overall %+v", r.Overall)
	}
	if !slices.Equal(r.Leaderboard, []string{"drift", "naive"}) {
		t.Errorf("leaderboard %v, want drift, naive", r.Leaderboard)
	}

	// NDJSON: each series' line carries its figures, and a last line the overall ones.
	_, nd := s.getResults(t, id, messages.MediaNDJSON)
	lines := strings.Split(strings.TrimSpace(string(nd)), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"backtest":{`) {
		t.Fatalf("NDJSON results: %s; want 3 series lines with their backtest and a summary", nd)
	}
	var sum struct {
		Overall     map[string]messages.OverallAccuracy `json:"overall"`
		Leaderboard []string                            `json:"leaderboard"`
	}
	if err := json.Unmarshal([]byte(lines[3]), &sum); err != nil || !slices.Equal(sum.Leaderboard, r.Leaderboard) ||
		sum.Overall["naive"].MASE == nil || *sum.Overall["naive"].MASE != *naive.MASE || sum.Overall["naive"].Series != 2 {
		t.Errorf("NDJSON summary %s (%v); want the JSON answer's overall and leaderboard", lines[3], err)
	}

	// CSV: each method's figures on the series in columns of their own, on every row of it.
	_, csvBody := s.getResults(t, id, messages.MediaCSV)
	rows, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
	if err != nil || len(rows) != 1+2+2+1 {
		t.Fatalf("CSV results (%v):\n%s", err, csvBody)
	}
	want := "series_id,step,timestamp,point,lo_80,hi_80,lo_95,hi_95,naive_mase,naive_smape,naive_coverage_80,naive_coverage_95,drift_mase,drift_smape,drift_coverage_80,drift_coverage_95,error"
	if got := strings.Join(rows[0], ","); got != want {
		t.Errorf("CSV header %s; want %s", got, want)
	}
	for _, row := range rows[1:3] {
		if row[0] != "line" || row[8] != "1.5" || row[12] != "0" && !strings.HasPrefix(row[12], "0") || row[16] != "" {
			t.Errorf("CSV row %v; want series line with naive MASE 1.5 and drift's near 0", row)
		}
	}
	if last := rows[5]; last[0] != "short" || !strings.Contains(last[16], "backtest.windows") || last[8] != "" {
		t.Errorf("CSV row %v; want only the error of series short", last)
	}
}

func TestBatchBacktestBadInputNamesTheField(t *testing.T) {
	s := newAPIServer(t)
	const series = `"series":[{"name":"a","values":[1,2,3,4,5,6]}]`
	for _, tc := range []struct{ body, field string }{
		{`{"horizon":2,"backtest":{"windows":0},` + series + `}`, "backtest.windows"},
		{`{"horizon":2,"backtest":{"windows":2,"step":0},` + series + `}`, "backtest.step"},
		// The decoder names an unknown key without its object (as it does options'): "steps".
		{`{"horizon":2,"backtest":{"windows":2,"steps":1},` + series + `}`, "steps"},
		{`{"horizon":2,"backtest":{"windows":2},"methods":["mean","mean"],` + series + `}`, "methods[1]"},
		{`{"horizon":2,"backtest":{"windows":2},"methods":["nope"],"method":"naive",` + series + `}`, "methods[0]"},
		{`{"horizon":2,"methods":["naive"],` + series + `}`, "methods"},
	} {
		code, env := s.send(t, "POST", "/v1/batches", "application/json", []byte(tc.body))
		if code != http.StatusBadRequest || env.Status != "fail" || env.Data[tc.field] == nil {
			t.Errorf("%s: %d %+v; want 400 fail naming %q", tc.body, code, env, tc.field)
		}
	}
}

// A step left out of the timestamps is a missing value, as in a fit: the backtest runs on the
// series put on its step, 12 values with the sixth missing, not on the 11 given.
func TestBacktestFillsTimestampGaps(t *testing.T) {
	s := newAPIServer(t)
	var ts []string
	for d := 1; d <= 12; d++ {
		if d != 6 {
			ts = append(ts, fmt.Sprintf(`"2024-01-%02dT00:00:00Z"`, d))
		}
	}
	body := `{"values":[1,2,3,4,5,7,8,9,10,11,12],"timestamps":[` + strings.Join(ts, ",") + `],"horizon":2,"windows":3,"methods":["naive","drift"]}`
	code, env := s.send(t, "POST", "/v1/models/bt/backtest", "application/json", []byte(body))
	if code != http.StatusOK {
		t.Fatalf("backtest: %d %+v", code, env)
	}
	res := backtestOf(t, env)
	if res.N != 12 {
		t.Errorf("n %d; want the 12 steps of the filled series", res.N)
	}
	// The windows hold out the last values of the filled series: 9, 10 first.
	if w := res.Accuracy["naive"].Windows; len(w) != 3 || w[0].Origin != 8 || !slices.Equal(w[2].Actual, messages.Values{11, 12}) {
		t.Errorf("windows %+v; want origins from 8 over 12 steps", w)
	}
}

// Without method, the first of methods is the method, as in a batch: options given for it apply.
func TestBacktestMethodDefaultsToTheFirstOfMethods(t *testing.T) {
	s := newAPIServer(t)
	code, env := s.send(t, "POST", "/v1/models/bt/backtest", "application/json",
		[]byte(`{"values":[3,5,4,6,5,7,6,8,7,9,8,10],"horizon":2,"windows":2,"options":{"spec":"ANN"},"methods":["ets","naive"]}`))
	if code != http.StatusOK {
		t.Fatalf("backtest with options for methods[0]: %d %+v", code, env)
	}
	if ets := backtestOf(t, env).Accuracy["ets"]; ets.Model != "ETS(A,N,N)" {
		t.Errorf("ets model %q; want the spec ANN applied", ets.Model)
	}
}

// A series too short for any backtest with its season length is a problem of season_length
// (and of the values) in words a client can act on, not "at most horizon 0 fits"; a batch
// series too short for the plan has its own error worded as the single backtest words it,
// without the engine's "too few observations:" prefix, naming its values when the batch's
// horizon or season length leaves it nothing to hold out.
func TestBacktestTooShortForItsSeasonLength(t *testing.T) {
	s := newAPIServer(t)
	values := `[1,2,3,4,5,6,7,8,9,10,11,12]`
	code, env := s.send(t, "POST", "/v1/models/bt/backtest", "application/json",
		[]byte(`{"values":`+values+`,"season_length":12,"horizon":2,"windows":1}`))
	var msg string
	_ = json.Unmarshal(env.Data["season_length"], &msg)
	if code != http.StatusBadRequest || env.Data["horizon"] != nil || !strings.Contains(msg, "at least 14") {
		t.Fatalf("%d %+v; want a fail naming season_length and the 14 values it needs", code, env)
	}
	body := `{"horizon":2,"method":"naive","backtest":{"windows":3},"series":[
		{"name":"seasonal","season_length":12,"values":` + values + `},
		{"name":"short","values":[1,2,3,4,5]}]}`
	id := s.postBatch(t, "/v1/batches", "application/json", body)
	s.waitBatchEnded(t, id)
	results := s.resultsOf(t, id)
	if len(results) != 2 {
		t.Fatalf("results %s", results)
	}
	for i, field := range []string{"values", "backtest.windows"} {
		var r struct {
			Error *messages.Envelope `json:"error"`
		}
		_ = json.Unmarshal(results[i], &r)
		e := r.Error
		if e == nil {
			t.Errorf("series %d: no error; want one naming %s", i, field)
			continue
		}
		var problems map[string]string
		_ = json.Unmarshal(e.Data, &problems)
		if p := problems[field]; p == "" || len(problems) != 1 || strings.Contains(p, "too few observations") {
			t.Errorf("series %d: error %s; want it naming only %s, without the engine's prefix", i, e.Data, field)
		}
	}
}
