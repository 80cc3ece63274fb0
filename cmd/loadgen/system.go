package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"
)

// systemCmd runs the benchmarks in one go against a running gateway (with processors)
// and the same RabbitMQ, alternating the service with the raw AMQP reference so that both see the
// same machine load, and prints the table with the ratios against the goals.
func systemCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("system", flag.ContinueOnError)
	var rc rtConfig
	var ac amqpConfig
	rawURL := parseRoundTrip(fs, &rc)
	parseAMQP(fs, &ac)
	many := fs.Int("many", 64, "callers of the concurrent runs")
	burstN := fs.Int("burst", 1000, "forecasts of the held burst (0 skips it)")
	fitN := fs.Int("fit-n", 3000, "observations of the held burst's slow fit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := loopbackURL(*rawURL)
	if err != nil {
		return err
	}
	rc.base = u
	ac.duration = rc.duration
	run := func(callers int) (svc, raw stats, err error) {
		ac.callers, rc.callers = callers, callers
		if raw, err = rawRequestReply(ctx, ac); err != nil {
			return svc, raw, fmt.Errorf("raw amqp: %w", err)
		}
		fmt.Fprintln(out, raw)
		if svc, err = roundTrips(ctx, rc); err != nil {
			return svc, raw, fmt.Errorf("forecast round trips: %w", err)
		}
		fmt.Fprintln(out, svc)
		return svc, raw, nil
	}
	svcN, rawN, err := run(*many)
	if err != nil {
		return err
	}
	svc1, raw1, err := run(1)
	if err != nil {
		return err
	}
	var burst burstResult
	if *burstN > 0 {
		if burst, err = heldBurst(ctx, burstConfig{base: u, n: *burstN, fitN: *fitN, model: "loadgen-burst"}); err != nil {
			return fmt.Errorf("held burst: %w", err)
		}
		fmt.Fprintln(out, burst)
	}

	fmt.Fprintf(out, "\n%s, %s per run\n\n", time.Now().Format("2006-01-02 15:04"), rc.duration)
	fmt.Fprintln(out, "| what | forecastd | raw AMQP | ratio | goal |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	fmt.Fprintf(out, "| round trips, %d callers | %.0f/s, p50 %s, p99 %s | %.0f/s, p50 %s, p99 %s | %.2f | ≥ 0.5 %s |\n",
		*many, svcN.rate(), us(pct0(svcN.lat, 50)), us(pct0(svcN.lat, 99)), rawN.rate(), us(pct0(rawN.lat, 50)), us(pct0(rawN.lat, 99)),
		svcN.rate()/rawN.rate(), verdict(svcN.rate() >= 0.5*rawN.rate()))
	p50s, p50r := pct0(svc1.lat, 50), pct0(raw1.lat, 50)
	fmt.Fprintf(out, "| one caller | %.0f/s, p50 %s | %.0f/s, p50 %s | %.2f (p50) | ≤ 2 %s |\n",
		svc1.rate(), us(p50s), raw1.rate(), us(p50r), float64(p50s)/float64(max(p50r, 1)), verdict(p50s <= 2*p50r))
	if *burstN > 0 && len(burst.afterReady) > 0 {
		worst := slices.Max(burst.afterReady)
		fmt.Fprintf(out, "| %d forecasts held behind one fit | %d held, %d on the new generation; after model_ready p50 %s, all %s | — | — | all ≤ 300ms %s |\n",
			burst.n, burst.held, burst.newGen, us(pct(burst.afterReady, 50)), us(worst),
			verdict(worst <= 300_000 && burst.answered == burst.n))
	}
	if svcN.errs+svc1.errs+rawN.errs+raw1.errs+burst.errs > 0 {
		return fmt.Errorf("some requests failed (see above)")
	}
	return nil
}

func pct0(xs []int64, p float64) int64 {
	if len(xs) == 0 {
		return 0
	}
	return pct(xs, p)
}

func verdict(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
