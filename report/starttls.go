package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/smtp"
)

// STARTTLS stripped, by comparison: a connection's EHLO reply lists no
// STARTTLS although the same server offered it on other sessions of the
// same input. One session cannot show it (a server need not offer
// STARTTLS), so the Builder notes, as connections are added, which
// servers offered it and which healthy connections' replies lacked it,
// and at Finish gives those the cause starttls-stripped (RFC 3207 §4: a
// client sees STARTTLS only in the EHLO reply; something on the path that
// removes it, or a server policy that differs per client, leaves the
// client in plaintext). The masked names of firewall inspection
// (XXXXXXXA) are told by the connection alone (diagnoseTLS).

// Bounds of what a Builder keeps for the comparison: the connections
// whose EHLO reply lacked STARTTLS, per server and in all (a few dozen
// bytes each). Beyond them such connections are counted, not compared,
// and a warning says how many of them had a server that offered STARTTLS
// elsewhere.
const (
	maxStartTLSLackingPerServer = 256
	maxStartTLSLacking          = 20000
)

// startTLSKey is a server in one input.
type startTLSKey struct {
	input  int
	server netip.AddrPort
}

// startTLSOffer is the first session in which a server offered STARTTLS,
// and how many did.
type startTLSOffer struct {
	n int
	// first, stream and frame are the first offering connection's first
	// frame, tcp.stream and EHLO reply frame.
	first, stream, frame int
}

// startTLSLacking is a healthy connection whose EHLO reply lacked
// STARTTLS: where the Builder keeps it (pos, -1 when not listed) and what
// the aggregates need of it.
type startTLSLacking struct {
	key                     startTLSKey
	pos, stream, firstFrame int
	start                   time.Time
	client, server          string // as the report writes them (redacted or not)
	// ehloFrame and ehloTime are the EHLO reply's; gaveUp says the client
	// sent no MAIL after it.
	ehloFrame int
	ehloTime  time.Time
	gaveUp    bool
}

// startTLSOffers is what the Builder notes for the comparison.
type startTLSOffers struct {
	offered map[startTLSKey]*startTLSOffer
	lacking []startTLSLacking
	// kept counts the lacking connections kept per server, dropped those
	// beyond the bounds.
	kept, dropped map[startTLSKey]int
}

// startTLSSeen says what a session showed of STARTTLS before TLS.
type startTLSSeen int

const (
	startTLSUnknown startTLSSeen = iota // no complete EHLO reply to judge by
	startTLSOffered                     // the EHLO reply listed STARTTLS, or STARTTLS was accepted
	startTLSLacked                      // an accepted EHLO reply without STARTTLS, no TLS
)

// startTLSOf reads a session: whether its server offered STARTTLS, or
// whether a complete EHLO reply before any TLS lacked it. A session cut by
// the capture (mid-stream, a gap, more extensions than kept) is not judged.
func startTLSOf(s *smtp.Session) (startTLSSeen, Evidence, string) {
	if offer, ok := offeredSTARTTLS(s); ok {
		return startTLSOffered, offer, ""
	}
	if !startTLSJudged(s) {
		return startTLSUnknown, Evidence{}, ""
	}
	var ehlo Evidence
	next := "gave up"
	for i := range s.Commands {
		switch c := &s.Commands[i]; {
		case c.Verb == "STARTTLS":
			return startTLSUnknown, Evidence{}, ""
		case isEHLO(c) && !c.Reply.Partial:
			ehlo = Evidence{Frame: c.Reply.Frame, Time: c.Reply.Time, What: "the EHLO reply lists no STARTTLS"}
		case c.Verb == "MAIL" && ehlo.Frame != 0:
			next = "went on in plaintext"
		}
	}
	if ehlo.Frame == 0 {
		return startTLSUnknown, Evidence{}, ""
	}
	return startTLSLacked, ehlo, next
}

// isEHLO reports whether c is an EHLO (or LHLO) the server accepted.
func isEHLO(c *smtp.Command) bool {
	return (c.Verb == "EHLO" || c.Verb == "LHLO") && c.Reply != nil && c.Reply.Class() == 2
}

