package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// noKeyReaderLeft fails the test if a key log reader's goroutine is still
// running a moment after: a live run stops its own and waits for it to
// say it ended before it returns (the goroutine may still be unwinding).
func noKeyReaderLeft(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 100 {
		stacks := buf[:runtime.Stack(buf, true)]
		if !strings.Contains(string(stacks), "(*keyReader).run") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("a key log reader goroutine is left running:\n%s", buf)
}

// keyLine is a key log line giving one secret for client random n.
func keyLine(n int) []byte {
	return []byte(fmt.Sprintf("CLIENT_RANDOM %064x %s\n", n, strings.Repeat("ab", 48)))
}

// TestKeyReaderBounded checks the hand-off between the key log reader and
// the analysis: while the analysis takes nothing, the reader reads once
// into the channel and once more into its hands, then waits, however
// long; what it read is taken in order; close stops it, reads a last
// time, and leaves no goroutine behind.
func TestKeyReaderBounded(t *testing.T) {
	var calls atomic.Int32
	kr := startKeyReader(func(into *tlskeys.KeyLog) int {
		n := int(calls.Add(1))
		into.Add("followed", keyLine(n))
		return 1
	}, time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); calls.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a hundred intervals more, nothing taken
	if n := calls.Load(); n != 2 {
		t.Errorf("%d reads while the analysis took nothing, want 2 (one handed over, one waiting)", n)
	}
	keys := tlskeys.NewKeyLog()
	for want := 1; want <= 2; want++ {
		deadline := time.Now().Add(5 * time.Second)
		got := kr.take()
		for got == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			got = kr.take()
		}
		if got == nil {
			t.Fatalf("read %d never handed over", want)
		}
		if keys.Merge("followed", got) != 1 || keys.Len() != want {
			t.Fatalf("read %d: key log of %d randoms, want %d", want, keys.Len(), want)
		}
	}
	rest := kr.close()
	if len(rest) == 0 {
		t.Errorf("close read nothing a last time")
	}
	for _, got := range rest {
		keys.Merge("followed", got)
	}
	if keys.Len() != int(calls.Load()) {
		t.Errorf("%d secrets merged, %d read: a read was lost", keys.Len(), calls.Load())
	}
	noKeyReaderLeft(t)
}

// TestLiveSlowKeyLog replays a capture as a live run whose key log read
// blocks (a hung file system) from its first call: the analysis reads
// every frame all the same, before the read is let go; then the run ends,
// its reader with it.
func TestLiveSlowKeyLog(t *testing.T) {
	name := filepath.Join(repoRoot, "testdata/scenarios/captures/tls-stall-13.pcapng")
	total := countFrames(t, name)
	f, err := capture.OpenFile(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &pacedFile{File: f}
	release, blocked := make(chan struct{}), make(chan struct{})
	var calls, frames atomic.Int32
	done := make(chan LiveResult)
	go func() {
		rep, res, err := LiveReport(context.Background(), src, nil, LiveOptions{
			Clock: func() time.Time { return src.now }, RingWait: true,
			Options: Options{TLSKeys: tlskeys.NewKeyLog()},
			Frame:   func(*capture.Frame) error { frames.Add(1); return nil },
			PollTLSKeys: func(*tlskeys.KeyLog) int {
				if calls.Add(1) == 1 {
					close(blocked)
					<-release
				}
				return 0
			},
		})
		if err != nil {
			t.Error(err)
		}
		rep.Close()
		done <- res
	}()
	<-blocked
	deadline := time.Now().Add(20 * time.Second)
	for int(frames.Load()) < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := frames.Load(); int(n) != total {
		t.Errorf("%d of %d frames analysed while the key log read was blocked", n, total)
	}
	select {
	case <-done:
		t.Fatal("the run ended while its key log read was blocked")
	default:
	}
	close(release)
	if res := <-done; res.Packets != total {
		t.Errorf("%d packets, want %d", res.Packets, total)
	}
	if calls.Load() < 2 {
		t.Errorf("%d key log reads, want the blocked one and the last one", calls.Load())
	}
	noKeyReaderLeft(t)
}

// countFrames counts a capture file's frames.
func countFrames(t *testing.T, name string) int {
	t.Helper()
	f, err := capture.OpenFile(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for {
		_, err := f.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}
