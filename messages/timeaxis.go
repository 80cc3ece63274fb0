package messages

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"
)

// TimeAxis describes the observation times of a series with a regular step, so forecasts can
// be given timestamps. Calendar steps (monthly, quarterly, yearly data) are kept as months,
// since months differ in length.
type TimeAxis struct {
	Last   time.Time     `json:"last"`
	Step   time.Duration `json:"step_ns,omitempty"`
	Months int           `json:"step_months,omitempty"`
	// Day is the day of the month of a monthly axis when it is past the 28th, which not every
	// month has: such months get their last day instead. 31 means month ends.
	Day int `json:"day,omitempty"`
}

// NewTimeAxis derives the axis of observation times ts (strictly increasing, at least two),
// judged by the calendar, or reports the first gap that breaks the series' step. A step is
//   - a whole number of calendar months, on the same day of the month — or on month ends, or
//     on a day past the 28th that shorter months replace with their last — and clock time;
//   - else a fixed step of wall-clock time (daily data keeps its clock time across a change
//     of UTC offset, such as a daylight saving day, although that day is 23 or 25 hours long);
//   - else a fixed duration (hourly data across such a change).
//
// A missing observation is a null value with its own timestamp, not a gap in the times.
func NewTimeAxis(ts []time.Time) (*TimeAxis, error) {
	if len(ts) < 2 {
		return nil, fmt.Errorf("needs at least 2 entries to infer the step")
	}
	if a := regularAxis(ts); a != nil {
		return a, nil
	}
	// Irregular: find the reading most of the series follows, to name the gap that breaks it.
	monthly, civil := monthlyRule(ts), durationRule(ts, wallClock, "wall-clock")
	rules := []stepRule{monthly, civil, durationRule(ts, time.Time.UTC, "")}
	best := rules[0]
	for _, r := range rules {
		if r.bad == 0 {
			return r.axis, nil
		}
		if r.bad < best.bad {
			best = r
		}
	}
	if k := monthly.months; k > 0 && civil.axis.Step >= time.Duration(28*k)*day && civil.axis.Step <= time.Duration(31*k)*day {
		best = monthly // steps of about k months: judge them as months, however many are off
	}
	i := best.first
	return nil, fmt.Errorf("entry %d (%s) is %s after entry %d (%s), but the series steps by %s; give every step its timestamp, with null in values where the observation is missing",
		i, ts[i].Format(time.RFC3339Nano), describeGap(ts[i-1], ts[i]), i-1, ts[i-1].Format(time.RFC3339Nano), best.step)
}

// regularAxis is the axis of ts when it follows one of the steps exactly, found without the
// counting needed to report a gap (a long regular series is the common case); nil otherwise.
func regularAxis(ts []time.Time) *TimeAxis {
	a, b := ts[0], ts[1]
	if clock(a) == clock(b) && wallClock(b).Sub(wallClock(a)) >= 28*day {
		if r := monthlyRule(ts); r.bad == 0 {
			return r.axis
		}
	}
	for _, as := range []func(time.Time) time.Time{wallClock, time.Time.UTC} {
		step, i := as(b).Sub(as(a)), 2
		for i < len(ts) && as(ts[i]).Sub(as(ts[i-1])) == step {
			i++
		}
		if i == len(ts) {
			return &TimeAxis{Last: ts[len(ts)-1], Step: step}
		}
	}
	return nil
}

// stepRule is one way of reading a series' step: the axis it gives, the step in words, how
// many gaps break it and the index of the entry after the first of them.
type stepRule struct {
	axis   *TimeAxis
	step   string
	bad    int
	first  int
	months int // of a monthly rule
	// span is how many of the rule's steps b is after a: 0 when b is off its grid.
	span func(a, b time.Time) int
}

const day = 24 * time.Hour