// offeredSTARTTLS tells whether the session's server offered STARTTLS (its
// EHLO reply listed it, or it accepted STARTTLS), with the last EHLO reply
// accepted before TLS as the evidence.
func offeredSTARTTLS(s *smtp.Session) (Evidence, bool) {
	var offer Evidence
	accepted := false
	for i := range s.Commands {
		c := &s.Commands[i]
		if c.Verb == "STARTTLS" {
			accepted = c.Reply != nil && c.Reply.Code == 220
			break
		}
		if isEHLO(c) {
			offer = Evidence{Frame: c.Reply.Frame, Time: c.Reply.Time, What: "the EHLO reply offers STARTTLS"}
		}
	}
	if accepted {
		return offer, true
	}
	for _, e := range s.Extensions {
		if e == "STARTTLS" || strings.HasPrefix(e, "STARTTLS ") {
			return offer, true
		}
	}
	return Evidence{}, false
}

// startTLSJudged reports whether the session shows all of its EHLO reply
// before any TLS: not cut by the capture, no more extensions than kept,
// no masked names (their own rule, diagnoseTLS).
func startTLSJudged(s *smtp.Session) bool {
	if s.TLS != nil || s.MidStream || len(s.Extensions) == 0 || len(s.Extensions) >= 64 {
		return false
	}
	for _, a := range s.Anomalies {
		if a.Name == smtp.AnomalyContentGap {
			return false
		}
	}
	for _, e := range s.Extensions {
		if isMaskedExtension(e) {
			return false
		}
	}
	return true
}

// note records what connection c (added at pos, -1 when not listed)
// showed of STARTTLS; only a connection diagnosed ok with no failed
// message may be given the cause at Finish.
func (o *startTLSOffers) note(f *Facts, c *Connection, pos int) {
	if f.Session == nil || !f.Session.IsSMTP {
		return
	}
	seen, ehlo, next := startTLSOf(f.Session)
	if seen == startTLSUnknown {
		return
	}
	key := startTLSKey{f.Input, f.Conn.Server}
	if seen == startTLSOffered {
		if o.offered == nil {
			o.offered = map[startTLSKey]*startTLSOffer{}
		}
		of := o.offered[key]
		if of == nil || c.FirstFrame < of.first {
			// The offer named is the first in the capture, whatever the
			// order connections ended in.
			if of == nil {
				of = &startTLSOffer{}
				o.offered[key] = of
			}
			of.first, of.stream, of.frame = c.FirstFrame, c.Stream, cmp.Or(ehlo.Frame, c.FirstFrame)
		}
		of.n++
		return
	}
	if c.Diagnosis.Cause != CauseOK || connectionFailed(c) {
		return
	}
	if o.kept == nil {
		o.kept, o.dropped = map[startTLSKey]int{}, map[startTLSKey]int{}
	}
	if len(o.lacking) >= maxStartTLSLacking || o.kept[key] >= maxStartTLSLackingPerServer {
		o.dropped[key]++
		return
	}
	o.kept[key]++
	o.lacking = append(o.lacking, startTLSLacking{key: key, pos: pos, stream: c.Stream, firstFrame: c.FirstFrame, start: c.Start,
		client: c.Client, server: c.Server, ehloFrame: ehlo.Frame, ehloTime: ehlo.Time, gaveUp: next == "gave up"})
}

// connection is the part of the Connection the aggregates read, with
// diagnosis d.
func (l *startTLSLacking) connection(d Diagnosis) Connection {
	return Connection{Input: l.key.input, Stream: l.stream, FirstFrame: l.firstFrame, Start: l.start, Server: l.server,
		SMTP: &SMTP{}, Diagnosis: d}
}

// stripped is the diagnosis of a connection whose EHLO reply lacked
// STARTTLS while its server offered it on n other sessions.
func (l *startTLSLacking) stripped(of *startTLSOffer) Diagnosis {
	other := fmt.Sprintf("%d other session", of.n)
	if of.n > 1 {
		other += "s"
	}
	next := "went on in plaintext"
	if l.gaveUp {
		next = "gave up"
	}
	return Diagnosis{Layer: LayerTLS, Cause: CauseStartTLSStripped,
		Filter:   fmt.Sprintf("frame.number in {%d,%d}", min(l.ehloFrame, of.frame), max(l.ehloFrame, of.frame)),
		Evidence: []Evidence{{Frame: l.ehloFrame, Time: l.ehloTime, What: "the EHLO reply lists no STARTTLS"}},
		Summary: fmt.Sprintf("The EHLO reply lists no STARTTLS, although the same server offered it on %s in this capture (first in stream %d): something on the path removed it (a firewall's ESMTP inspection), or the server's policy for this client differs; the client could not upgrade to TLS and %s.",
			other, of.stream, next)}
}

