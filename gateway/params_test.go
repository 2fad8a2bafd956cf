package gateway

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestParamsObjects checks that arrays of objects keep their pairs and
// order in every encoding clients use for fields_attributes.
func TestParamsObjects(t *testing.T) {
	const want = "[map[name:a value:1] map[name:b value:2] map[name:c value:3]]"
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"JSON array", "application/json", `{"fields_attributes":[{"name":"a","value":"1"},{"value":"2","name":"b"},{"name":"c","value":"3"}]}`},
		{"JSON object by index", "application/json", `{"fields_attributes":{"10":{"name":"c","value":"3"},"2":{"name":"b","value":"2"},"0":{"name":"a","value":"1"}}}`},
		{"form, indexes out of order", "application/x-www-form-urlencoded",
			"fields_attributes[10][name]=c&fields_attributes[2][value]=2&fields_attributes[0][name]=a&fields_attributes[10][value]=3&fields_attributes[0][value]=1&fields_attributes[2][name]=b"},
	} {
		r := httptest.NewRequest("PATCH", "/", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.contentType)
		p, err := parseParams(httptest.NewRecorder(), r, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		objs, err := p.Objects("fields_attributes", 16)
		if err != nil || fmt.Sprint(objs) != want {
			t.Errorf("%s: %v, %v; want %s", tc.name, objs, err, want)
		}
		if _, err := p.Objects("fields_attributes", 2); err == nil {
			t.Errorf("%s: more objects than allowed were accepted", tc.name)
		}
	}
	// Trailing indexes still fold into arrays.
	r := httptest.NewRequest("POST", "/?media_ids[10]=11&media_ids[2]=3&media_ids[0]=1&media_ids[1]=2", nil)
	p, _ := parseParams(httptest.NewRecorder(), r, 0)
	if got := p.List("media_ids"); fmt.Sprint(got) != "[1 2 3 11]" {
		t.Errorf("media_ids = %v, want index order", got)
	}
}
