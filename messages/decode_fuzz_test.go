package messages

import (
	"strings"
	"testing"
)

// Any body decodes to a request or to an invalid Failure naming fields, with problems written
// for clients (no Go error text), and checking it as far as it decoded (AlsoInvalid) does not
// panic either.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"values":[1,2,null,3],"season_length":2,"method":"ets","options":{"spec":"ANN"}}`,
		`{"values":"x","season_length":0,"method":"bad","foo":1}`,
		`{"values":[1,"7"],"options":{"order":[2,null,1]},"timestamps":["2024-01-01T00:00:00Z",5]}`,
		`{"horizon":3,"levels":[80,null,95]}`,
		`{"horizon":0,"series":[{"name":"a","values":"x"},{"name":"b","values":[1,2],"timestamps":[1]}],"methods":[null]}`,
		`{"values":[1,2],"horizon":1,"windows":2,"methods":["naive","naive"]}`,
		`{"Values":[1],"VALUES":[2]}`, `[1,2]`, `null`, `{"values":[1,NaN]}`, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []func() Validator{
			func() Validator { return &FitRequest{} }, func() Validator { return &ForecastRequest{} },
			func() Validator { return &BacktestRequest{} }, func() Validator { return &BatchRequest{} },
		} {
			req := v()
			err := DecodeJSONBytes(b, req)
			if err == nil {
				continue
			}
			for _, e := range []error{err, AlsoInvalid(b, err, v())} {
				f, ok := e.(*Failure)
				if !ok || f.Code != CodeInvalid || len(f.Problems) == 0 {
					t.Fatalf("%q: %v; want an invalid Failure naming fields", b, e)
				}
				for field, problem := range f.Problems {
					if field == "" || problem == "" || strings.Contains(problem, "json:") {
						t.Fatalf("%q: problem %q: %q", b, field, problem)
					}
				}
			}
		}
	})
}
