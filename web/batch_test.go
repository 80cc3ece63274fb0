package web_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/web"
)

// The batch page is served with its script, which reaches the chart and the token helpers, and
// the dashboard links to it.
func TestBatchPageAssets(t *testing.T) {
	srv := httptest.NewServer(web.Handler(http.NotFoundHandler()))
	defer srv.Close()

	resp, page := get(t, srv, "/static/batch.html")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /static/batch.html: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	seen := reachable(t, srv, page)
	for _, f := range []string{"/static/batch.js", "/static/batch.css", "/static/chart.js", "/static/live.js"} {
		if !seen[f] {
			t.Errorf("%s is not reachable from the batch page", f)
		}
	}
	if _, index := get(t, srv, "/"); !strings.Contains(index, `href="/static/batch.html"`) {
		t.Error("the dashboard does not link to the batch page")
	}
}

// Every element the batch script looks up by id is on the page: a renamed id would leave a
// control dead.
func TestBatchPageIDs(t *testing.T) {
	srv := httptest.NewServer(web.Handler(http.NotFoundHandler()))
	defer srv.Close()
	_, page := get(t, srv, "/static/batch.html")
	_, script := get(t, srv, "/static/batch.js")
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		ids[m[1]] = true
	}
	used := regexp.MustCompile(`\$\("([^"]+)"\)`).FindAllStringSubmatch(script, -1)
	if len(used) < 10 {
		t.Fatalf("found %d element lookups in batch.js, want the page's controls", len(used))
	}
	for _, m := range used {
		if !ids[m[1]] {
			t.Errorf("batch.js looks up #%s, which batch.html lacks", m[1])
		}
	}
	// The form's fields, whose ids batch.js builds from FIELDS, have an error element each.
	for _, f := range regexp.MustCompile(`: "(up-[a-z]+)"`).FindAllStringSubmatch(script, -1) {
		if !ids[f[1]] || !ids[f[1]+"-err"] {
			t.Errorf("field #%s or its #%s-err is missing from batch.html", f[1], f[1])
		}
	}
}

// The upload form offers the engine's methods, each once, both to forecast with and to compare
// in a backtest: a method added to the engine and not to the page would be out of reach.
func TestBatchPageMethods(t *testing.T) {
	srv := httptest.NewServer(web.Handler(http.NotFoundHandler()))
	defer srv.Close()
	_, page := get(t, srv, "/static/batch.html")
	sel := regexp.MustCompile(`(?s)<select id="up-method".*?</select>`).FindString(page)
	var options []string
	for _, m := range regexp.MustCompile(`<option value="([^"]*)"`).FindAllStringSubmatch(sel, -1) {
		options = append(options, m[1])
	}
	if want := append([]string{""}, forecast.Methods...); !slices.Equal(options, want) {
		t.Errorf("#up-method offers %q, want the default and then %q", options, forecast.Methods)
	}
	var boxes []string
	for _, m := range regexp.MustCompile(`<input type="checkbox" name="methods" value="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		boxes = append(boxes, m[1])
	}
	if !slices.Equal(boxes, forecast.Methods) {
		t.Errorf("the backtest's methods are %q, want %q", boxes, forecast.Methods)
	}
}
