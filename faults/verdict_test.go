package faults

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// verdict is what a case's calls show.
type verdict struct {
	models                  int
	duration                time.Duration
	fitsSent, fitsAccepted  int
	forecastsSent           int
	lost                    []string // accepted fits that did not end as they must
	violations              []string // forecasts that broke the hold rule, generations given twice
	unanswered              []string // calls with no answer before the client's timeout
	n5xx, n503              int
	unexpected5xx           []string // 5xx other than 503
	longest                 time.Duration
	recoveries              []string // per fault: time to the first 2xx forecast sent after it
	heldAnswered, heldTotal int      // forecasts sent behind a killed fit
	heldLongest             time.Duration
	faultAt                 time.Time // the first fault
	extra                   []string  // case-specific notes for the log
	fitDurations            []float64 // ms, of successful slow fits
	victimRefitMS           float64   // the killed fit's successful attempt
}

// judge applies the suite's rules to every call of a case.
func judge(calls []*call, faults []fault, models []string, d time.Duration) verdict {
	v := verdict{models: len(models), duration: d}
	if len(faults) > 0 {
		v.faultAt = faults[0].at
	}
	type key struct {
		model string
		gen   int64
	}
	byGen := map[key][]*call{}
	var fits, forecasts []*call
	for _, c := range calls {
		switch c.kind {
		case "fit":
			v.fitsSent++
			if c.accepted() {
				v.fitsAccepted++
				fits = append(fits, c)
				byGen[key{c.model, c.gen}] = append(byGen[key{c.model, c.gen}], c)
			}
		case "forecast":
			v.forecastsSent++
			forecasts = append(forecasts, c)
			if c.code != 0 {
				v.longest = max(v.longest, c.done.Sub(c.sent))
			}
		}
		switch {
		case c.code == 0:
			v.unanswered = append(v.unanswered, fmt.Sprintf("%s %s sent %s: %v", c.kind, c.model, c.sent.Format("15:04:05.000"), c.err))
		case c.code >= 500:
			v.n5xx++
			if c.code == http.StatusServiceUnavailable {
				v.n503++
			} else {
				v.unexpected5xx = append(v.unexpected5xx, fmt.Sprintf("%s %s sent %s: %d", c.kind, c.model, c.sent.Format("15:04:05.000"), c.code))
			}
		}
	}

	for k, cs := range byGen {
		if len(cs) > 1 {
			var jobs []string
			for _, c := range cs {
				jobs = append(jobs, c.jobID)
			}
			v.violations = append(v.violations, fmt.Sprintf("generation %d of %s handed out %d times (jobs %s)", k.gen, k.model, len(cs), strings.Join(jobs, ", ")))
		}
	}
	for _, f := range fits {
		want := "succeeded"
		if f.fit == fitFailing {
			want = "failed"
		}
		switch {
		case f.final != want:
			v.lost = append(v.lost, fmt.Sprintf("%s fit %s gen %d (job %s) ended %q, want %q", f.fit, f.model, f.gen, f.jobID, orNever(f.final), want))
		case want == "failed" && (f.finalCode < 400 || f.finalCode >= 500):
			v.lost = append(v.lost, fmt.Sprintf("failing fit %s gen %d (job %s) failed with %d, want a 4xx from the engine", f.model, f.gen, f.jobID, f.finalCode))
		case want == "succeeded" && f.finalGen != f.gen:
			v.violations = append(v.violations, fmt.Sprintf("fit %s accepted as generation %d succeeded as %d (job %s)", f.model, f.gen, f.finalGen, f.jobID))
		}
		if f.final == "succeeded" && f.fit == fitSlow {
			v.fitDurations = append(v.fitDurations, f.fitMS)
		}
		if f.fit == fitVictim && f.final == "succeeded" {
			v.victimRefitMS = f.fitMS
		}
	}

	// The hold rule: a forecast waits for every fit accepted before it was sent, and is never
	// computed with the model of a fit that did not succeed.
	for _, fc := range forecasts {
		if fc.code != http.StatusOK {
			continue
		}
		for _, f := range byGen[key{fc.model, fc.fgen}] {
			if f.final == "failed" || f.final == "expired" {
				v.violations = append(v.violations, fmt.Sprintf("forecast %s sent %s answered with generation %d, whose fit %s", fc.model, fc.sent.Format("15:04:05.000"), fc.fgen, f.final))
			}
		}
		for _, f := range fits {
			if f.model == fc.model && f.done.Before(fc.sent) && f.final == "succeeded" && f.gen > fc.fgen {
				v.violations = append(v.violations, fmt.Sprintf("forecast %s sent %s answered with generation %d, though fit %d (accepted %s) succeeded",
					fc.model, fc.sent.Format("15:04:05.000"), fc.fgen, f.gen, f.done.Format("15:04:05.000")))
			}
		}
	}

	for _, ft := range faults {
		first := time.Duration(-1)
		for _, fc := range forecasts {
			if d := fc.done.Sub(ft.at); !fc.sent.Before(ft.at) && fc.code >= 200 && fc.code < 300 && (first < 0 || d < first) {
				first = d
			}
		}
		if first < 0 {
			v.recoveries = append(v.recoveries, "none")
		} else {
			v.recoveries = append(v.recoveries, round(first).String())
		}
	}
	for _, fc := range forecasts {
		if fc.held {
			v.heldTotal++
			if fc.code != 0 {
				v.heldAnswered++
				v.heldLongest = max(v.heldLongest, fc.done.Sub(v.faultAt))
			}
		}
	}
	return v
}

