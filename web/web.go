// Package web is the browser dashboard: static files embedded in the binary and served by the
// gateway at / and /static/.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed index.html static
var files embed.FS

// Handler serves the dashboard.
func Handler() http.Handler {
	sub, err := fs.Sub(files, ".")
	if err != nil {
		// fs.Sub of "." on an embed.FS cannot fail.
		return http.NotFoundHandler()
	}
	return http.FileServerFS(sub)
}
