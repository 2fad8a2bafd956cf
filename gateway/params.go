package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/starling-social/starling"
)

// Limits on request bodies and parameters.
const (
	maxBodyBytes  = 1 << 20 // JSON and form bodies
	maxParamKeys  = 512
	maxParamItems = 1024 // values under one key
)

// params is every parameter of a request, from the query string and the
// body, whatever the body's encoding: JSON (nested objects flattened to
// Rails-style "a[b]" keys, arrays of values to "a[]", arrays of objects to
// "a[0][b]"), urlencoded or multipart forms (a trailing index "a[0]" folded
// to "a[]"; indexes of objects, "a[0][b]", kept for Objects). Body values
// win over query values.
type params struct {
	v     url.Values
	files map[string][]*multipart.FileHeader
	form  *multipart.Form
}

var indexRE = regexp.MustCompile(`\[\d+\]$`)

// normKey folds a trailing array index: media_ids[0] -> media_ids[]. The
// index of an object in an array (fields_attributes[0][name]) stays: it
// pairs the object's values.
func normKey(k string) string {
	if strings.IndexByte(k, '[') < 0 {
		return k
	}
	return indexRE.ReplaceAllString(k, "[]")
}

// errBadRequest is an input problem detected at the edge (HTTP 400).
type errBadRequest struct{ msg string }

func (e *errBadRequest) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &errBadRequest{msg: fmt.Sprintf(format, args...)}
}

// parseParams reads the query string and body of r. maxMultipart bounds a
// multipart body (uploads); other bodies are bounded by maxBodyBytes.
func parseParams(w http.ResponseWriter, r *http.Request, maxMultipart int64) (*params, error) {
	p := &params{v: url.Values{}}
	if err := p.addValues(r.URL.Query()); err != nil {
		return nil, err
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var body any
		if err := dec.Decode(&body); err != nil {
			if errors.Is(err, io.EOF) {
				return p, nil
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, &starling.Error{Code: starling.Invalid, Message: "Request body too large"}
			}
			return nil, badRequest("Malformed JSON body: %s", jsonErr(err))
		}
		if body == nil {
			return p, nil
		}
		obj, ok := body.(map[string]any)
		if !ok {
			return nil, badRequest("The JSON body must be an object")
		}
		flat := url.Values{}
		if err := flatten(flat, "", obj, 0); err != nil {
			return nil, err
		}
		if err := p.setValues(flat); err != nil {
			return nil, err
		}
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, &starling.Error{Code: starling.Invalid, Message: "Request body too large"}
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, badRequest("Malformed form body")
		}
		if err := p.setValues(vals); err != nil {
			return nil, err
		}
	case "multipart/form-data":
		if maxMultipart <= 0 {
			maxMultipart = maxBodyBytes
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxMultipart+64<<10)
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, &starling.Error{Code: starling.Invalid, Message: "Request body too large"}
			}
			return nil, badRequest("Malformed multipart body")
		}
		p.form = r.MultipartForm
		if err := p.setValues(r.MultipartForm.Value); err != nil {
			return nil, err
		}
		p.files = map[string][]*multipart.FileHeader{}
		for k, fh := range r.MultipartForm.File {
			p.files[normKey(k)] = fh
		}
	case "":
		// No body, or a client that did not say: ignore it.
	default:
		return nil, badRequest("Unsupported content type %q", truncate(ct, 60))
	}
	return p, nil
}

// close releases the temporary files of a multipart body.
func (p *params) close() {
	if p != nil && p.form != nil {
		_ = p.form.RemoveAll()
	}
}

func (p *params) addValues(vals url.Values) error {
	for _, k := range indexOrder(vals) {
		nk := normKey(k)
		p.v[nk] = append(p.v[nk], vals[k]...)
	}
	return p.check()
}

// setValues replaces query values with body values of the same key.
func (p *params) setValues(vals url.Values) error {
	seen := map[string]bool{}
	for _, k := range indexOrder(vals) {
		vs := vals[k]
		k = normKey(k)
		if !seen[k] {
			delete(p.v, k)
			seen[k] = true
		}
		p.v[k] = append(p.v[k], vs...)
	}
	return p.check()
}

func (p *params) check() error {
	if len(p.v) > maxParamKeys {
		return badRequest("Too many parameters")
	}
	for _, vs := range p.v {
		if len(vs) > maxParamItems {
			return badRequest("Too many values for one parameter")
		}
	}
	return nil
}

