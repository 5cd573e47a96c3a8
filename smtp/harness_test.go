package smtp

import (
	"encoding/json"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// A test conversation is a list of steps; step i is frame i+1, captured
// i seconds after t0, so that frames and latencies can be read off a test.

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type stepKind int

const (
	stepData stepKind = iota
	stepGap
	stepFIN
	stepRST
)

type step struct {
	kind stepKind
	dir  reassembly.Direction
	data string
	n    int
	// skew is added to the step's capture time (a capture point whose
	// clock differs).
	skew time.Duration
	// acked, when ackSet, is the acknowledgment the step's bytes carry
	// under feedAcked, instead of all the other side sent before.
	acked  uint32
	ackSet bool
}

// skewed returns steps with the server's stamped 1.5 s early: each reply
// seems to come before the command it answers, as when the server's side
// was captured by a clock that runs behind.
func skewed(steps []step) []step {
	out := append([]step(nil), steps...)
	for i := range out {
		if out[i].dir == reassembly.ServerToClient {
			out[i].skew = -1500 * time.Millisecond
		}
	}
	return out
}

// C and S are bytes sent by the client and the server.
func C(s string) step { return step{kind: stepData, dir: reassembly.ClientToServer, data: s} }
func S(s string) step { return step{kind: stepData, dir: reassembly.ServerToClient, data: s} }

// CGap and SGap are n bytes lost from a direction.
func CGap(n int) step { return step{kind: stepGap, dir: reassembly.ClientToServer, n: n} }
func SGap(n int) step { return step{kind: stepGap, dir: reassembly.ServerToClient, n: n} }

// CFIN, SFIN, CRST and SRST are control events.
var (
	CFIN = step{kind: stepFIN, dir: reassembly.ClientToServer}
	SFIN = step{kind: stepFIN, dir: reassembly.ServerToClient}
	CRST = step{kind: stepRST, dir: reassembly.ClientToServer}
	SRST = step{kind: stepRST, dir: reassembly.ServerToClient}
)

func markOf(frame int) reassembly.Mark {
	return reassembly.Mark{Frame: frame, Time: t0.Add(time.Duration(frame-1) * time.Second)}
}

// feed plays steps into d without calling End.
func feed(d *Decoder, steps []step) {
	for i, s := range steps {
		feedStep(d, i, s)
	}
}

// feedStep plays step s, the i-th (from 0), into d, marked as frame i+1.
func feedStep(d *Decoder, i int, s step) {
	m := markOf(i + 1)
	m.Time = m.Time.Add(s.skew)
	switch s.kind {
	case stepData:
		d.Data(s.dir, []byte(s.data), reassembly.ConstMarker(m))
	case stepGap:
		d.Gap(s.dir, s.n, m)
	case stepFIN:
		d.Control(reassembly.EventFIN, s.dir, m)
	case stepRST:
		d.Control(reassembly.EventRST, s.dir, m)
	}
}

// run plays steps into a new decoder, ends it one frame after the last
// step, and returns the session.
func run(opts Options, steps ...step) *Session {
	d := NewDecoder(opts)
	feed(d, steps)
	d.End(markOf(len(steps) + 1))
	return d.Session()
}

// verbs lists a session's command verbs.
func verbs(s *Session) []string {
	out := []string{}
	for _, c := range s.Commands {
		out = append(out, c.Verb)
	}
	return out
}

// anomalyNames lists a session's anomaly names.
func anomalyNames(s *Session) []string {
	out := []string{}
	for _, a := range s.Anomalies {
		out = append(out, a.Name)
	}
	return out
}

func hasAnomaly(s *Session, name string) bool {
	for _, a := range s.Anomalies {
		if a.Name == name {
			return true
		}
	}
	return false
}

// dump renders a session as JSON for failure messages and secret checks.
func dump(s *Session) string {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}
