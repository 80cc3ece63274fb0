package integration

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// get reads path from the cluster's gateway with Accept: accept, failing unless it is a 200.
func (c *cluster) get(path, accept string) (http.Header, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.http.URL+path, nil)
	req.Header.Set("Accept", accept)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s (Accept %s): %d %v %s", path, accept, res.StatusCode, err, body)
	}
	return res.Header, body
}

// A CSV upload of a few series, rows interleaved and one series too short for the method, goes
// over the broker like a JSON batch; its results read the same in JSON, NDJSON and CSV.
func TestUploadedBatchResultsInEveryFormat(t *testing.T) {
	c := newCluster(t, 2)
	var b strings.Builder
	b.WriteString("unique_id,ds,y\n")
	start := time.Date(2023, 1, 31, 0, 0, 0, 0, time.UTC)
	for m := range 24 { // three monthly series (month ends), row by row in turn
		for s := range 3 {
			ts := start.AddDate(0, 0, 1).AddDate(0, m, -1) // the last day of month m
			fmt.Fprintf(&b, "store-%d,%s,%d\n", s, ts.Format(time.DateOnly), 100*(s+1)+m)
		}
	}
	b.WriteString("tiny,2023-01-31,\ntiny,2023-02-28,5\n") // one observation: too few for naive
	req, _ := http.NewRequest("POST", c.http.URL+"/v1/batches?method=naive&horizon=3&levels=80,95", strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var acc response
	_ = json.NewDecoder(res.Body).Decode(&acc)
	res.Body.Close()
	var accepted batchData
	_ = acc.decodeInto(&accepted)
	if res.StatusCode != http.StatusAccepted || accepted.Total != 4 {
		t.Fatalf("upload: %d %s; want 202 with 4 series", res.StatusCode, acc.Data)
	}
	id := accepted.BatchID
	if done := c.waitBatch(id, 4); done.Status != "succeeded" || done.Failed != 1 {
		t.Fatalf("batch %+v; want succeeded with the one bad series failed", done)
	}

	// JSON: the series in the order they first appear, forecasts dated on from the last month end.
	_, body := c.get("/v1/batches/"+id+"/results", "application/json")
	var answer struct {
		Data struct {
			Results []json.RawMessage `json:"results"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || len(answer.Data.Results) != 4 {
		t.Fatalf("JSON results %s: %v", body, err)
	}
	var first struct {
		Name       string      `json:"name"`
		Status     string      `json:"status"`
		Point      []float64   `json:"point"`
		Timestamps []time.Time `json:"timestamps"`
	}
	_ = json.Unmarshal(answer.Data.Results[0], &first)
	if first.Name != "store-0" || first.Status != "succeeded" || fmt.Sprint(first.Point) != "[123 123 123]" ||
		len(first.Timestamps) != 3 || !first.Timestamps[0].Equal(time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("store-0: %s; want naive 123 from 2025-01-31", answer.Data.Results[0])
	}
	if tiny := string(answer.Data.Results[3]); !strings.Contains(tiny, `"name":"tiny","status":"failed","http_status":400`) {
		t.Errorf("tiny: %s; want failed with 400", tiny)
	}

	// NDJSON: the same objects, a line each.
	header, body := c.get("/v1/batches/"+id+"/results", "application/x-ndjson")
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 4 {
		t.Fatalf("NDJSON %s: %s", header.Get("Content-Type"), body)
	}
	for i, line := range lines {
		var got, want any
		_ = json.Unmarshal([]byte(line), &got)
		_ = json.Unmarshal(answer.Data.Results[i], &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("NDJSON line %d: %s; want %s", i+1, line, answer.Data.Results[i])
		}
	}

	// CSV: long format, three steps per good series, one row naming the bad one's problem.
	header, body = c.get("/v1/batches/"+id+"/results", "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if header.Get("Content-Type") != "text/csv" || err != nil || len(rows) != 1+3*3+1 {
		t.Fatalf("CSV %s, %v: %s", header.Get("Content-Type"), err, body)
	}
	if got := strings.Join(rows[0], ","); got != "series_id,step,timestamp,point,lo_80,hi_80,lo_95,hi_95,error" {
		t.Errorf("CSV header %s", got)
	}
	if got := strings.Join(rows[1][:4], ","); got != "store-0,1,2025-01-31T00:00:00Z,123" {
		t.Errorf("CSV row 1 %q; want store-0's first step", rows[1])
	}
	if got := strings.Join(rows[9][:4], ","); got != "store-2,3,2025-03-31T00:00:00Z,323" {
		t.Errorf("CSV row 9 %q; want store-2's third step", rows[9])
	}
	if last := rows[10]; last[0] != "tiny" || last[1] != "" || !strings.HasPrefix(last[8], "values: ") {
		t.Errorf("CSV row of tiny %q; want only its error, about its values", last)
	}
}