// monthlyRule reads ts as k calendar months apart, k the most common month count between
// entries on the same day rule and clock time.
func monthlyRule(ts []time.Time) stepRule {
	allEnds, maxDay, days := true, 0, map[int]int{}
	for _, t := range ts {
		allEnds = allEnds && t.Day() == daysIn(t.Year(), t.Month())
		maxDay = max(maxDay, t.Day())
		days[t.Day()]++
	}
	day := maxDay
	switch {
	case allEnds:
		day = 31
	case maxDay <= 28:
		day = mode(days) // every month has it: one entry off that day does not move the rule
	}
	onDay := func(t time.Time) bool { return t.Day() == min(day, daysIn(t.Year(), t.Month())) }
	months := func(a, b time.Time) int {
		if !onDay(a) || !onDay(b) || clock(a) != clock(b) {
			return 0
		}
		return (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
	}
	count := map[int]int{}
	for i := 1; i < len(ts); i++ {
		if m := months(ts[i-1], ts[i]); m > 0 {
			count[m]++
		}
	}
	k := mode(count)
	r := stepRule{step: plural(k, "month"), first: -1, months: k}
	if k == 0 {
		return stepRule{bad: len(ts), first: 1}
	}
	r.span = func(a, b time.Time) int {
		if m := months(a, b); m > 0 && m%k == 0 {
			return m / k
		}
		return 0
	}
	for i := 1; i < len(ts); i++ {
		if months(ts[i-1], ts[i]) != k {
			r.bad++
			if r.first < 0 {
				r.first = i
			}
		}
	}
	r.axis = &TimeAxis{Last: ts[len(ts)-1], Months: k}
	switch {
	case day == 31:
		r.axis.Day = 31
		r.step += " (on month ends)"
	case day > 28:
		r.axis.Day = day
		r.step += fmt.Sprintf(" (on day %d, or the last day of shorter months)", day)
	}
	return r
}

// durationRule reads ts as a fixed step of the times as as gives them, the most common one.
func durationRule(ts []time.Time, as func(time.Time) time.Time, kind string) stepRule {
	step := commonStep(ts, as)
	r := stepRule{axis: &TimeAxis{Last: ts[len(ts)-1], Step: step}, step: describeDuration(step), first: -1}
	r.span = func(a, b time.Time) int {
		if step <= 0 {
			return 0
		}
		d := as(b).Sub(as(a))
		if d == math.MaxInt64 {
			// Sub saturates beyond about 292 years: count the steps exactly.
			return stepsBetween(as(a), as(b), step)
		}
		if d > 0 && d%step == 0 {
			return int(d / step)
		}
		return 0
	}
	if kind != "" && step%day != 0 {
		r.step += " of " + kind + " time"
	}
	for i := 1; i < len(ts); i++ {
		if as(ts[i]).Sub(as(ts[i-1])) != step {
			r.bad++
			if r.first < 0 {
				r.first = i
			}
		}
	}
	return r
}

// commonStep is the most common gap between consecutive times of ts as as gives them. Among
// equally common gaps, a few of them, the one that divides the most gaps wins (a step with
// missing ones: 1 day over 2 days), then the one seen first: in a short series each gap may
// be seen once, and the smallest is no likelier the step than the others. Many equally common
// gaps are no regular step at all; the smallest is taken, as good as any.
func commonStep(ts []time.Time, as func(time.Time) time.Time) time.Duration {
	gaps := make([]time.Duration, 0, len(ts)-1)
	count := map[time.Duration]int{}
	for i := 1; i < len(ts); i++ {
		d := as(ts[i]).Sub(as(ts[i-1]))
		gaps = append(gaps, d)
		count[d]++
	}
	step := mode(count)
	var tied []time.Duration
	for _, d := range gaps {
		if count[d] == count[step] && !slices.Contains(tied, d) {
			if len(tied) == maxTiedSteps {
				return step // no regular step: the smallest is as good as any
			}
			tied = append(tied, d) // in the order first seen
		}
	}
	if len(tied) < 2 {
		return step
	}
	best, bestDivides := step, -1
	for _, k := range tied {
		divides := 0
		for _, d := range gaps {
			if k > 0 && d > 0 && d%k == 0 {
				divides++
			}
		}
		if divides > bestDivides {
			best, bestDivides = k, divides
		}
	}
	return best
}

// maxTiedSteps bounds the equally common gaps commonStep weighs against each other.
const maxTiedSteps = 8

// stepsBetween is how many steps of step lie from a to b, or 0 when that is not a whole number
// (or b is not after a), for gaps too long for a time.Duration.
func stepsBetween(a, b time.Time, step time.Duration) int {
	ns := new(big.Int).Mul(big.NewInt(b.Unix()-a.Unix()), big.NewInt(int64(time.Second)))
	ns.Add(ns, big.NewInt(int64(b.Nanosecond()-a.Nanosecond())))
	q, rem := new(big.Int).QuoRem(ns, big.NewInt(int64(step)), new(big.Int))
	switch {
	case ns.Sign() <= 0 || rem.Sign() != 0:
		return 0
	case !q.IsInt64() || q.Int64() > MaxValues:
		return MaxValues + 1 // more than any series may have: the caller says so
	}
	return int(q.Int64())
}

// mode is the most common key of count, the smallest of equally common ones; the zero value
// when count is empty.
func mode[K int | time.Duration](count map[K]int) K {
	var best K
	n := 0
	for k, c := range count {
		if c > n || c == n && k < best {
			best, n = k, c
		}
	}
	return best
}

// wallClock is t's date and clock time as if in UTC, so that steps compare by the calendar.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func clock(t time.Time) time.Duration { return wallClock(t).Sub(wallClock(t).Truncate(24 * time.Hour)) }

func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func describeGap(a, b time.Time) string {
	monthEnd := func(t time.Time) bool { return t.Day() == daysIn(t.Year(), t.Month()) }
	if clock(a) == clock(b) && (a.Day() == b.Day() || monthEnd(a) && monthEnd(b)) {
		return plural((b.Year()-a.Year())*12+int(b.Month())-int(a.Month()), "month")
	}
	if d := wallClock(b).Sub(wallClock(a)); d < math.MaxInt64 {
		return describeDuration(d)
	}
	// Beyond what a time.Duration holds (about 292 years): Sub saturates, so count in seconds.
	secs := wallClock(b).Unix() - wallClock(a).Unix()
	days := plural(int(secs/86400), "day")
	if rest := time.Duration(secs%86400) * time.Second; rest > 0 {
		return days + " " + rest.String()
	}
	return days
}

func describeDuration(d time.Duration) string {
	if d > 0 && d%day == 0 {
		return plural(int(d/day), "day")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// Next returns the h times after Last, in Last's UTC offset.
func (a *TimeAxis) Next(h int) []time.Time {
	out := make([]time.Time, h)
	for i := range out {
		out[i] = a.At(i + 1)
	}
	return out
}

// At returns the time h ≥ 1 steps after Last, in Last's UTC offset, as Next gives it.
func (a *TimeAxis) At(h int) time.Time {
	_, offset := a.Last.Zone()
	last := a.Last.In(time.FixedZone("", offset))
	if a.Months == 0 {
		return last.Add(time.Duration(h) * a.Step)
	}
	first := time.Date(last.Year(), last.Month()+time.Month(a.Months*h), 1, last.Hour(), last.Minute(), last.Second(), last.Nanosecond(), last.Location())
	day := last.Day()
	if a.Day > 0 {
		day = a.Day
	}
	return first.AddDate(0, 0, min(day, daysIn(first.Year(), first.Month()))-1)
}

// MaxTimestampYear is the last year a timestamp can have: RFC 3339 writes four digits.
const MaxTimestampYear = 9999

// HorizonProblem is why the forecast times h steps after Last cannot be written (they pass
// year 9999), or "".
func (a *TimeAxis) HorizonProblem(h int) string {
	if a.Months == 0 && a.Step > 0 && int64(h) > math.MaxInt64/int64(a.Step) || a.At(h).Year() > MaxTimestampYear {
		return fmt.Sprintf("the forecast %d steps after the last timestamp (%s) would fall after year %d, the last a timestamp can have",
			h, a.Last.Format(time.RFC3339), MaxTimestampYear)
	}
	return ""
}
