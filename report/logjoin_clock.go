package report

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
	"github.com/smtpscope/smtpscope/smtp"
)

// A log's clock against the capture's, from the matched sessions.
//
// A log line is written at or after the event it reports: a logger can be
// late (busy, a queue run, slow TLS, a line written at the session's end)
// but never early, unless its clock is behind. Each matched session gives
// one offset, the smallest over its lines (from its connect line on:
// Exchange's "attempting to connect" is written before the SYN) of the
// line's time minus the earliest wire time of what it reports: the
// connection's first packet, or for a delivery verdict quoting the peer's
// reply (a Postfix status=, an Exim C=) the first reply on the wire with
// that code and text. The skew can be no more than the smallest of these plus
// twice the time stamps' resolution (clockEstimate.max): that upper bound
// is all the data prove. An MTA
// that logs every line late by d on a shared clock and one whose clock is d
// ahead write the same log, so a positive offset is reported as "late or
// ahead", never as a skew; only a bound below zero proves the log's clock is
// behind. The times are aligned by the lower envelope, the smallest offset,
// which puts no line before the wire event it reports.

// The claims about a log's clock (LogInput.Clock).
const (
	// ClockBehind: a line would precede its connection's first packet
	// unless the log's clock is behind the capture's by at least
	// -SkewMaxMS.
	ClockBehind = "behind"
	// ClockNoSkewShown: the earliest lines fall on their events within
	// the time stamps' resolution; a clock ahead by up to SkewMaxMS is not
	// excluded.
	ClockNoSkewShown = "no-skew-shown"
	// ClockLateOrAhead: every session's lines come at least SkewMS after
	// its connection opened: the MTA logged late or its clock is ahead by
	// up to SkewMaxMS; the capture cannot tell which.
	ClockLateOrAhead = "late-or-ahead"
)

// clockEstimate is the lower envelope of a log's session offsets.
type clockEstimate struct {
	envelope   time.Duration // smallest offset: the alignment
	resolution time.Duration // of the log's time stamps
	from       int           // sessions
}

// maxAnchorReplies bounds joinKey.replies: a connection's distinct server
// replies beyond it are not used as anchors (fewer anchors only loosen
// the bound; the memory of the join stays small per connection).
const maxAnchorReplies = 16

// anchorReply is the earliest server reply on the wire with a code and text.
type anchorReply struct {
	code int
	text uint64 // hash of the text, see replyTextHash
	at   time.Time
}

// replyTextHash hashes a reply's enhanced code and text as a log and the
// wire both have them: case and surrounding space ignored.
func replyTextHash(enhanced, text string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(strings.TrimSpace(enhanced + " " + strings.TrimSpace(text)))))
	return h.Sum64()
}

// anchorRepliesOf lists s's complete server replies, the earliest of each
// code and text, at most maxAnchorReplies.
func anchorRepliesOf(s *smtp.Session) []anchorReply {
	var out []anchorReply
	add := func(r *smtp.Reply) {
		if r == nil || r.Partial || r.Time.IsZero() {
			return
		}
		enh := ""
		if r.Enhanced != (smtp.EnhancedCode{}) {
			enh = r.Enhanced.String()
		}
		w := anchorReply{code: r.Code, text: replyTextHash(enh, r.Text), at: r.Time}
		for i := range out {
			if out[i].code == w.code && out[i].text == w.text {
				if w.at.Before(out[i].at) {
					out[i].at = w.at
				}
				return
			}
		}
		if len(out) < maxAnchorReplies {
			out = append(out, w)
		}
	}
	add(s.Banner)
	for i := range s.Commands {
		add(s.Commands[i].Reply)
	}
	for i := range s.Transactions {
		add(s.Transactions[i].Reply)
	}
	return out
}

// eventTime is the earliest wire time the event can report: the
// connection's first packet, or for a delivery verdict quoting the peer's
// reply the earliest reply on the wire with that code and text. Only a
// verdict: it cannot be written before the reply it rests on, while a
// line logging a reply as such (Exchange's "<") may be stamped when the
// read began; the lab's Exchange-format logs, written from the client's
// own record, stamp some replies at their command's time.
func eventTime(e *mtalog.Event, k *joinKey) time.Time {
	at := k.start
	if e.Kind != mtalog.EventDelivery || e.Reply == nil || !e.Remote {
		return at
	}
	h := replyTextHash(e.Reply.Enhanced, e.Reply.Text)
	for _, w := range k.replies {
		if w.code == e.Reply.Code && w.text == h && w.at.After(at) {
			at = w.at
		}
	}
	return at
}

