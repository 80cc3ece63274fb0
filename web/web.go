// Package web is the browser dashboard: plain HTML, CSS and JavaScript modules embedded in the
// binary and served by the gateway at / (models) and /static/ (batch.html: batches). There is no
// build step.
package web

import (
	"embed"
	"net/http"
)

//go:embed index.html static
var files embed.FS

// Handler serves the dashboard. Embedded files carry no modification time, so browsers are
// told to revalidate: a new binary's dashboard is picked up on the next load.
func Handler() http.Handler {
	fs := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fs.ServeHTTP(w, r)
	})
}
