package pipeline

import (
	"time"

	"github.com/smtpscope/smtpscope/tlskeys"
)

// keyReader reads a live run's followed key logs (LiveOptions.PollTLSKeys)
// on a goroutine of its own, every tlsKeyPollEvery, so that a slow file
// system never holds up the analysis, and hands what they gained over to
// the analysis goroutine: one KeyLog per read that gave something, which
// the analysis merges into its own (tlskeys.KeyLog.Merge). The hand-off
// is bounded: one KeyLog waits in the channel and one in the reader's
// hands at most; the reader reads no more until the analysis takes one.
// Only the reader calls poll, until close has stopped it.
type keyReader struct {
	poll func(*tlskeys.KeyLog) int
	out  chan *tlskeys.KeyLog
	// stop asks the reader to end; done is closed when it has. unsent is
	// what it read and could not hand over before it was stopped, for
	// close to take.
	stop, done chan struct{}
	unsent     *tlskeys.KeyLog
}

// startKeyReader starts the goroutine that calls poll every interval.
// Its owner stops it with close.
func startKeyReader(poll func(*tlskeys.KeyLog) int, every time.Duration) *keyReader {
	kr := &keyReader{poll: poll, out: make(chan *tlskeys.KeyLog, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go kr.run(every)
	return kr
}

// run is the reader's goroutine.
func (kr *keyReader) run(every time.Duration) {
	defer close(kr.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if got := kr.read(); got != nil {
			select {
			case kr.out <- got:
			case <-kr.stop:
				kr.unsent = got
				return
			}
		}
		select {
		case <-tick.C:
		case <-kr.stop:
			return
		}
	}
}

// read reads the key logs once into a new KeyLog; nil when they gave
// nothing (no secret, no bad line, no unknown label).
func (kr *keyReader) read() *tlskeys.KeyLog {
	got := tlskeys.NewKeyLog()
	if kr.poll(got) == 0 && got.BadLines() == 0 && len(got.UnknownLabels()) == 0 {
		return nil
	}
	return got
}

// take returns a KeyLog the reader handed over, nil when none waits. It
// never blocks.
func (kr *keyReader) take() *tlskeys.KeyLog {
	select {
	case got := <-kr.out:
		return got
	default:
		return nil
	}
}

// close stops the reader and waits for it to end (a read under way ends
// first: each reads at most a bounded part of each file). Then, on the
// caller's goroutine, it reads the key logs a last time, so that lines
// written just before the capture ended count, and returns what the
// reader had read and the analysis not taken, and what that read gave,
// in order.
func (kr *keyReader) close() []*tlskeys.KeyLog {
	close(kr.stop)
	<-kr.done
	var out []*tlskeys.KeyLog
	for _, got := range []*tlskeys.KeyLog{kr.take(), kr.unsent, kr.read()} {
		if got != nil {
			out = append(out, got)
		}
	}
	return out
}