// sessionOffset is the smallest of s's lines' offsets from the earliest
// wire time of the events they report (lines from its connect event on);
// ok is false when s has no line.
func sessionOffset(s *mtalog.Session, k *joinKey) (time.Duration, bool) {
	evs := s.Events
	for i, e := range evs {
		if e.Kind == mtalog.EventConnect {
			evs = evs[i:]
			break
		}
	}
	var best time.Duration
	ok := false
	for _, e := range evs {
		if e.Line.Time.IsZero() {
			continue
		}
		if d := e.Line.Time.Sub(eventTime(&e, k)); !ok || d < best {
			best, ok = d, true
		}
	}
	return best, ok
}

// stampResolution is the coarsest of 1 s, 1 ms and 1 µs of which every
// time stamp of the log's sessions is a multiple: a log that stamps whole
// seconds (classic syslog, maillog_file) puts a line up to a second before
// the instant it was written.
func stampResolution(l *mtalog.Log) time.Duration {
	res := time.Second
	for si := range l.Sessions {
		for _, e := range l.Sessions[si].Events {
			ns := e.Line.Time.Nanosecond()
			switch {
			case ns%int(time.Microsecond) != 0:
				return time.Nanosecond
			case ns%int(time.Millisecond) != 0:
				res = min(res, time.Microsecond)
			case ns != 0:
				res = min(res, time.Millisecond)
			}
		}
	}
	return res
}

// estimateClock takes the lower envelope of the matched sessions' offsets:
// of the strongly matched ones (both ends, a client's port, a queue ID or
// Message-ID) where there are any, since one session matched by time to
// the wrong connection would be taken for a clock behind.
func estimateClock(l *mtalog.Log, matched []pair, keys []joinKey) clockEstimate {
	est := clockEstimate{resolution: stampResolution(l)}
	strong := slices.ContainsFunc(matched, func(p pair) bool { return p.strong })
	for _, p := range matched {
		if strong && !p.strong {
			continue
		}
		d, ok := sessionOffset(&l.Sessions[p.sess], &keys[p.conn])
		if !ok {
			continue
		}
		if est.from == 0 || d < est.envelope {
			est.envelope = d
		}
		est.from++
	}
	return est
}

// max is the most the skew can be: the envelope plus twice the
// resolution. A stamp is cut to its unit, and may also read a clock up
// to a unit stale: Postfix's smtp client stamps a delivery with its event
// loop's cached time (postfix-callout.maillog: status=sent stamped
// 02:30:00 for the relay's 250 at 02:30:01.003 on the wire, the same
// clock), so a line one unit early proves no skew.
func (e clockEstimate) max() time.Duration { return e.envelope + 2*e.resolution }

// claim is what the estimate proves, one of the Clock constants.
func (e clockEstimate) claim() string {
	switch {
	case e.max() < 0:
		return ClockBehind
	case e.envelope <= e.resolution:
		return ClockNoSkewShown
	}
	return ClockLateOrAhead
}

// clockText says what a log's clock claim means, for the text renderers.
func clockText(l *LogInput) string {
	res := time.Duration(l.ResolutionMS * float64(time.Millisecond)).String()
	switch l.Clock {
	case ClockBehind:
		return fmt.Sprintf("log clock at least %.3f s behind the capture's (%d sessions, %s time stamps); times aligned by %+.3f s",
			-l.SkewMaxMS/1000, l.SkewFrom, res, l.SkewMS/1000)
	case ClockNoSkewShown:
		return fmt.Sprintf("log clock: no skew shown (%d sessions, %s time stamps); times aligned by %+.3f s",
			l.SkewFrom, res, l.SkewMS/1000)
	case ClockLateOrAhead:
		return fmt.Sprintf("log lines %.3f s or more after their connections opened: late logging or a clock up to %.3f s ahead, the capture cannot tell (%d sessions); times aligned by %+.3f s",
			l.SkewMS/1000, l.SkewMaxMS/1000, l.SkewFrom, l.SkewMS/1000)
	}
	return ""
}
