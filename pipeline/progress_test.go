package pipeline

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReadProgress checks that progress shows nothing for the first
// progressDelay, then the bytes read, and that it clears the line when
// done; and that it is off when standard error is no terminal.
func TestReadProgress(t *testing.T) {
	var out bytes.Buffer
	clock := time.Now()
	dw := &delayedWriter{w: &out, from: clock.Add(progressDelay), now: func() time.Time { return clock }}
	p := newProgressTo(dw, 10<<20)
	p.Add(1 << 20)
	clock = clock.Add(progressDelay - time.Millisecond)
	p.Add(1 << 20)
	if out.Len() != 0 {
		t.Fatalf("progress shown before %v: %q", progressDelay, out.String())
	}
	clock = clock.Add(time.Millisecond)
	time.Sleep(250 * time.Millisecond) // the bar's own throttle
	p.Add(1 << 20)
	if got := out.String(); !strings.Contains(got, "reading") || !strings.Contains(got, "3.1/10 MB") {
		t.Errorf("progress after %v = %q, want the description and 3.1/10 MB read", progressDelay, got)
	}
	p.Done()
	if got := out.String(); !strings.HasSuffix(got, "\r") {
		t.Errorf("progress not cleared when done: %q", got[max(0, len(got)-40):])
	}
	// Off: not a terminal (a buffer, or this test's standard error under
	// go test, which is a pipe or a file).
	if NewReadProgress(&out, 1) != nil || NewReadProgress(os.Stderr, 1) != nil {
		t.Error("progress on although standard error is not a terminal")
	}
	var nilProgress *ReadProgress
	nilProgress.Add(1)
	nilProgress.Done()
}