// finish gives the cause to the connections whose server offered
// STARTTLS elsewhere: in the Builder's list (rewritten in its temporary
// file when there) and in the aggregates, and tells OnRevise. It returns the warning of
// connections not compared, "" when none.
func (b *Builder) finishStartTLS() string {
	o := &b.offers
	if len(o.offered) > 0 && b.store != nil {
		if err := b.store.w.Flush(); err != nil {
			b.err = err
			return ""
		}
	}
	for i := range o.lacking {
		l := &o.lacking[i]
		of := o.offered[l.key]
		if of == nil {
			continue
		}
		d := l.stripped(of)
		switch {
		case l.pos < 0:
		case b.store == nil:
			b.conns[l.pos].Diagnosis = d
		default:
			c, err := b.store.get(&b.index[l.pos])
			if err != nil {
				b.err = err
				return ""
			}
			c.Diagnosis = d
			m := metaOf(c)
			if err := b.store.put(c, &m); err != nil {
				b.err = err
				return ""
			}
			b.index[l.pos] = m
		}
		c := l.connection(d)
		b.agg.recause(&c)
		if b.onRevise != nil {
			b.onRevise(&Revision{Input: l.key.input, Stream: l.stream, FirstFrame: l.firstFrame, Start: l.start,
				Client: l.client, Server: l.server, Was: CauseOK, Diagnosis: d, Failed: connectionFailed(&c)})
		}
	}
	if b.store != nil {
		if err := b.store.w.Flush(); err != nil {
			b.err = err
		}
	}
	dropped := 0
	for key, n := range o.dropped {
		if o.offered[key] != nil {
			dropped += n
		}
	}
	if dropped > 0 {
		return fmt.Sprintf("%d more connections whose EHLO reply lacked STARTTLS, to servers that offered it on other sessions, are not counted as starttls-stripped: the report compares at most %d per server and %d in all",
			dropped, maxStartTLSLackingPerServer, maxStartTLSLacking)
	}
	return ""
}

// recause counts a connection that was added with the cause ok, not
// failed, under its new cause: the headline's candidates and the causes
// summary (the server table counts failed connections only, and the
// messages' counts do not change).
func (a *aggregate) recause(c *Connection) {
	a.worstOf(c)
	a.summary.causeOf(c, connectionFailed(c))
}

// compareStartTLS is the live form of the comparison, for an open
// connection: a server's offer counts from the session that shows it, and
// a session whose complete EHLO reply lacked STARTTLS is told as
// starttls-stripped once the client's next command shows what it did, if
// the same server offered STARTTLS on an earlier session of the run (the
// report, at the end, compares with every session).
func (rules *IncidentRules) compareStartTLS(w *tlsWatch, f *Facts, tell func(Incident)) {
	s := f.Session
	key := startTLSKey{f.Input, f.Conn.Server}
	if offer, ok := offeredSTARTTLS(s); ok {
		w.compared = true
		if rules.offered == nil {
			rules.offered = map[startTLSKey]*startTLSOffer{}
		}
		of := rules.offered[key]
		if of == nil {
			of = &startTLSOffer{first: f.Conn.FirstFrame, stream: f.Conn.Stream, frame: cmp.Or(offer.Frame, f.Conn.FirstFrame)}
			rules.offered[key] = of
		}
		of.n++
		return
	}
	if !startTLSJudged(s) {
		return
	}
	seen, ehlo, next := startTLSOf(s)
	if seen != startTLSLacked || !clientWentOn(s, ehlo.Frame) {
		return
	}
	w.compared = true
	of := rules.offered[key]
	if of == nil || w.told {
		return
	}
	w.told = true
	l := startTLSLacking{stream: f.Conn.Stream, ehloFrame: ehlo.Frame, ehloTime: ehlo.Time, gaveUp: next == "gave up"}
	tell(incidentOf(l.stripped(of), ehlo.Frame, ehlo.Time))
}

// clientWentOn reports whether the client sent a command after the EHLO
// reply in frame ehlo (what it did next is known).
func clientWentOn(s *smtp.Session, ehlo int) bool {
	for i := len(s.Commands) - 1; i >= 0; i-- {
		if c := &s.Commands[i]; c.Frame > ehlo && c.Verb != "EHLO" && c.Verb != "LHLO" {
			return true
		}
	}
	return false
}
