package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/forecastd/forecastd/web"
)

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// The page and every asset it references are served with their content types, and nothing is
// loaded from elsewhere (the dashboard must work without internet).
func TestDashboardAssets(t *testing.T) {
	srv := httptest.NewServer(web.Handler(http.NotFoundHandler()))
	defer srv.Close()

	resp, page := get(t, srv, "/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	seen := reachable(t, srv, page)
	for _, f := range []string{"/static/app.js", "/static/live.js", "/static/chart.js", "/static/app.css"} {
		if !seen[f] {
			t.Errorf("%s is not reachable from the page", f)
		}
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("the page loads something from another host")
	}
}

// reachable fetches every static asset page references, and the modules they import, checking
// each one's status and content type; it returns the paths it reached.
func reachable(t *testing.T, srv *httptest.Server, page string) map[string]bool {
	t.Helper()
	assets := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(assets) < 2 {
		t.Fatalf("the page references %d static assets, want the stylesheet and the script", len(assets))
	}
	imports := regexp.MustCompile(`from "\./([^"]+)"`)
	seen := map[string]bool{}
	for len(assets) > 0 {
		path := assets[0][1]
		assets = assets[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		resp, body := get(t, srv, path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, resp.StatusCode)
			continue
		}
		want := map[string]string{".css": "text/css", ".js": "text/javascript"}[path[strings.LastIndex(path, "."):]]
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, ct, want)
		}
		for _, m := range imports.FindAllStringSubmatch(body, -1) { // follow module imports
			assets = append(assets, []string{"", "/static/" + m[1]})
		}
	}
	return seen
}
