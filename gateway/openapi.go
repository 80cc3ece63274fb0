package gateway

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/forecastd/forecastd/messages"
)

// openAPISpec is the public API's description, hand-written and checked against the routes and
// the input limits by openapi_test.go.
//
//go:embed openapi.json
var openAPISpec []byte

// OpenAPIDocument returns the API description served at /openapi.json.
func OpenAPIDocument() []byte { return bytes.Clone(openAPISpec) }

//go:embed docs.html
var docsTemplate string

func (g *Gateway) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPISpec)
}

func (g *Gateway) handleDocs(w http.ResponseWriter, r *http.Request) {
	page, err := docsPage()
	if err != nil {
		g.writeError(w, r, messages.Errorf(messages.CodeInternal, err, "the API reference cannot be rendered"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(page)
}

// docsPage renders the reference page once: it depends only on the embedded description.
var docsPage = sync.OnceValues(func() ([]byte, error) { return renderDocs(openAPISpec) })

// The view of the description that docs.html renders.
type (
	docView struct {
		Title, Version, Summary string
		Description             template.HTML
		OpenAPI                 string
		Tags                    []tagView
		Schemas                 []schemaView
	}
	tagView struct {
		Name        string
		Description template.HTML
		Ops         []opView
	}
	opView struct {
		Method, Path, ID, Summary string
		Description               template.HTML
		Params                    []fieldView
		Body                      []bodyView
		Responses                 []responseView
	}
	bodyView struct {
		MediaType string
		Schema    template.HTML
		Example   string
	}
	responseView struct {
		Code        string
		Description template.HTML
		Headers     []string
		Content     []bodyView
	}
	schemaView struct {
		Name        string
		Description template.HTML
		Type        template.HTML
		Fields      []fieldView
		Example     string
	}
	fieldView struct {
		Name, In    string
		Required    bool
		Type        template.HTML
		Constraints []string
		Description template.HTML
	}
)

// renderDocs turns an OpenAPI document into the HTML reference page.
func renderDocs(spec []byte) ([]byte, error) {
	d, err := parseDoc(spec)
	if err != nil {
		return nil, err
	}
	view, err := d.view()
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("docs").Funcs(template.FuncMap{
		"lower": strings.ToLower,
		"anchor": func(method, path string) string {
			return "op-" + strings.ToLower(method) + "-" + strings.Trim(nonWord.ReplaceAllString(path, "-"), "-")
		},
	}).Parse(docsTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse docs template: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, view); err != nil {
		return nil, fmt.Errorf("render docs: %w", err)
	}
	return b.Bytes(), nil
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// oaDoc is a decoded OpenAPI document plus the key order of the objects whose order matters
// for reading (Go maps forget it).
type oaDoc struct {
	root        map[string]any
	pathOrder   []string
	schemaOrder []string
}

func parseDoc(spec []byte) (*oaDoc, error) {
	var raw struct {
		Paths      json.RawMessage `json:"paths"`
		Components struct {
			Schemas json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	d := &oaDoc{}
	if err := json.Unmarshal(spec, &d.root); err != nil {
		return nil, fmt.Errorf("decode openapi.json: %w", err)
	}
	if err := json.Unmarshal(spec, &raw); err != nil {
		return nil, fmt.Errorf("decode openapi.json: %w", err)
	}
	var err error
	if d.pathOrder, err = objectKeys(raw.Paths); err != nil {
		return nil, fmt.Errorf("openapi.json paths: %w", err)
	}
	if d.schemaOrder, err = objectKeys(raw.Components.Schemas); err != nil {
		return nil, fmt.Errorf("openapi.json schemas: %w", err)
	}
	return d, nil
}

// objectKeys lists the keys of a JSON object in document order.
func objectKeys(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// resolve follows a local reference such as "#/components/schemas/FitRequest/properties/values".
func (d *oaDoc) resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("reference %q is not local", ref)
	}
	var cur any = d.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("reference %q does not resolve", ref)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("reference %q does not resolve", ref)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("reference %q is not an object", ref)
	}
	return m, nil
}

// deref returns the object a $ref points to, or obj itself.
func (d *oaDoc) deref(obj map[string]any) (map[string]any, error) {
	for range 10 { // references may chain
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj, nil
		}
		var err error
		if obj, err = d.resolve(ref); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("reference chain too long")
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func (d *oaDoc) view() (docView, error) {
	info, _ := d.root["info"].(map[string]any)
	v := docView{
		Title: str(info, "title"), Version: str(info, "version"), Summary: str(info, "summary"),
		Description: markdown(str(info, "description")), OpenAPI: str(d.root, "openapi"),
	}
	tagIndex := map[string]int{}
	tags, _ := d.root["tags"].([]any)
	for _, t := range tags {
		tm, _ := t.(map[string]any)
		tagIndex[str(tm, "name")] = len(v.Tags)
		v.Tags = append(v.Tags, tagView{Name: str(tm, "name"), Description: markdown(str(tm, "description"))})
	}
	paths, _ := d.root["paths"].(map[string]any)
	for _, p := range d.pathOrder {
		item, _ := paths[p].(map[string]any)
		for _, m := range httpMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			ov, err := d.opView(strings.ToUpper(m), p, op)
			if err != nil {
				return v, fmt.Errorf("%s %s: %w", strings.ToUpper(m), p, err)
			}
			tag := "other"
			if ts, _ := op["tags"].([]any); len(ts) > 0 {
				tag, _ = ts[0].(string)
			}
			i, ok := tagIndex[tag]
			if !ok {
				i = len(v.Tags)
				tagIndex[tag] = i
				v.Tags = append(v.Tags, tagView{Name: tag})
			}
			v.Tags[i].Ops = append(v.Tags[i].Ops, ov)
		}
	}
	schemas, _ := d.root["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range d.schemaOrder {
		s, _ := schemas[name].(map[string]any)
		sv, err := d.schemaView(name, s)
		if err != nil {
			return v, fmt.Errorf("schema %s: %w", name, err)
		}
		v.Schemas = append(v.Schemas, sv)
	}
	return v, nil
}

func (d *oaDoc) opView(method, path string, op map[string]any) (opView, error) {
	ov := opView{
		Method: method, Path: path, ID: str(op, "operationId"), Summary: str(op, "summary"),
		Description: markdown(str(op, "description")),
	}
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		pm, err := d.deref(asMap(p))
		if err != nil {
			return ov, err
		}
		schema := asMap(pm["schema"])
		typ, err := d.typeHTML(schema)
		if err != nil {
			return ov, err
		}
		cons, err := d.constraints(schema)
		if err != nil {
			return ov, err
		}
		required, _ := pm["required"].(bool)
		ov.Params = append(ov.Params, fieldView{
			Name: str(pm, "name"), In: str(pm, "in"), Required: required, Type: typ,
			Constraints: cons, Description: markdown(str(pm, "description")),
		})
	}
	if rb, ok := op["requestBody"].(map[string]any); ok {
		rb, err := d.deref(rb)
		if err != nil {
			return ov, err
		}
		if ov.Body, err = d.contentViews(asMap(rb["content"])); err != nil {
			return ov, err
		}
	}
	responses := asMap(op["responses"])
	codes := make([]string, 0, len(responses))
	for c := range responses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		r, err := d.deref(asMap(responses[c]))
		if err != nil {
			return ov, err
		}
		rv := responseView{Code: c, Description: markdown(str(r, "description"))}
		for h := range asMap(r["headers"]) {
			rv.Headers = append(rv.Headers, h)
		}
		sort.Strings(rv.Headers)
		if rv.Content, err = d.contentViews(asMap(r["content"])); err != nil {
			return ov, err
		}
		ov.Responses = append(ov.Responses, rv)
	}
	return ov, nil
}

func (d *oaDoc) contentViews(content map[string]any) ([]bodyView, error) {
	types := make([]string, 0, len(content))
	for t := range content {
		types = append(types, t)
	}
	sort.Strings(types)
	var out []bodyView
	for _, t := range types {
		mt := asMap(content[t])
		schema := asMap(mt["schema"])
		if item, ok := mt["x-item-schema"].(map[string]any); ok {
			schema = item // a stream: describe its frames
		}
		typ, err := d.typeHTML(schema)
		if err != nil {
			return nil, err
		}
		bv := bodyView{MediaType: t, Schema: typ}
		if ex, ok := mt["example"]; ok {
			bv.Example = exampleText(ex)
		}
		out = append(out, bv)
	}
	return out, nil
}

func (d *oaDoc) schemaView(name string, s map[string]any) (schemaView, error) {
	sv := schemaView{Name: name, Description: markdown(str(s, "description"))}
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		sv.Example = exampleText(ex[0])
	}
	props := asMap(s["properties"])
	if len(props) == 0 {
		// A composition or scalar: its type line says everything, except that a success
		// envelope's payload is worth a direct link.
		if all, ok := s["allOf"].([]any); ok {
			for _, part := range all {
				if data, ok := asMap(asMap(part)["properties"])["data"].(map[string]any); ok {
					typ, err := d.typeHTML(data)
					if err != nil {
						return sv, err
					}
					sv.Type = template.HTML(`JSend success whose <code>data</code> is `) + typ
					return sv, nil
				}
			}
		}
		typ, err := d.typeHTML(s)
		if err != nil {
			return sv, err
		}
		cons, err := d.constraints(s)
		if err != nil {
			return sv, err
		}
		if len(cons) > 0 {
			typ += template.HTML(" <span class=cons>" + template.HTMLEscapeString(strings.Join(cons, "; ")) + "</span>")
		}
		sv.Type = typ
		return sv, nil
	}
	sv.Type = "object"
	required := map[string]bool{}
	if rs, ok := s["required"].([]any); ok {
		for _, r := range rs {
			if r, ok := r.(string); ok {
				required[r] = true
			}
		}
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	// Required fields first, then alphabetically.
	sort.Slice(names, func(i, j int) bool {
		if required[names[i]] != required[names[j]] {
			return required[names[i]]
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		p := asMap(props[n])
		typ, err := d.typeHTML(p)
		if err != nil {
			return sv, err
		}
		cons, err := d.constraints(p)
		if err != nil {
			return sv, err
		}
		desc := str(p, "description")
		if desc == "" {
			if ref, ok := p["$ref"].(string); ok && strings.Contains(ref, "/properties/") {
				target, err := d.resolve(ref)
				if err != nil {
					return sv, err
				}
				desc = str(target, "description")
			}
		}
		sv.Fields = append(sv.Fields, fieldView{Name: n, Required: required[n], Type: typ, Constraints: cons, Description: markdown(desc)})
	}
	return sv, nil
}

// typeHTML describes a schema's type in a few words, linking named schemas.
func (d *oaDoc) typeHTML(s map[string]any) (template.HTML, error) {
	if len(s) == 0 {
		return "any", nil
	}
	if ref, ok := s["$ref"].(string); ok {
		if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok && !strings.Contains(name, "/") {
			if _, err := d.resolve(ref); err != nil {
				return "", err
			}
			return template.HTML(`<a href="#schema-` + template.HTMLEscapeString(name) + `">` + template.HTMLEscapeString(name) + `</a>`), nil
		}
		target, err := d.resolve(ref)
		if err != nil {
			return "", err
		}
		return d.typeHTML(target)
	}
	for _, comb := range []struct{ key, sep string }{{"oneOf", " | "}, {"anyOf", " | "}, {"allOf", " &amp; "}} {
		parts, ok := s[comb.key].([]any)
		if !ok {
			continue
		}
		var out []string
		for _, p := range parts {
			t, err := d.typeHTML(asMap(p))
			if err != nil {
				return "", err
			}
			if title := str(asMap(p), "title"); title != "" {
				t = template.HTML(template.HTMLEscapeString(title) + " object")
			}
			out = append(out, string(t))
		}
		return template.HTML(strings.Join(out, comb.sep)), nil
	}
	if c, ok := s["const"]; ok {
		return template.HTML("<code>" + template.HTMLEscapeString(exampleText(c)) + "</code>"), nil
	}
	if e, ok := s["enum"].([]any); ok {
		var out []string
		for _, x := range e {
			out = append(out, "<code>"+template.HTMLEscapeString(exampleText(x))+"</code>")
		}
		return template.HTML("one of " + strings.Join(out, ", ")), nil
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if x, ok := x.(string); ok {
				types = append(types, x)
			}
		}
	}
	var out []string
	for _, t := range types {
		switch t {
		case "array":
			items, err := d.typeHTML(asMap(s["items"]))
			if err != nil {
				return "", err
			}
			out = append(out, "array of "+string(items))
		case "object":
			if ap, ok := s["additionalProperties"].(map[string]any); ok && len(asMap(s["properties"])) == 0 {
				val, err := d.typeHTML(ap)
				if err != nil {
					return "", err
				}
				out = append(out, "map of string → "+string(val))
			} else {
				out = append(out, "object")
			}
		case "string":
			if f := str(s, "format"); f != "" {
				out = append(out, "string ("+template.HTMLEscapeString(f)+")")
			} else {
				out = append(out, "string")
			}
		default:
			out = append(out, template.HTMLEscapeString(t))
		}
	}
	if len(out) == 0 {
		return "any", nil
	}
	return template.HTML(strings.Join(out, " | ")), nil
}

// constraints lists a schema's limits in words, including those of array items.
func (d *oaDoc) constraints(s map[string]any) ([]string, error) {
	s, err := d.deref(s)
	if err != nil || s == nil {
		return nil, err
	}
	var out []string
	num := func(key string) (string, bool) {
		f, ok := s[key].(float64)
		if !ok {
			return "", false
		}
		return strconv.FormatFloat(f, 'g', -1, 64), true
	}
	if v, ok := num("minimum"); ok {
		out = append(out, "≥ "+v)
	}
	if v, ok := num("exclusiveMinimum"); ok {
		out = append(out, "> "+v)
	}
	if v, ok := num("maximum"); ok {
		out = append(out, "≤ "+v)
	}
	if v, ok := num("exclusiveMaximum"); ok {
		out = append(out, "< "+v)
	}
	if v, ok := num("minItems"); ok {
		out = append(out, "at least "+v+" items")
	}
	if v, ok := num("maxItems"); ok {
		out = append(out, "at most "+v+" items")
	}
	if v, ok := num("maxLength"); ok {
		out = append(out, "at most "+v+" characters")
	}
	if p := str(s, "pattern"); p != "" {
		out = append(out, "pattern "+p)
	}
	if def, ok := s["default"]; ok {
		out = append(out, "default "+exampleText(def))
	}
	if items, ok := s["items"].(map[string]any); ok {
		inner, err := d.constraints(items)
		if err != nil {
			return nil, err
		}
		for _, c := range inner {
			out = append(out, "each "+c)
		}
	}
	return out, nil
}

// markdown renders the little markdown the description uses: paragraphs and `code`.
func markdown(s string) template.HTML {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, para := range strings.Split(s, "\n\n") {
		b.WriteString("<p>")
		for i, part := range strings.Split(template.HTMLEscapeString(para), "`") {
			if i%2 == 1 {
				b.WriteString("<code>" + part + "</code>")
			} else {
				b.WriteString(part)
			}
		}
		b.WriteString("</p>")
	}
	return template.HTML(b.String())
}

func exampleText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
