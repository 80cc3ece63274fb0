package messages

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigFitBody is a fit body of MaxValues values with timestamps, pretty-printed (indented) to
// just under MaxBodyBytes: the largest body the gateway decodes.
func bigFitBody(tb testing.TB) []byte {
	tb.Helper()
	const indent = "\n        "
	var b bytes.Buffer
	b.WriteString(`{"method": "auto", "season_length": 7, "values": [`)
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
	for i := range MaxValues {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(indent)
		if i%97 == 0 {
			b.WriteString("null")
			continue
		}
		b.WriteString(strconv.FormatFloat(1234.5678901234567+float64(i)/7, 'g', -1, 64))
	}
	b.WriteString(`], "timestamps": [`)
	for i := range MaxValues {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(indent)
		b.WriteString(`"` + t0.Add(time.Duration(i)*time.Hour).Format(time.RFC3339Nano) + `"`)
	}
	b.WriteString("]}")
	if pad := MaxBodyBytes - 1024 - b.Len(); pad > 0 {
		b.WriteString(strings.Repeat(" ", pad))
	}
	if b.Len() > MaxBodyBytes {
		tb.Fatalf("body of %d bytes exceeds the limit", b.Len())
	}
	return b.Bytes()
}

func BenchmarkDecodeFitBody8MiB(b *testing.B) {
	body := bigFitBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req FitRequest
		if err := DecodeJSON(bytes.NewReader(body), &req); err != nil {
			b.Fatal(err)
		}
		if len(req.Values) != MaxValues {
			b.Fatalf("decoded %d values", len(req.Values))
		}
	}
}

// The pass for duplicate keys and null elements alone, the part of DecodeJSON it adds.
func BenchmarkBodyProblemScan8MiB(b *testing.B) {
	body := bigFitBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if field, _, found := bodyProblem(body, reflect.TypeFor[FitRequest]()); found {
			b.Fatalf("problem at %q", field)
		}
	}
}
