package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRunPrintsTable(t *testing.T) {
	// Two series with made-up R forecasts: the table has a row for each of our methods and R's.
	const r = `{"method":"x","point":[1,1,1,1],"intervals":{"80":{"lower":[0,0,0,0],"upper":[2,2,2,2]},"95":{"lower":[0,0,0,0],"upper":[3,3,3,3]}}}`
	series := func(name string) string {
		return `{"name":"` + name + `","frequency":4,"horizon":4,"train":[5,7,6,8,6,8,7,9,7,9,8,10,8,10,9,11],"test":[9,11,10,12],` +
			`"r":{"ets":` + r + `,"arima":` + r + `,"theta":` + r + `}}`
	}
	path := filepath.Join(t.TempDir(), "b.json")
	body := `{"r_version":"R version test","forecast_version":"0","series":[` + series("a") + `,` + series("b") + `]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if err := run([]string{"-benchmark", path, "-v"}, &out, &errs); err != nil {
		t.Fatalf("run: %v (%s)", err, errs.String())
	}
	for _, want := range []string{"2 series (R version test, forecast 0)", "| auto |", "| ets |", "| arima |", "| theta |", "| R ets() |", "| R auto.arima() |", "| R thetaf() |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`(?m)^a +auto +MASE +\S+ sMAPE +\S+  \S`).MatchString(errs.String()) {
		t.Errorf("-v printed no per-series line naming what auto fitted:\n%s", errs.String())
	}
	out.Reset()
	if err := run([]string{"-benchmark", path, "-skip", "a"}, &out, &errs); err != nil || !strings.Contains(out.String(), "1 series") {
		t.Errorf("-skip a: %v, want 1 series scored:\n%s", err, out.String())
	}
	if err := run([]string{"-benchmark", path, "-skip", "a,b"}, &out, &errs); err == nil {
		t.Error("run accepted a -skip that leaves no series")
	}
	if err := run([]string{"-benchmark", filepath.Join(t.TempDir(), "none.json")}, &out, &errs); err == nil {
		t.Error("run accepted a missing benchmark file")
	}
}

func TestRunWithoutR(t *testing.T) {
	// The validation set has no R forecasts: only our methods are scored.
	path := filepath.Join(t.TempDir(), "v.json")
	body := `{"series":[{"name":"a","frequency":1,"horizon":2,"train":[5,7,6,8,6,8,7,9,7,9],"test":[9,11]}]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if err := run([]string{"-benchmark", path}, &out, &errs); err != nil {
		t.Fatalf("run: %v (%s)", err, errs.String())
	}
	if !strings.Contains(out.String(), "| auto |") || strings.Contains(out.String(), "R ets()") {
		t.Errorf("want our rows and no R rows:\n%s", out.String())
	}
	// A series without R's forecasts after one with them is an error, not a silent gap.
	mixed := `{"series":[{"name":"a","frequency":1,"horizon":2,"train":[5,7,6,8,6,8,7,9,7,9],"test":[9,11],"r":{"ets":{"point":[1,1],"intervals":{"80":{"lower":[0,0],"upper":[2,2]},"95":{"lower":[0,0],"upper":[3,3]}}}}},` +
		`{"name":"b","frequency":1,"horizon":2,"train":[5,7,6,8,6,8,7,9,7,9],"test":[9,11]}]}`
	if err := os.WriteFile(path, []byte(mixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-benchmark", path}, &out, &errs); err == nil {
		t.Error("run accepted a benchmark with R's forecasts for some series only")
	}
}
