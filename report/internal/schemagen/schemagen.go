package schemagen

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Schema is a JSON Schema node.
type Schema = map[string]any

// Generate returns the schema of t, with id and title, indented.
func Generate(t reflect.Type, id, title string) ([]byte, error) {
	g := &generator{defs: map[string]Schema{}}
	root := g.schema(t)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = id
	root["title"] = title
	if len(g.defs) > 0 {
		root["$defs"] = g.defs
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

type generator struct {
	defs map[string]Schema
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
)

// schema returns the schema of a value of type t (not null).
func (g *generator) schema(t reflect.Type) Schema {
	switch {
	case t == timeType:
		return Schema{"type": "string", "format": "date-time"}
	case t.Implements(jsonMarshalerType):
		return Schema{} // its own encoding: anything
	case t.Implements(textMarshalerType):
		return Schema{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Schema{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return Schema{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return Schema{"type": "string", "contentEncoding": "base64"}
		}
		s := Schema{"type": "array", "items": g.nullable(t.Elem())}
		if t.Kind() == reflect.Array {
			s["minItems"], s["maxItems"] = t.Len(), t.Len()
		}
		return s
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": g.nullable(t.Elem())}
	case reflect.Struct:
		return g.ref(t)
	case reflect.Interface:
		return Schema{}
	}
	panic(fmt.Sprintf("schemagen: no JSON for %v", t)) // a programming error in the types given
}

// nullable is schema(t), or null where encoding/json writes null for it.
func (g *generator) nullable(t reflect.Type) Schema {
	s := g.schema(t)
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		if len(s) == 0 {
			return s
		}
		return Schema{"anyOf": []any{s, Schema{"type": "null"}}}
	}
	return s
}

// ref returns a reference to the definition of struct t, written on
// first use (a type may refer to itself).
func (g *generator) ref(t reflect.Type) Schema {
	name := t.Name()
	if name == "" {
		return g.object(t)
	}
	if pkg := t.PkgPath(); pkg != "" {
		name = pkg[strings.LastIndex(pkg, "/")+1:] + "." + name
	}
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = Schema{} // reserved while being written
		g.defs[name] = g.object(t)
	}
	return Schema{"$ref": "#/$defs/" + name}
}

// object is the schema of a struct's fields as encoding/json writes them.
func (g *generator) object(t reflect.Type) Schema {
	props := Schema{}
	var required []string
	g.fields(t, props, &required)
	s := Schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *generator) fields(t reflect.Type, props Schema, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required) // promoted fields
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		// omitempty never leaves out a struct value (omitzero does).
		optional := strings.Contains(","+opts+",", ",omitzero,") ||
			strings.Contains(","+opts+",", ",omitempty,") && f.Type.Kind() != reflect.Struct
		if strings.Contains(","+opts+",", ",string,") {
			props[name] = Schema{"type": "string"}
		} else if optional {
			props[name] = g.schema(f.Type)
		} else {
			props[name] = g.nullable(f.Type)
		}
		if !optional {
			*required = append(*required, name)
		}
	}
}
