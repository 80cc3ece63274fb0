package main

import (
	"net/http"
	"net/http/pprof"
)

// pprofHandler serves net/http/pprof's profiles under /debug/pprof/ (forecastd --pprof). It is
// built on its own mux, so importing net/http/pprof registers nothing we serve by accident.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
