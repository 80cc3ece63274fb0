package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/forecastd/forecastd/forecast"
	"github.com/forecastd/forecastd/forecast/arima"
)

// Limits on client input. They are part of the public API and documented in the OpenAPI file.
const (
	MaxBodyBytes     = 8 << 20 // request bodies larger than this get 413
	MaxValues        = 100_000 // observations in one fit
	MaxAbsValue      = 1e100   // larger magnitudes are rejected: they overflow the likelihoods
	MaxSeasonLength  = 1_000
	MaxHorizon       = 10_000
	MaxLevels        = 10
	maxModelNameSize = 64
)

// DefaultLevels are the interval levels of a forecast that names none.
var DefaultLevels = []float64{80, 95}

var modelNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidModelName reports a problem with a model name, or "" when it is fine.
func ValidModelName(name string) string {
	if name == "" {
		return "is required"
	}
	if !modelNamePattern.MatchString(name) {
		return fmt.Sprintf("must match %s (letters, digits, '.', '_', '-'; at most %d characters, not starting with a punctuation mark)", modelNamePattern, maxModelNameSize)
	}
	return ""
}

// FitRequest is the body of POST /v1/models/{model}/fit.
type FitRequest struct {
	Values       Values           `json:"values"`
	SeasonLength *int             `json:"season_length,omitempty"`
	Method       string           `json:"method,omitempty"`
	Timestamps   Times            `json:"timestamps,omitempty"`
	Options      forecast.Options `json:"options,omitzero"`
	// horizon is how many forecast steps the timestamps must leave room for before year 9999
	// (1 when 0): a batch's horizon.
	horizon int
}

// ForecastRequest is the body of POST /v1/models/{model}/forecast.
type ForecastRequest struct {
	Horizon *int      `json:"horizon"`
	Levels  []float64 `json:"levels,omitempty"`
}

// Problems collects per-field problems of one request; empty means valid.
type Problems map[string]string

// Add records a problem for field unless one is already recorded.
func (p Problems) Add(field, format string, args ...any) {
	if _, ok := p[field]; !ok {
		p[field] = fmt.Sprintf(format, args...)
	}
}

// Err returns the problems as an invalid Failure, or nil when there are none.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return Fail(CodeInvalid, p)
}

// Invalid is an invalid Failure naming one field.
func Invalid(field, format string, args ...any) error {
	return FailField(CodeInvalid, field, format, args...)
}

// DecodeJSON strictly decodes one JSON value from r into v: unknown fields, keys given twice,
// trailing data, wrong types and syntax errors become an invalid *Failure naming the field.
func DecodeJSON(r io.Reader, v any) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return decodeProblem(err)
	}
	return DecodeJSONBytes(b, v)
}

// DecodeJSONBytes is DecodeJSON on a byte slice.
func DecodeJSONBytes(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if located, ok := inElement(b, v); ok {
			return located
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			typeErr.Field = withoutEmbedded(typeErr.Field, reflect.TypeOf(v))
		}
		return decodeProblemIn(b, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Invalid("body", "must hold a single JSON value with nothing after it")
	}
	// Decoding keeps the last of a key given twice; reject the body instead, since which one
	// the client meant is anybody's guess.
	switch field, null, found := bodyProblem(b, reflect.TypeOf(v)); {
	case found && null:
		return Invalid(field, "must not be null")
	case found:
		return Invalid(field, "is given more than once in the same object (keys match regardless of case); give it once")
	}
	return nil
}

// Validator is a request that checks itself (and fills in its defaults).
type Validator interface{ Validate() error }

// DecodeRequest is DecodeJSONBytes for a request body or message: when it does not decode and
// v checks itself, its problems are those of AlsoInvalid, every bad field at once.
func DecodeRequest(b []byte, v any) error {
	err := DecodeJSONBytes(b, v)
	if val, ok := v.(Validator); ok && err != nil {
		return AlsoInvalid(b, err, val)
	}
	return err
}

