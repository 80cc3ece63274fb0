package messages

import (
	"encoding/json"
	"testing"
)

// BenchmarkForecastResultMarshal encodes a forecast's result as a processor does for each one:
// 12 steps, 80 and 95% intervals.
func BenchmarkForecastResultMarshal(b *testing.B) {
	r := ForecastResult{Model: "loadgen-rt-3", Generation: 4, JobID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", Method: "ets", Horizon: 12, HeldMS: 0.012}
	for i := 0; i < 12; i++ {
		r.Point = append(r.Point, 123.456789012+float64(i)*1.1)
	}
	r.Intervals = map[string]Interval{}
	for _, l := range []string{"80", "95"} {
		var iv Interval
		for i := 0; i < 12; i++ {
			iv.Lower = append(iv.Lower, 100.123456789+float64(i))
			iv.Upper = append(iv.Upper, 140.987654321+float64(i))
		}
		r.Intervals[l] = iv
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = json.Marshal(r)
	}
}
