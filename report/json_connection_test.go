package report

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// jsonFiller fills values of any type at random, for comparing
// connectionJSON with json.Marshal. With full set, every pointer is
// set, every slice and map has two elements and every scalar is non-zero,
// so that a field the hand encoder misses shows.
type jsonFiller struct {
	r    *rand.Rand
	full bool
}

var fillStrings = []string{"", "mx.example.net", "a<b>&c", `quote" back\slash`, "ctl\x01\x1f\n\r\t\b\f", "caf\u00e9 \u2713",
	"\u2028\u2029", "bad\xff\xfe utf-8", "\x80lone", "del\x7f", "<1.0@example.org>", " 250 2.0.0 Ok"}

var fillFloats = []float64{0, 1, 0.5, 97.865, 1145.392, 1e-6, 9.99e-7, 1e-7, 123456789.125, 1e20, 1e21, 3e22, -2.5, math.Copysign(0, -1),
	0.1 + 0.2, 5e-324, math.MaxFloat64}

var fillZones = []*time.Location{time.UTC, time.Local, time.FixedZone("Z0", 0), time.FixedZone("CET", 3600), time.FixedZone("X", -(9*3600 + 30*60))}

func (f *jsonFiller) fill(v reflect.Value) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(f.time()))
		return
	}
	zero := !f.full && f.r.IntN(3) == 0
	switch v.Kind() {
	case reflect.String:
		s := fillStrings[f.r.IntN(len(fillStrings))]
		if f.full && s == "" {
			s = "x"
		}
		if !zero {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		if !zero {
			v.SetInt(f.r.Int64N(1<<40) - 1<<20)
		}
		if f.full && v.Int() == 0 {
			v.SetInt(7)
		}
	case reflect.Float64:
		if !zero {
			v.SetFloat(fillFloats[f.r.IntN(len(fillFloats))])
		}
		if f.full && v.Float() == 0 {
			v.SetFloat(0.25)
		}
	case reflect.Bool:
		v.SetBool(f.full || f.r.IntN(2) == 0)
	case reflect.Pointer:
		if !zero {
			v.Set(reflect.New(v.Type().Elem()))
			f.fill(v.Elem())
		}
	case reflect.Slice:
		if zero {
			return // nil
		}
		n := 2
		if !f.full {
			n = f.r.IntN(3) // 0: empty, not nil
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if zero {
			return
		}
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k)
			f.fill(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	default:
		panic("jsonFiller: no rule for " + v.Type().String())
	}
}

// time is a time in [0, 9999] of one of several zones, some with a zero
// offset under other names, with nanoseconds that have trailing zeros or
// none.
func (f *jsonFiller) time() time.Time {
	if !f.full && f.r.IntN(4) == 0 {
		return time.Time{}
	}
	sec := f.r.Int64N(253402300799+62135596800) - 62135596800 // 0000-01-01 .. 9999-12-31 UTC
	if f.r.IntN(2) == 0 {
		// Times in a few seconds, as a connection's are (the encoder
		// keeps the last second it wrote).
		sec = 1709542800 + f.r.Int64N(3)
	}
	ns := []int64{0, 1, 10, 4460000, 123456789, 999999999, 500000000}[f.r.IntN(7)]
	t := time.Unix(sec, ns).In(fillZones[f.r.IntN(len(fillZones))])
	if y := t.Year(); y < 0 || y > 9999 {
		return t.UTC()
	}
	return t
}

// TestConnectionJSON checks that connectionJSON writes what
// json.Marshal writes, on connections filled at random and on ones with
// every field set.
func TestConnectionJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var e jsonEnc // reused, as the report reuses it
	for i := range 3000 {
		f := jsonFiller{r: r, full: i%10 == 0}
		var c Connection
		f.fill(reflect.ValueOf(&c).Elem())
		want, wantErr := json.Marshal(&c)
		if wantErr != nil {
			t.Fatalf("connection %d: json.Marshal: %v", i, wantErr)
		}
		got, err := e.connectionJSON(&c)
		if err != nil {
			t.Fatalf("connection %d: connectionJSON: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("connection %d: connectionJSON =\n%s\nwant (json.Marshal)\n%s", i, got, want)
		}
	}
}

// TestConnectionJSONErrors checks that connectionJSON fails where
// json.Marshal does, with its error: a float it cannot write, a year out
// of RFC 3339's range.
func TestConnectionJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Connection)
	}{
		{"NaN", func(c *Connection) { c.DurationMS = math.NaN() }},
		{"+Inf", func(c *Connection) { c.L4.Client.ZeroWindowMS = math.Inf(1) }},
		{"year 10000", func(c *Connection) { c.Start = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year -1", func(c *Connection) {
			c.SMTP = &SMTP{Commands: []Command{{Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}}
		}},
	}
	for _, tt := range tests {
		var c Connection
		tt.set(&c)
		_, wantErr := json.Marshal(&c)
		var e jsonEnc
		_, err := e.connectionJSON(&c)
		if err == nil || wantErr == nil || err.Error() != wantErr.Error() {
			t.Errorf("%s: connectionJSON error %v, want json.Marshal's %v", tt.name, err, wantErr)
		}
	}
}

// BenchmarkConnectionJSON writes the JSON of the delivered connection of
// BenchmarkBuilderAdd, as the report does for each connection.
func BenchmarkConnectionJSON(b *testing.B) {
	c := benchConnection(b)
	b.Run("connectionJSON", func(b *testing.B) {
		b.ReportAllocs()
		var e jsonEnc
		for range b.N {
			if _, err := e.connectionJSON(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := json.Marshal(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
