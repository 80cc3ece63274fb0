package messages

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Regular is a series put on its regular step by FillGaps: one value per step, NaN where the
// observation is missing (null in the input, or its time absent from the timestamps).
type Regular struct {
	Values Values
	Times  []time.Time
	Axis   *TimeAxis
	// Gaps counts the steps that were absent from the timestamps, now NaN in Values.
	Gaps int
}

// FillGaps puts the observations values, made at times ts, on their series' regular step, the
// step NewTimeAxis reads (calendar months, wall-clock time or a fixed duration): a step
// missing from ts becomes a missing value, which the engine fills in as R's na.interp does
// before fitting. ts must increase strictly and every gap between two times must be a whole
// number of the step; otherwise the error, written for the client, names the first time that
// breaks the rule. values and ts are not modified.
func FillGaps(ts []time.Time, values Values) (Regular, error) {
	switch {
	case len(ts) != len(values):
		return Regular{}, fmt.Errorf("has %d entries but values has %d; give one timestamp per observation", len(ts), len(values))
	case len(ts) < 2:
		return Regular{}, fmt.Errorf("needs at least 2 entries to infer the step")
	}
	for i := 1; i < len(ts); i++ {
		switch ts[i].Compare(ts[i-1]) {
		case 0:
			return Regular{}, fmt.Errorf("entry %d repeats the time of entry %d (%s); give each time once", i, i-1, ts[i].Format(time.RFC3339Nano))
		case -1:
			return Regular{}, fmt.Errorf("must increase: entry %d (%s) is before entry %d (%s); sort the observations by time",
				i, ts[i].Format(time.RFC3339Nano), i-1, ts[i-1].Format(time.RFC3339Nano))
		}
	}
	if a := regularAxis(ts); a != nil {
		return Regular{Values: values, Times: ts, Axis: a}, nil
	}
	rules := []stepRule{monthlyRule(ts), durationRule(ts, time.Time.UTC, "")}
	if civil := durationRule(ts, wallClock, "wall-clock"); civil.axis.Step%day == 0 {
		// Days keep their clock time across a change of UTC offset; hours are a fixed duration,
		// so the hour a daylight saving night skips is no missing step.
		rules = slices.Insert(rules, 1, civil)
	}
	best, bestOff, bestFirst := -1, len(ts), 0
	for k, r := range rules {
		if r.span == nil {
			continue
		}
		off, first, steps, widest := 0, 0, 1, 1
		for i := 1; i < len(ts); i++ {
			n := r.span(ts[i-1], ts[i])
			if n == 0 {
				if off == 0 {
					first = i
				}
				off++
				continue
			}
			if n > r.span(ts[widest-1], ts[widest]) {
				widest = i
			}
			steps = min(steps+min(n, MaxValues), MaxValues+1) // bounded, so that it cannot overflow
		}
		if off == 0 {
			switch gaps := steps - len(ts); {
			case steps > MaxValues:
				return Regular{}, fmt.Errorf("span %s to %s, more than %d steps of %s; at most %d observations are accepted",
					ts[0].Format(time.RFC3339Nano), ts[len(ts)-1].Format(time.RFC3339Nano), MaxValues, r.step, MaxValues)
			case gaps > len(ts):
				// More missing than observed is a step that changes, not a few missing values.
				i := widest
				return Regular{}, fmt.Errorf("leave out %d steps of %s, more than the %d observations given (entry %d (%s) is %s after entry %d); the step seems to change: give times on one regular step",
					gaps, r.step, len(ts), i, ts[i].Format(time.RFC3339Nano), describeGap(ts[i-1], ts[i]), i-1)
			}
			return fill(ts, values, r, steps), nil
		}
		if off < bestOff {
			best, bestOff, bestFirst = k, off, first
		}
	}
	if best < 0 {
		_, err := NewTimeAxis(ts) // no rule applies at all: say what the times look like
		return Regular{}, err
	}
	i := bestFirst
	return Regular{}, fmt.Errorf("entry %d (%s) is %s after entry %d (%s), which is not a whole number of the series' step, %s; give times on one regular step (a missing step may be left out)",
		i, ts[i].Format(time.RFC3339Nano), describeGap(ts[i-1], ts[i]), i-1, ts[i-1].Format(time.RFC3339Nano), rules[best].step)
}

// fill lays values out on rule r's grid of steps entries, NaN at the steps ts leaves out.
func fill(ts []time.Time, values Values, r stepRule, steps int) Regular {
	out := Regular{Values: make(Values, 0, steps), Times: make([]time.Time, 0, steps), Axis: r.axis}
	out.Axis.Last = ts[len(ts)-1]
	for i := range ts {
		if i > 0 {
			if n := r.span(ts[i-1], ts[i]); n > 1 {
				// The missing times are the axis' next steps from the time before them.
				from := *r.axis
				from.Last = ts[i-1]
				out.Times = append(out.Times, from.Next(n-1)...)
				for range n - 1 {
					out.Values = append(out.Values, math.NaN())
				}
				out.Gaps += n - 1
			}
		}
		out.Times = append(out.Times, ts[i])
		out.Values = append(out.Values, values[i])
	}
	return out
}