// AlsoInvalid is err, the problems of decoding b into v, with other problems of b: those of
// decoding the fields after it, and those v's own check finds in the fields that decode. A
// wrong type or an unknown field need not keep the client from hearing of the other bad fields
// at once, rather than of one per try. The fields with decoding problems are left out, a few
// times at most (each time is a decoding of the whole body, of at most a MiB); a problem of the check that names
// a field left out is left out too, as the check saw its default (options.spec "applies only
// to method ets" when method could not be read). A body that is not a JSON object is answered
// alone.
func AlsoInvalid(b []byte, err error, v Validator) error {
	f, ok := err.(*Failure)
	t := reflect.TypeOf(v)
	if !ok || f.Code != CodeInvalid || f.Problems["body"] != "" || t.Kind() != reflect.Pointer || len(b) > maxAlsoInvalidBytes {
		return err
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return err
	}
	out := *f
	out.Problems = maps.Clone(f.Problems)
	var dropped []string // keys left out, as given
	for range maxRedecodes {
		n := len(obj)
		for key := range obj {
			for field := range out.Problems {
				if inKey(field, key) {
					delete(obj, key)
					if _, known := jsonField(t.Elem(), key); known {
						dropped = append(dropped, key) // its default is what the check sees
					}
					break
				}
			}
		}
		if len(obj) == n {
			break // nothing more can be left out
		}
		rest := reflect.New(t.Elem()).Interface().(Validator)
		if err := DecodeJSONBytes(JSON(obj), rest); err != nil {
			more, ok := err.(*Failure)
			if !ok || more.Code != CodeInvalid || more.Problems["body"] != "" {
				break
			}
			mergeProblems(out.Problems, more.Problems, nil)
			continue
		}
		var checked *Failure
		if errors.As(rest.Validate(), &checked) && checked.Code == CodeInvalid {
			mergeProblems(out.Problems, checked.Problems, dropped)
		}
		break
	}
	return &out
}

// maxRedecodes bounds the decodings AlsoInvalid makes of one body, and maxAlsoInvalidBytes
// the bodies it decodes again: a larger one (an 8 MiB series) is answered with its first
// problems alone, rather than cost several times its decoding.
const (
	maxRedecodes        = 3
	maxAlsoInvalidBytes = 1 << 20
)

// maxProblems bounds the problems AlsoInvalid reports: a few examples, not thousands.
const maxProblems = 20

// mergeProblems adds more to problems, up to maxProblems in all, but none whose field is or
// whose text names (as a word) a field of dropped.
func mergeProblems(problems, more Problems, dropped []string) {
	for _, field := range slices.Sorted(maps.Keys(more)) {
		if len(problems) >= maxProblems {
			return
		}
		if !slices.ContainsFunc(dropped, func(key string) bool { return inKey(field, key) || namesWord(more[field], key) }) {
			problems.Add(field, "%s", more[field])
		}
	}
}

// namesWord reports whether text has word in it (regardless of case), not inside a longer
// word: method in "applies only to method", not in "methods".
func namesWord(text, word string) bool {
	text, word = strings.ToLower(text), strings.ToLower(word)
	isWord := func(c byte) bool { return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' }
	for i := 0; ; {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isWord(text[start-1])) && (end == len(text) || !isWord(text[end])) {
			return true
		}
		i = start + 1
	}
}

// inKey reports whether a problem's field is key's, or inside it (key.x, key[3]), keys
// matched as encoding/json matches them to fields.
func inKey(field, key string) bool {
	if len(field) > len(key) && (field[len(key)] == '.' || field[len(key)] == '[') {
		field = field[:len(key)]
	}
	return field == key || foldKey(field) == foldKey(key)
}

// inElement finds the element that a decoding error of b into v is in, when v has a field that
// is an array of objects (a batch's series): the decoder's path has no index (series.values),
// which in a batch of thousands of series does not tell which one, and an unknown field's error
// names the field alone. It decodes each element of such an array on its own, as the whole was;
// the first that fails is the one, and its problems are named under it (series[3].values).
func inElement(b []byte, v any) (error, bool) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return nil, false
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		et := f.Type
		if name == "" || name == "-" || et.Kind() != reflect.Slice || et.Elem().Kind() != reflect.Struct ||
			et.Implements(unmarshaler) || reflect.PointerTo(et).Implements(unmarshaler) || reflect.PointerTo(et.Elem()).Implements(unmarshaler) {
			continue
		}
		var elems []json.RawMessage
		if raw, ok := fieldValue(top, name); !ok || json.Unmarshal(raw, &elems) != nil {
			continue
		}
		for i, e := range elems {
			if err := DecodeJSONBytes(e, reflect.New(et.Elem()).Interface()); err != nil {
				return under(err, fmt.Sprintf("%s[%d]", name, i)), true
			}
		}
	}
	return nil, false
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// fieldValue is the value of key in an object decoded by encoding/json, which matches keys
// regardless of case.
func fieldValue(obj map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := obj[key]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// under is err, a decoding failure of an element, with its problems named under prefix.
func under(err error, prefix string) error {
	var f *Failure
	if !errors.As(err, &f) {
		return err
	}
	named := make(Problems, len(f.Problems))
	for k, p := range f.Problems {
		if k == "body" {
			named[prefix] = p
		} else {
			named[prefix+"."+k] = p
		}
	}
	out := *f
	out.Problems = named
	return &out
}

// DecodeHeader decodes the fields of v found in b, ignoring others (the header of a message
// decoded in full once its type is known); a problem is reported as DecodeJSON does.
func DecodeHeader(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return decodeProblemIn(b, err)
	}
	return nil
}

