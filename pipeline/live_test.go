package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/report"
)

// pacedFile replays a capture file as a live interface delivers it: when
// the next frame is more than a read timeout ahead of the clock, Next
// times out and the clock moves on by the read timeout.
type pacedFile struct {
	*capture.File
	peek *capture.Frame
	data []byte
	now  time.Time
}

const pacedReadTimeout = 100 * time.Millisecond

func (p *pacedFile) Next() (capture.Frame, error) {
	if p.peek == nil {
		fr, err := p.File.Next()
		if err != nil {
			return fr, err
		}
		p.data = append(p.data[:0], fr.Data...)
		fr.Data = p.data
		p.peek = &fr
	}
	if p.now.IsZero() {
		p.now = p.peek.Time
	}
	if gap := p.peek.Time.Sub(p.now); gap > pacedReadTimeout {
		// A long silence passes in one step to its last 10 s, so that
		// captures spanning days replay in bounded time.
		p.now = p.now.Add(max(pacedReadTimeout, gap-10*time.Second))
		return capture.Frame{}, fmt.Errorf("paced: %w", capture.ErrTimeout)
	}
	fr := *p.peek
	p.peek = nil
	if fr.Time.After(p.now) {
		p.now = fr.Time
	}
	return fr, nil
}

// connKey is what the agreement test compares of a connection.
type connKey struct {
	stream, firstFrame, lastFrame int
	cause                         report.Cause
	summary                       string
	outcomes                      string
}

func keysOf(rep *report.Report) []connKey {
	var keys []connKey
	for i := range rep.Connections {
		c := &rep.Connections[i]
		k := connKey{stream: c.Stream, firstFrame: c.FirstFrame, lastFrame: c.LastFrame, cause: c.Diagnosis.Cause, summary: c.Diagnosis.Summary}
		if c.SMTP != nil {
			for _, tx := range c.SMTP.Transactions {
				k.outcomes += tx.Outcome + "/" + string(tx.Diagnosis.Cause) + " "
			}
		}
		keys = append(keys, k)
	}
	return keys
}

// TestLiveAgreesWithRun feeds every test capture through the live path
// (paced as an interface delivers it, incident rules running) and through
// Run as analyze does, and checks that both give the same connections,
// diagnoses, transaction outcomes, headline and totals; and that every
// incident told on the way names the cause the final report gives the
// same transaction (or connection), except eod-timeout, which is told
// before the end is known.
func TestLiveAgreesWithRun(t *testing.T) {
	compared := 0
	for _, name := range testCaptures(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			want, _, wantErr := Files(context.Background(), []string{name}, nil, Options{})
			if wantErr == nil {
				defer want.Close()
			}
			f, err := capture.OpenFile(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &pacedFile{File: f}
			b := report.NewBuilder(report.Options{})
			var told []report.Incident
			res := Live(context.Background(), src, b, LiveOptions{
				EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second,
				Incident: func(in *report.Incident) { told = append(told, *in) },
				Clock:    func() time.Time { return src.now },
				RingWait: true,
			})
			// A capture analyze refuses (tcpdump__dsa.pcap: every frame of
			// a link type smtpscope does not decode) cannot be refused up
			// front by live, which never knows that no decodable frame is
			// coming: it must count every frame as skipped instead.
			liveRefused := res.Err != nil && res.Packets == 0
			switch {
			case wantErr != nil && liveRefused:
				return
			case wantErr != nil:
				if len(res.Inputs) == 0 || res.Inputs[0].Reassembly == nil ||
					res.Inputs[0].Reassembly.UnsupportedLink == 0 ||
					res.Inputs[0].Reassembly.UnsupportedLink != res.Inputs[0].Reassembly.UnsupportedLink+res.Inputs[0].Reassembly.TCPFrames+res.Inputs[0].Reassembly.OtherFrames {
					t.Fatalf("analyze refused the capture (%v); live analysed %d packets without saying every frame was skipped: %+v", wantErr, res.Packets, res.Inputs)
				}
				return
			case liveRefused:
				t.Fatalf("analyze read the capture but live refused it: %v", res.Err)
			}
			got, err := b.Finish(res.Inputs)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			compared++
			if got.Verdict.Cause != want.Verdict.Cause || got.Verdict.Summary != want.Verdict.Summary {
				t.Errorf("live headline %+v\nanalyze headline %+v", got.Verdict, want.Verdict)
			}
			if got.Totals != want.Totals {
				t.Errorf("live totals %+v, analyze %+v", got.Totals, want.Totals)
			}
			gk, wk := keysOf(got), keysOf(want)
			if len(gk) != len(wk) {
				t.Fatalf("live %d connections, analyze %d", len(gk), len(wk))
			}
			for i := range gk {
				if gk[i] != wk[i] {
					t.Errorf("connection %d:\nlive    %+v\nanalyze %+v", i, gk[i], wk[i])
				}
			}
			for _, in := range told {
				if in.Kind == report.CauseEODTimeout {
					continue
				}
				cause := finalCause(got, &in)
				if in.Kind == report.CauseResetByServer && cause == report.CauseResetInjected {
					// Only the sender's packets after the reset show it
					// was forged (see report.Incident).
					continue
				}
				if cause != in.Kind {
					t.Errorf("incident %s on stream %d message %d (frame %d), but the report says %s", in.Kind, in.Stream, in.Message, in.Frame, cause)
				}
			}
		})
	}
	if compared < 50 {
		t.Errorf("only %d captures compared", compared)
	}
}

// finalCause is the report's cause for an incident's transaction, or its
// connection's for an incident of the connection.
func finalCause(rep *report.Report, in *report.Incident) report.Cause {
	for i := range rep.Connections {
		c := &rep.Connections[i]
		if c.Stream != in.Stream || in.Frame < c.FirstFrame || in.Frame > c.LastFrame {
			continue
		}
		if in.Message == 0 {
			return c.Diagnosis.Cause
		}
		if c.SMTP != nil && in.Message <= len(c.SMTP.Transactions) {
			return c.SMTP.Transactions[in.Message-1].Diagnosis.Cause
		}
	}
	return "(none)"
}