func orNever(s string) string {
	if s == "" {
		return "never ended"
	}
	return s
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// check fails t for every loss, violation, unanswered call and unexpected 5xx, and prints the
// case's row of the table.
func (v verdict) check(t *testing.T, name string) {
	t.Helper()
	report(t, name, v)
	fail := func(what string, items []string) {
		if len(items) == 0 {
			return
		}
		shown := items[:min(len(items), 10)]
		t.Errorf("%d %s:\n  %s", len(items), what, strings.Join(shown, "\n  "))
	}
	fail("accepted fits lost", v.lost)
	fail("hold-rule violations", v.violations)
	fail("requests unanswered past their timeout", v.unanswered)
	fail("5xx other than 503", v.unexpected5xx)
	if v.heldTotal > 0 && v.heldAnswered < v.heldTotal {
		t.Errorf("%d of %d forecasts held behind the killed fit were not answered", v.heldTotal-v.heldAnswered, v.heldTotal)
	}
}

const tableHeader = "| case | load | accepted fits lost | hold-rule violations | unanswered past timeout | 5xx (503) | longest wait | recovery |\n" +
	"|---|---|---|---|---|---|---|---|\n"

// report logs the case's table row and appends it to $FORECASTD_FAULTS_REPORT, if set.
func report(t *testing.T, name string, v verdict) {
	t.Helper()
	row := fmt.Sprintf("| %s | %d fits (%d accepted) / %d forecasts, %d models, %s | %d | %d | %d | %d (%d) | %s | %s |\n",
		name, v.fitsSent, v.fitsAccepted, v.forecastsSent, v.models, v.duration.Round(time.Second),
		len(v.lost), len(v.violations), len(v.unanswered), v.n5xx, v.n503, round(v.longest), strings.Join(v.recoveries, ", "))
	t.Logf("\n%s%s", tableHeader, row)
	if len(v.fitDurations) > 0 {
		d := slices.Clone(v.fitDurations)
		slices.Sort(d)
		t.Logf("slow fits (auto, 240 points): median %.0f ms, max %.0f ms over %d", d[len(d)/2], d[len(d)-1], len(d))
	}
	if v.heldTotal > 0 {
		t.Logf("forecasts held behind the killed fit: %d of %d answered, the last %s after the crash; the refit itself took %.1f s",
			v.heldAnswered, v.heldTotal, round(v.heldLongest), v.victimRefitMS/1000)
	}
	for _, e := range v.extra {
		t.Log(e)
	}
	path := os.Getenv("FORECASTD_FAULTS_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		_, _ = f.WriteString(tableHeader)
	}
	if _, err := f.WriteString(row); err != nil {
		t.Errorf("report: %v", err)
	}
}
