// Command accuracy runs the engine's auto method, and ETS, ARIMA and Theta for reference, on
// the benchmark of forecast/testdata/accuracy and prints the table of docs/accuracy.md next to
// R's ets(), auto.arima() and thetaf(). Run it as `make accuracy`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/forecastd/forecastd/forecast/accuracy"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("accuracy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("benchmark", "forecast/testdata/accuracy/benchmark.json", "benchmark file written by make_benchmark.R")
	verbose := fs.Bool("v", false, "print each series' scores and what auto fitted")
	skip := fs.String("skip", "", "comma-separated names of series to leave out (the validation set is scored without AER::ArgentinaCPI)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b, err := accuracy.Load(*path)
	if err != nil {
		return err
	}
	if b.Series = without(b.Series, *skip); len(b.Series) == 0 {
		return fmt.Errorf("%s: -skip leaves no series", *path)
	}
	var perSeries io.Writer
	if *verbose {
		perSeries = stderr
	}
	start := time.Now()
	rep, err := accuracy.Run(ctx, b, accuracy.Methods, perSeries)
	if err != nil {
		return err
	}
	source := *path
	if b.ForecastVersion != "" {
		source = fmt.Sprintf("%s, forecast %s", b.RVersion, b.ForecastVersion)
	}
	fmt.Fprintf(stdout, "%d series (%s), %s, %s\n\n", len(b.Series), source,
		time.Now().UTC().Format("2006-01-02"), time.Since(start).Round(time.Millisecond))
	return rep.Markdown(stdout)
}

// without returns series without those named in the comma-separated list names.
func without(series []accuracy.Series, names string) []accuracy.Series {
	if names == "" {
		return series
	}
	drop := strings.Split(names, ",")
	return slices.DeleteFunc(series, func(s accuracy.Series) bool { return slices.Contains(drop, s.Name) })
}
