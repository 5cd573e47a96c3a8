package schemagen

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

type inner struct {
	N int `json:"n"`
}

type embedded struct {
	E string `json:"e"`
}

type sample struct {
	embedded
	Plain     string            `json:"plain"`
	Opt       string            `json:"opt,omitempty"`
	Skip      string            `json:"-"`
	Untagged  bool              // no tag: the Go name is the JSON name
	Struct    inner             `json:"struct,omitempty"` // omitempty never omits a struct
	Zero      inner             `json:"zero,omitzero"`
	Ptr       *inner            `json:"ptr"`
	OptPtr    *inner            `json:"opt_ptr,omitempty"`
	List      []int             `json:"list"`
	Map       map[string]string `json:"map,omitempty"`
	At        time.Time         `json:"at"`
	Addr      netip.Addr        `json:"addr"` // a TextMarshaler
	Fixed     [2]uint8          `json:"fixed"`
	unexposed int
}

// TestGenerate checks the rules of encoding/json the schema follows, on
// each kind of field.
func TestGenerate(t *testing.T) {
	b, err := Generate(reflect.TypeFor[sample](), "urn:test", "test")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Properties           map[string]json.RawMessage `json:"properties"`
			Required             []string                   `json:"required"`
			AdditionalProperties bool                       `json:"additionalProperties"`
		} `json:"$defs"`
		Ref string `json:"$ref"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	obj, ok := s.Defs["schemagen.sample"]
	if !ok || s.Ref != "#/$defs/schemagen.sample" || obj.AdditionalProperties {
		t.Fatalf("root %s, defs %v", s.Ref, s.Defs)
	}
	wantRequired := []string{"e", "plain", "Untagged", "struct", "ptr", "list", "at", "addr", "fixed"}
	if !reflect.DeepEqual(obj.Required, wantRequired) {
		t.Errorf("required %v, want %v", obj.Required, wantRequired)
	}
	for name, want := range map[string]string{
		"plain":   `{"type":"string"}`,
		"ptr":     `{"anyOf":[{"$ref":"#/$defs/schemagen.inner"},{"type":"null"}]}`,
		"opt_ptr": `{"$ref":"#/$defs/schemagen.inner"}`,
		"list":    `{"anyOf":[{"items":{"type":"integer"},"type":"array"},{"type":"null"}]}`,
		"map":     `{"additionalProperties":{"type":"string"},"type":"object"}`,
		"at":      `{"format":"date-time","type":"string"}`,
		"addr":    `{"type":"string"}`,
		"fixed":   `{"items":{"minimum":0,"type":"integer"},"maxItems":2,"minItems":2,"type":"array"}`,
	} {
		var got any
		json.Unmarshal(obj.Properties[name], &got)
		g, _ := json.Marshal(got)
		if string(g) != want {
			t.Errorf("%s: %s, want %s", name, g, want)
		}
	}
	for _, name := range []string{"Skip", "-", "unexposed"} {
		if _, ok := obj.Properties[name]; ok {
			t.Errorf("%s is in the schema", name)
		}
	}
}

// An unexported field is never encoded; this keeps it from looking unused.
var _ = sample{unexposed: 1}