func flatten(out url.Values, prefix string, v any, depth int) error {
	if depth > 8 {
		return badRequest("JSON body nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			key := k
			if prefix != "" {
				key = prefix + "[" + k + "]"
			}
			if err := flatten(out, key, child, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, child := range x {
			switch child.(type) {
			case map[string]any:
				if err := flatten(out, prefix+"["+strconv.Itoa(i)+"]", child, depth+1); err != nil {
					return err
				}
			case []any:
				if err := flatten(out, prefix+"[]", child, depth+1); err != nil {
					return err
				}
			default:
				if s, ok := scalar(child); ok {
					out.Add(prefix+"[]", s)
				}
			}
		}
		if len(x) == 0 {
			out[prefix+"[]"] = out[prefix+"[]"][:0:0]
		}
	default:
		if s, ok := scalar(x); ok {
			out.Add(prefix, s)
		}
	}
	if len(out) > maxParamKeys {
		return badRequest("Too many parameters")
	}
	return nil
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false // explicit null: as if absent
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "unexpected type"
	}
	return "unexpected end of input"
}

// Has reports whether key was sent (as a scalar or an array).
func (p *params) Has(key string) bool {
	_, ok := p.v[key]
	_, ok2 := p.v[key+"[]"]
	return ok || ok2
}

// Get returns the first value of key, or "".
func (p *params) Get(key string) string {
	if vs := p.v[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// List returns the values of an array parameter, sent as "key[]" (Rails
// style or JSON array) or as repeated plain "key".
func (p *params) List(key string) []string {
	if vs, ok := p.v[key+"[]"]; ok {
		return vs
	}
	return p.v[key]
}

// Bool parses a boolean the way Rails does: true/1/on/yes are true.
// def is returned when key is absent; an unparseable value is a 400.
func (p *params) Bool(key string, def bool) (bool, error) {
	s := p.Get(key)
	if s == "" {
		return def, nil
	}
	switch strings.ToLower(s) {
	case "true", "1", "on", "yes", "t":
		return true, nil
	case "false", "0", "off", "no", "f":
		return false, nil
	}
	return false, badRequest("Invalid boolean for %s", key)
}

// OptBool is like Bool but reports absence as nil.
func (p *params) OptBool(key string) (*bool, error) {
	if p.Get(key) == "" {
		return nil, nil
	}
	b, err := p.Bool(key, false)
	return &b, err
}

// OptString returns a pointer to key's value, or nil when absent.
func (p *params) OptString(key string) *string {
	if _, ok := p.v[key]; !ok {
		return nil
	}
	s := p.Get(key)
	return &s
}

// Int parses an integer parameter with a default.
func (p *params) Int(key string, def int) (int, error) {
	s := p.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("Invalid integer for %s", key)
	}
	return n, nil
}

// ID parses an ID parameter; absent is 0.
func (p *params) ID(key string) (starling.ID, error) {
	s := p.Get(key)
	if s == "" {
		return 0, nil
	}
	id, err := starling.ParseID(s)
	if err != nil {
		return 0, badRequest("Invalid id for %s", key)
	}
	return id, nil
}

// IDs parses an array of IDs, ignoring empty entries.
func (p *params) IDs(key string, max int) ([]starling.ID, error) {
	var out []starling.ID
	for _, s := range p.List(key) {
		if s == "" {
			continue
		}
		id, err := starling.ParseID(s)
		if err != nil {
			return nil, badRequest("Invalid id in %s", key)
		}
		out = append(out, id)
		if len(out) > max {
			return nil, &starling.Error{Code: starling.Invalid, Message: fmt.Sprintf("Too many values for %s (maximum is %d)", key, max)}
		}
	}
	return out, nil
}

// File returns the first uploaded file under key.
func (p *params) File(key string) *multipart.FileHeader {
	if fh := p.files[key]; len(fh) > 0 {
		return fh[0]
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Objects returns the objects sent under key, in index order: Rails'
// key[i][field] (i a number, or any hash key, as in
// fields_attributes[0][name]), from forms or JSON (an array of objects or
// an object of objects). Each object maps a field to its first value.
// More than max objects is a bad request.
func (p *params) Objects(key string, max int) ([]map[string]string, error) {
	byIndex := map[string]map[string]string{}
	prefix := key + "["
	for k, vs := range p.v {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || len(vs) == 0 {
			continue
		}
		idx, field, ok := strings.Cut(rest, "][")
		if !ok || !strings.HasSuffix(field, "]") || strings.ContainsAny(idx, "[]") {
			continue
		}
		field = strings.TrimSuffix(field, "]")
		if byIndex[idx] == nil {
			if len(byIndex) == max {
				return nil, badRequest("Too many %s", key)
			}
			byIndex[idx] = map[string]string{}
		}
		byIndex[idx][field] = vs[0]
	}
	keys := make([]string, 0, len(byIndex))
	for k := range byIndex {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		na, errA := strconv.Atoi(a)
		nb, errB := strconv.Atoi(b)
		if errA == nil && errB == nil {
			return cmp.Compare(na, nb)
		}
		return strings.Compare(a, b)
	})
	out := make([]map[string]string, len(keys))
	for i, k := range keys {
		out[i] = byIndex[k]
	}
	return out, nil
}

// indexOrder returns the keys of vals so that keys folding into one array
// (media_ids[0], media_ids[1], ... media_ids[10]) come in index order.
func indexOrder(vals url.Values) []string {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	index := func(k string) (string, int) {
		if m := indexRE.FindStringIndex(k); m != nil {
			n, _ := strconv.Atoi(k[m[0]+1 : m[1]-1])
			return k[:m[0]], n
		}
		return k, -1
	}
	slices.SortFunc(keys, func(a, b string) int {
		pa, na := index(a)
		pb, nb := index(b)
		if c := strings.Compare(pa, pb); c != 0 {
			return c
		}
		return cmp.Compare(na, nb)
	})
	return keys
}