// withoutEmbedded is path, a decoder's dotted path to a field of a t, without the names of the
// structs embedded in t's (the WebSocket fit message embeds FitRequest): the decoder names
// them, though the client's JSON has no such level.
func withoutEmbedded(path string, t reflect.Type) string {
	embedded := map[string]bool{}
	var walk func(reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for f := range t.Fields() {
			if f.Anonymous && f.Tag.Get("json") == "" {
				embedded[f.Name] = true
			}
			walk(f.Type)
		}
	}
	walk(t)
	if len(embedded) == 0 {
		return path
	}
	parts := strings.Split(path, ".")
	kept := parts[:0]
	for _, p := range parts {
		if !embedded[p] {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

// decodeProblemIn is decodeProblem for an error of decoding b, which a syntax error is
// explained in: where it is, the text around it, and what is wrong when it is one of the
// usual slips (NaN, a trailing comma, a leading zero, single quotes).
func decodeProblemIn(b []byte, err error) error {
	var syntaxErr *json.SyntaxError
	if !errors.As(err, &syntaxErr) {
		return decodeProblem(err)
	}
	at := int(syntaxErr.Offset) - 1 // the byte the decoder stopped at
	if at < 0 || at >= len(b) {
		return decodeProblem(err)
	}
	near := strings.ToValidUTF8(string(b[max(0, at-12):min(len(b), at+12)]), "")
	problem := fmt.Sprintf("malformed JSON at byte %d, near %q", syntaxErr.Offset, near)
	if hint := SyntaxHint(b, at, syntaxErr); hint != "" {
		problem += ": " + hint
	}
	return Invalid("body", "%s", problem)
}

// SyntaxHint says what the usual mistake is that makes b malformed at its byte at (where err,
// the decoder's syntax error, stopped), or "" when it is none of them.
func SyntaxHint(b []byte, at int, err *json.SyntaxError) string {
	if at < 0 || at >= len(b) {
		return ""
	}
	before := bytes.TrimRight(b[:at], " \t\r\n")
	rest := b[at:]
	switch {
	case strings.Contains(err.Error(), "exceeded max depth"):
		return "arrays and objects nest too deep"
	case bytes.HasPrefix(rest, []byte("NaN")) || bytes.HasPrefix(rest, []byte("Inf")) ||
		bytes.HasSuffix(before, []byte("-")) && rest[0] == 'I':
		return "NaN and Infinity are not JSON; send null for a missing value"
	case (rest[0] == ']' || rest[0] == '}') && bytes.HasSuffix(before, []byte(",")):
		return "a comma before a closing bracket; JSON has no trailing commas"
	case '0' <= rest[0] && rest[0] <= '9' && at >= 2 && b[at-1] == '0' && strings.IndexByte("[,: -", b[at-2]) >= 0:
		return "a number with a leading zero; JSON numbers have none"
	case rest[0] == '\'':
		return "strings and keys are quoted with \", not '"
	case rest[0] == '/' || rest[0] == '#':
		return "JSON has no comments"
	}
	return ""
}

func decodeProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return Invalid("body", "is empty; send a JSON object")
	case errors.As(err, &typeErr):
		// The decoder joins the path with dots; an index (Times puts it in brackets) belongs
		// to the field before it.
		field := strings.ReplaceAll(typeErr.Field, ".[", "[")
		if field == "" {
			field = "body"
		}
		if typeErr.Type == reflect.TypeFor[time.Time]() { // an element of Times
			return Invalid(field, "must be an RFC 3339 time such as 2024-01-31T00:00:00Z, got %s", typeErr.Value)
		}
		kind := typeErr.Type.Kind()
		if number, ok := strings.CutPrefix(typeErr.Value, "number "); ok && (kind == reflect.Float64 || kind == reflect.Float32) {
			// A number that a float64 cannot hold, such as 1e400.
			return Invalid(field, "must be a number of magnitude below about 1.8e308, got %s", number)
		}
		return Invalid(field, "must be %s, got JSON %s", jsonKind(kind.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Invalid("body", "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid("body", "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return Invalid("body", `has an empty key (""), which is not a known field`)
		}
		return Invalid(name, "is not a known field")
	default:
		return Invalid("body", "cannot be decoded as the documented JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "float64", "float32":
		return "a number"
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	case "ptr":
		return "a value of the documented type"
	}
	return "of the documented type"
}

// Validate checks a fit request and fills in defaults (method auto, season_length 1).
func (r *FitRequest) Validate() error {
	p := Problems{}
	switch {
	case r.Values == nil:
		p.Add("values", "is required: an array of numbers (null marks a missing observation)")
	case len(r.Values) == 0:
		p.Add("values", "must not be empty")
	case len(r.Values) > MaxValues:
		p.Add("values", "has %d observations; at most %d are accepted", len(r.Values), MaxValues)
	default:
		present := 0
		for i, v := range r.Values {
			if math.IsNaN(v) {
				continue
			}
			present++
			if math.IsInf(v, 0) || math.Abs(v) > MaxAbsValue {
				p.Add("values", "value at index %d is out of range (|v| must be at most %g)", i, MaxAbsValue)
				break
			}
		}
		if present == 0 {
			p.Add("values", "all observations are missing (null)")
		}
	}
	if r.SeasonLength == nil {
		one := 1
		r.SeasonLength = &one
	} else if m := *r.SeasonLength; m < 1 || m > MaxSeasonLength {
		p.Add("season_length", "must be an integer from 1 to %d, got %d", MaxSeasonLength, m)
	}
	if r.Method == "" {
		r.Method = forecast.MethodAuto
	}
	if !slices.Contains(forecast.Methods, r.Method) {
		p.Add("method", "unknown method %q; use one of %s", Clip(r.Method), strings.Join(forecast.Methods, ", "))
	}
	if r.Method == forecast.MethodARIMA && *r.SeasonLength > arima.MaxPeriod {
		p.Add("season_length", "must be at most %d for method arima, got %d", arima.MaxPeriod, *r.SeasonLength)
	}
	if r.Timestamps != nil {
		// A step left out is a missing value (FillGaps); a time off the step is a problem.
		if reg, err := FillGaps(r.Timestamps, r.Values); err != nil {
			p.Add("timestamps", "%v", err)
		} else if problem := reg.Axis.HorizonProblem(max(r.horizon, 1)); problem != "" {
			p.Add("timestamps", "%s", problem)
		}
	}
	validateOptions(p, r.Method, *r.SeasonLength, r.Options)
	return p.Err()
}

func validateOptions(p Problems, method string, seasonLength int, o forecast.Options) {
	if o.ETSSpec != "" && method != forecast.MethodETS {
		p.Add("options.spec", "applies only to method \"ets\"")
	}
	if o.ETSSpec != "" && !validETSSpec(o.ETSSpec) {
		p.Add("options.spec", "must be an ETS code: error A|M|Z, trend N|A|Ad|M|Md|Z, season N|A|M|Z, e.g. \"ANN\", \"MAdM\", \"ZZZ\"; got %q", Clip(o.ETSSpec))
	}
	if (o.Order != nil || o.SeasonalOrder != nil || o.IncludeConstant != nil) && method != forecast.MethodARIMA {
		p.Add("options", "order, seasonal_order and include_constant apply only to method \"arima\"")
	}
	checkOrder(p, "options.order", o.Order, [3]string{"p", "d", "q"}, [3]int{10, 2, 10})
	checkOrder(p, "options.seasonal_order", o.SeasonalOrder, [3]string{"P", "D", "Q"}, [3]int{3, 1, 3})
	switch {
	case o.SeasonalOrder != nil && o.Order == nil:
		p.Add("options.seasonal_order", "needs options.order as well: give both, or neither for an automatic order")
	case slices.ContainsFunc(o.SeasonalOrder, func(k int) bool { return k != 0 }) && seasonLength < 2:
		p.Add("options.seasonal_order", "needs season_length of at least 2; give the series' season_length or a seasonal_order of [0, 0, 0]")
	}
}

// checkOrder checks an ARIMA order of three integers, each named (p, d, q) and bounded (the
// engine's limits on differencing, the search's on the rest), and says which entry is wrong.
func checkOrder(p Problems, field string, order []int, names [3]string, maxEach [3]int) {
	if order == nil {
		return
	}
	if len(order) != 3 {
		p.Add(field, "must have three integers (%s, %s, %s), got %d", names[0], names[1], names[2], len(order))
		return
	}
	for i, k := range order {
		if k < 0 || k > maxEach[i] {
			p.Add(fmt.Sprintf("%s[%d]", field, i), "%s must be an integer from 0 to %d, got %d", names[i], maxEach[i], k)
			return
		}
	}
}

func validETSSpec(s string) bool {
	if len(s) < 3 || len(s) > 4 {
		return false
	}
	if !strings.ContainsRune("AMZ", rune(s[0])) {
		return false
	}
	trend := s[1 : len(s)-1]
	if !slices.Contains([]string{"N", "A", "Ad", "M", "Md", "Z"}, trend) {
		return false
	}
	return strings.ContainsRune("ANMZ", rune(s[len(s)-1]))
}

// Validate checks a forecast request and fills in default levels.
func (r *ForecastRequest) Validate() error {
	p := Problems{}
	switch {
	case r.Horizon == nil:
		p.Add("horizon", "is required: how many steps ahead to forecast (1 to %d)", MaxHorizon)
	case *r.Horizon < 1 || *r.Horizon > MaxHorizon:
		p.Add("horizon", "must be an integer from 1 to %d, got %d", MaxHorizon, *r.Horizon)
	}
	if r.Levels == nil {
		r.Levels = slices.Clone(DefaultLevels)
	}
	if len(r.Levels) > MaxLevels {
		p.Add("levels", "has %d entries; at most %d are accepted", len(r.Levels), MaxLevels)
	}
	if levels, problem := PercentLevels(r.Levels); problem != "" {
		p.Add("levels", "%s", problem)
	} else {
		r.Levels = levels
	}
	return p.Err()
}

// PercentLevels reads interval levels as R's forecast() does: when every level lies strictly
// between 0 and 1 they are fractions (0.95 is 95%), otherwise percentages, strictly between 0
// and 100 (so 1 is 1%, as in R). It returns them as percentages, or a problem when a level is
// out of range, fractions are mixed with percentages (R would read [0.8, 95] as 0.8% and
// 95%, which is hardly ever meant) or a level is given twice.
func PercentLevels(levels []float64) ([]float64, string) {
	fractions := 0
	for _, l := range levels {
		if !(l > 0 && l < 100) {
			return nil, fmt.Sprintf("each level must be a percentage strictly between 0 and 100, or a fraction strictly between 0 and 1, got %g", l)
		}
		if l < 1 {
			fractions++
		}
	}
	out := levels
	switch fractions {
	case 0:
	case len(levels):
		out = make([]float64, len(levels))
		for i, l := range levels {
			out[i] = percentOf(l)
		}
	default:
		return nil, fmt.Sprintf("mixes fractions (below 1) with percentages: %s; give every level as a fraction (0.8, 0.95) or every one as a percentage (80, 95)", JSON(levels))
	}
	for i, l := range out {
		if j := slices.Index(out[:i], l); j >= 0 {
			return nil, fmt.Sprintf("gives the level %s twice (levels[%d] and levels[%d]); each interval is asked for once", forecast.LevelKey(l), j, i)
		}
	}
	return out, ""
}

// percentOf is 100·f for the decimal f is written as, so 0.07 gives 7 (not 7.000000000000001)
// and the interval's key reads "7".
func percentOf(f float64) float64 {
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde-XX
	mant, exp, _ := strings.Cut(s, "e")
	e, err := strconv.Atoi(exp)
	if err != nil {
		return 100 * f
	}
	p, err := strconv.ParseFloat(mant+"e"+strconv.Itoa(e+2), 64)
	if err != nil {
		return 100 * f
	}
	return p
}
