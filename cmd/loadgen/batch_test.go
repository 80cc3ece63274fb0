package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The generated batch has the business lengths of each frequency, positive values, and is the
// same for the same seed only.
func TestGenerateBatch(t *testing.T) {
	a := generateBatch(300, 1, 12)
	seasons := map[int]int{}
	for _, s := range a {
		var f frequency
		for _, bf := range businessFrequencies {
			if strings.HasPrefix(s.Name, bf.name+"-") {
				f = bf
			}
		}
		if f.name == "" || s.SeasonLength != f.season {
			t.Fatalf("%s: season %d, want its frequency's", s.Name, s.SeasonLength)
		}
		if n := len(s.Values); n < f.minLen || n > f.maxLen {
			t.Errorf("%s has %d values, want %d to %d", s.Name, n, f.minLen, f.maxLen)
		}
		for _, v := range s.Values {
			if !(v >= 1) {
				t.Fatalf("%s has value %v, want positive", s.Name, v)
			}
		}
		if s.Horizon != 12 {
			t.Errorf("%s horizon %d, want 12", s.Name, s.Horizon)
		}
		seasons[s.SeasonLength]++
	}
	if seasons[1] != 100 || seasons[4] != 100 || seasons[12] != 100 {
		t.Errorf("seasons %v, want a third each of 1, 4 and 12", seasons)
	}
	if !reflect.DeepEqual(a, generateBatch(300, 1, 12)) {
		t.Error("the same seed gave another batch")
	}
	if reflect.DeepEqual(a, generateBatch(300, 2, 12)) {
		t.Error("another seed gave the same batch")
	}
}

func writeRun(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The report pairs each service run with the offline run of as many consumers, computes the
// ratio of series/s and counts the forecasts both runs agree on.
func TestBatchReport(t *testing.T) {
	dir := t.TempDir()
	off := writeRun(t, dir, "off.json", `[{"name":"a","point":[1,2]},{"name":"b","point":[3]},{"name":"c","error":"too short"}]`)
	svc := writeRun(t, dir, "svc.json", `[{"name":"a","status":"succeeded","point":[1,2]},{"name":"b","status":"succeeded","point":[3.5]},
		{"name":"c","status":"failed","error":{"status":"fail"}}]`)
	var out bytes.Buffer
	err := batchReportCmd([]string{"-series", "3", "offline:1:2:" + off, "service:1:4:" + svc}, &out)
	if err != nil {
		t.Fatal(err)
	}
	// 3 series in 2 s offline, in 4 s through the service: ratio 0.5; a agrees, b does not.
	want := "| 1 | 1.5 series/s (2.0s, 1 failed) | 0.8 series/s (4.0s, 1 failed) | 0.50 | ≥ 0.90 ✗ | 1 of 2 |"
	if !strings.Contains(out.String(), want) {
		t.Errorf("report lacks\n%s\n%s", want, out.String())
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-series", "4", "offline:1:2:" + off}, "has 3 series, want 4"},
		{[]string{"-series", "3", "service:2:2:" + svc}, "no offline run with 2 workers"},
		{[]string{"-series", "3", "service:x:2:" + svc}, "consumers must be"},
		{[]string{"-series", "2", "offline:1:2:" + writeRun(t, dir, "dup.json", `[{"name":"a","point":[1]},{"name":"a","point":[1]}]`)}, "series a twice"},
	} {
		if err := batchReportCmd(tt.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("batchreport %v = %v, want %q", tt.args, err, tt.want)
		}
	}
}

// batchdata writes the array 'forecastd batch' reads.
func TestBatchDataCmd(t *testing.T) {
	var out bytes.Buffer
	if err := batchDataCmd([]string{"-series", "5", "-seed", "3", "-horizon", "6"}, &out); err != nil {
		t.Fatal(err)
	}
	var got []genSeries
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out.String())
	}
	if !reflect.DeepEqual(got, generateBatch(5, 3, 6)) {
		t.Errorf("batchdata wrote %+v, want generateBatch's series", got)
	}
}
