package mtalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzRead reads data as a log and checks what every Session must hold.
func fuzzRead(t *testing.T, data []byte) {
	l, err := Read("fuzz", strings.NewReader(string(data)), Options{Reference: ref, Location: time.UTC})
	if err != nil {
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error on several lines: %q", err)
		}
		return
	}
	if len(l.Warnings) > MaxWarnings {
		t.Fatalf("%d warnings kept", len(l.Warnings))
	}
	for _, s := range l.Sessions {
		for _, e := range s.Events {
			if e.Line.Number < 1 || e.Line.Number > l.Lines {
				t.Fatalf("event line %d of %d", e.Line.Number, l.Lines)
			}
		}
		_ = s.Lines()
	}
}

func addSeeds(f *testing.F, glob string) {
	names, _ := filepath.Glob(glob)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err == nil {
			f.Add(data)
		}
	}
}

func FuzzExchange(f *testing.F) {
	addSeeds(f, "testdata/exchange-*")
	f.Fuzz(fuzzRead)
}

func FuzzPostfix(f *testing.F) {
	addSeeds(f, "testdata/postfix-*")
	f.Fuzz(fuzzRead)
}

func FuzzExim(f *testing.F) {
	addSeeds(f, "testdata/exim-*")
	f.Fuzz(fuzzRead)
}

func FuzzDetect(f *testing.F) {
	addSeeds(f, "testdata/*")
	f.Fuzz(fuzzRead)
}
