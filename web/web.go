// Package web is the browser dashboard: plain HTML, CSS and JavaScript modules embedded in the
// binary and served by the gateway at / (models) and /static/ (batch.html: batches). There is no
// build step.
package web

import (
	"embed"
	"io"
	"net/http"
	"strings"
	"time"
)

//go:embed index.html static
var files embed.FS

// Handler serves the dashboard's files: index.html at /, the others at their paths
// (/static/app.js). A path that names no file, a directory included, is answered by notFound,
// so nothing is ever listed. Embedded files carry no modification time, so browsers are told
// to revalidate: a new binary's dashboard is picked up on the next load.
func Handler(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "index.html"
		}
		f, err := files.Open(name)
		if err != nil {
			notFound.ServeHTTP(w, r)
			return
		}
		defer f.Close()
		// An embedded file seeks (ServeContent reads it in place, no copy); a directory does not.
		content, ok := f.(io.ReadSeeker)
		if st, err := f.Stat(); err != nil || st.IsDir() || !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, name, time.Time{}, content)
	})
}
