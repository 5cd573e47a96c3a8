package mtalog

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Exim main log (the Exim specification, chapter "Log files"): a time
// stamp "2026-12-01 22:30:00" (".123" with +millisec, a zone with
// log_timezone, "[pid]" with +pid), then for a message its ID and a flag:
// "<=" arrival, "=>" delivery, "->" another address of the same delivery,
// "==" deferred, "**" failed, "*>" suppressed. H=name (helo) [ip]:port
// names the peer; C="…" quotes the peer's reply to the end of data
// (+smtp_confirmation, on by default); DT= says how long a delivery took
// (+deliver_time); a deferral's or failure's text says
// "SMTP error from remote mail server after end of data: 452 …" or
// "SMTP timeout after end of data (N bytes written)".

// eximTime is the main log's time stamp layout.
const eximTime = "2006-01-02 15:04:05"

// isEximLine tells whether s looks like an Exim main log line with a
// message flag.
func isEximLine(s string) bool {
	_, rest, ok := eximPrefix(s, time.UTC)
	if !ok {
		return false
	}
	f := strings.Fields(rest)
	return len(f) >= 2 && isEximID(f[0]) && eximFlags[f[1]] != ""
}

// eximFlags maps a flag to the Event status it stands for.
var eximFlags = map[string]string{"<=": "arrived", "=>": "sent", "->": "sent", "==": "deferred", "**": "bounced", "*>": "suppressed"}

// eximPrefix reads the time stamp, an optional zone and "[pid]".
func eximPrefix(s string, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 20 || s[4] != '-' || s[10] != ' ' || s[13] != ':' {
		return time.Time{}, "", false
	}
	end := 19
	if len(s) > 20 && s[19] == '.' {
		end = 20
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
	}
	t, err := time.ParseInLocation(eximTime+".999999999", s[:end], loc)
	if err != nil {
		return time.Time{}, "", false
	}
	rest := strings.TrimLeft(s[end:], " ")
	if len(rest) >= 5 && (rest[0] == '+' || rest[0] == '-') {
		if z, err := time.Parse("-0700", rest[:5]); err == nil {
			_, off := z.Zone()
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone("", off))
			rest = strings.TrimLeft(rest[5:], " ")
		}
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i > 0 {
			rest = strings.TrimLeft(rest[i+1:], " ")
		}
	}
	return t, rest, true
}

// isEximID tells whether s is an Exim message ID: "10HmaX-0005vi-00"
// (6-6-2) or, since 4.97, "1rZ0Yb-0000000012u-0Zb7" (6-11-4).
func isEximID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) != 6 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
	}
	return (len(parts[1]) == 6 && len(parts[2]) == 2) || (len(parts[1]) == 11 && len(parts[2]) == 4)
}

// eximParser makes a session of each incoming SMTP connection (the
// receiving side; with log_selector +smtp_connection Exim logs its start
// and end, and the arrivals "<=" from the same peer in between join it;
// without, each arrival is a session) and of each delivery attempt to a
// host (the sending side; "->" lines join the "=>" before them).
type eximParser struct {
	log  *Log
	opts Options
	sess []Session
	// last maps a message ID to its latest delivery session, for "->".
	last map[string]int
	// ids maps a message ID to its Message-ID, from its arrival.
	ids map[string]string
	// open maps a peer's address and port to its incoming connection's
	// session, between "SMTP connection from" and its end (only with
	// +incoming_port: an address alone may have several connections).
	open map[netip.AddrPort]int
}

func newEximParser(log *Log, opts Options) *eximParser {
	return &eximParser{log: log, opts: opts, last: map[string]int{}, ids: map[string]string{}, open: map[netip.AddrPort]int{}}
}

func (p *eximParser) line(n int, text string) {
	if strings.HasPrefix(text, " ") || strings.HasPrefix(text, "\t") {
		return // the continuation of a multi-line entry ("  Suggested action: …")
	}
	t, rest, ok := eximPrefix(text, p.opts.Location)
	if !ok {
		p.log.warn(n, "no Exim time stamp")
		return
	}
	p.log.seen(t)
	if p.connection(n, t, text, rest) {
		return
	}
	id, rest, _ := strings.Cut(rest, " ")
	if !isEximID(id) {
		return // a line about the daemon or a connection, not a message
	}
	flag, rest, _ := strings.Cut(rest, " ")
	status := eximFlags[flag]
	if status == "" {
		return // "Completed", frozen, …
	}
	line := Line{Source: p.log.Name, Number: n, Time: t, Text: text, Message: id + " " + flag + " " + rest}
	peer := eximHost(rest)
	ev := Event{Kind: EventDelivery, Line: line, Status: status}
	if status == "arrived" {
		p.arrival(id, rest, peer, ev)
		return
	}
	if !peer.Addr.IsValid() {
		// "SMTP timeout while connected to host [ip] after …" names the
		// host in the text instead.
		// "… after MAIL FROM:<…>: host h [ip]: 450 …" (older Exim) in it.
		for _, marker := range []string{"connected to ", ": host "} {
			if _, after, ok := strings.Cut(rest, marker); ok && !peer.Addr.IsValid() {
				peer = eximPeer(after)
			}
		}
	}
	if !peer.Addr.IsValid() {
		return // a local delivery or a retry-time line: no connection
	}
	var s *Session
	if i, ok := p.last[id]; ok && flag == "->" && p.sess[i].Remote == peer {
		s = &p.sess[i]
	} else {
		p.last[id] = len(p.sess)
		p.sess = append(p.sess, Session{Format: FormatExim, Role: RoleClient, ID: id, Remote: peer, Start: t, QueueIDs: []string{id}})
		s = &p.sess[len(p.sess)-1]
		if mid := p.ids[id]; mid != "" {
			s.MessageIDs = []string{mid}
		}
	}
	s.End = t
	// DT= (+deliver_time) is how long the delivery took: the connection
	// began that long before the line, which is written at its end.
	if dt, err := time.ParseDuration(strings.TrimRight(eximField(rest, "DT"), ":")); err == nil && dt > 0 && dt < 24*time.Hour {
		if st := t.Add(-dt); st.Before(s.Start) {
			s.Start = st
		}
	}
	if c := eximField(rest, "C"); c != "" {
		if rp, ok := parseReply(c); ok {
			ev.Reply, ev.Remote, ev.Stage = &rp, true, StageEndOfData
			if q := queuedAs(rp.Text); q != "" {
				s.QueuedAs = appendNew(s.QueuedAs, q)
			}
		}
	}
	eximFailure(rest, &ev)
	s.Events = append(s.Events, ev)
}

// arrival adds a message's arrival ("<=" line ev, rest after the flag,
// from peer) to its incoming connection's session, or to a session of its
// own when the connection is not known; a local submission has none.
func (p *eximParser) arrival(id, rest string, peer Endpoint, ev Event) {
	if !peer.Addr.IsValid() {
		return // a local submission: no SMTP connection
	}
	t := ev.Line.Time
	i, ok := p.open[peer.AddrPort()]
	if !ok || peer.Port == 0 {
		i = len(p.sess)
		p.sess = append(p.sess, Session{Format: FormatExim, Role: RoleServer, ID: id, Remote: peer, Start: t})
	}
	s := &p.sess[i]
	s.End = t
	s.QueueIDs = appendNew(s.QueueIDs, id)
	if mid := eximField(rest, "id"); mid != "" {
		mid = "<" + strings.Trim(mid, "<>") + ">"
		s.MessageIDs = appendNew(s.MessageIDs, mid)
		p.ids[id] = mid
	}
	ev.Kind = EventInfo
	s.Events = append(s.Events, ev)
}

// connection reads the lines +smtp_connection adds about an incoming SMTP
// connection: "SMTP connection from [ip]:port (TCP/IP connection count =
// N)" opens a session, "SMTP connection from (helo) [ip]:port closed by
// QUIT" and "… lost D=0.001s" end it; "unexpected disconnection while
// reading SMTP command from …", "SMTP command timeout on connection from
// …" and "SMTP data timeout (message abandoned) on connection from …" are
// Exim's own words about its client. It reports whether rest was such a
// line.
func (p *eximParser) connection(n int, t time.Time, text, rest string) bool {
	const from = "SMTP connection from "
	var peer Endpoint
	ev := Event{Kind: EventInfo, Line: Line{Source: p.log.Name, Number: n, Time: t, Text: text, Message: rest}}
	opens, ends := false, false
	switch {
	case strings.HasPrefix(rest, from):
		peer = eximPeer(rest[len(from):])
		_, after, _ := strings.Cut(rest[len(from):], "]")
		switch {
		case strings.Contains(after, "(TCP/IP connection count"):
			opens, ev.Kind = true, EventConnect
		case strings.Contains(after, " closed by QUIT"):
			ends, ev.Kind = true, EventDisconnect
		case strings.Contains(after, " lost"), strings.Contains(after, " closed"):
			ends, ev.Kind = true, EventLocal
		}
	case strings.HasPrefix(rest, "unexpected disconnection while reading SMTP command from "),
		strings.HasPrefix(rest, "SMTP command timeout on connection from "),
		strings.HasPrefix(rest, "SMTP data timeout (message abandoned) on connection from "):
		_, after, _ := strings.Cut(rest, " from ")
		peer, ends, ev.Kind = eximPeer(after), true, EventLocal
		if strings.HasPrefix(rest, "SMTP data timeout") {
			ev.Stage = StageBody
		}
	default:
		return false
	}
	if !peer.Addr.IsValid() || peer.Port == 0 {
		return true // no port: the connection cannot be told from others of its address
	}
	key := peer.AddrPort()
	i, ok := p.open[key]
	if opens || !ok {
		i = len(p.sess)
		p.sess = append(p.sess, Session{Format: FormatExim, Role: RoleServer, ID: from + key.String(), Remote: peer, Start: t})
		p.open[key] = i
	}
	s := &p.sess[i]
	s.End = t
	if !s.Remote.Addr.IsValid() || s.Remote.Host == "" {
		s.Remote = peer
	}
	s.Events = append(s.Events, ev)
	if ends {
		delete(p.open, key)
	}
	return true
}

// eximFailure reads what a delivery line says went wrong, if anything:
// the remote server's error reply and the stage it answered, or a
// timeout or failed connection Exim noted itself.
func eximFailure(rest string, ev *Event) {
	if _, after, ok := strings.Cut(rest, "SMTP error from remote mail server after "); ok {
		// "… after end of data: host h [ip]: 452 4.3.1 …" (older Exim) or
		// "… after end of data: 452 4.3.1 …"
		stageText, reply, _ := strings.Cut(after, ": ")
		if strings.HasPrefix(reply, "host ") {
			_, reply, _ = strings.Cut(reply, "]: ")
		}
		if rp, ok := parseReply(reply); ok {
			ev.Reply, ev.Remote = &rp, true
		}
		ev.Stage = eximStage(stageText)
	} else if i := strings.Index(rest, "SMTP timeout"); i >= 0 {
		ev.Kind = EventLocal
		if _, after, ok := strings.Cut(rest[i:], " after "); ok {
			ev.Stage = eximStage(after)
		}
	} else if strings.Contains(rest, "Connection refused") || strings.Contains(rest, "Connection timed out") && !strings.Contains(rest, " after ") {
		ev.Kind, ev.Stage = EventLocal, StageConnect
	}
}

// eximStage reads "end of data", "MAIL FROM:<…>", "RCPT TO:<…>", "DATA",
// "initial connection", "EHLO …".
func eximStage(s string) Stage {
	switch {
	case strings.HasPrefix(s, "end of data"):
		return StageEndOfData
	case strings.HasPrefix(s, "MAIL"):
		return StageMail
	case strings.HasPrefix(s, "RCPT"):
		return StageRcpt
	case strings.HasPrefix(s, "DATA"):
		return StageData
	case strings.HasPrefix(s, "sending data block"):
		return StageBody
	case strings.HasPrefix(s, "initial connection"), strings.HasPrefix(s, "pipelined"):
		return StageGreeting
	case strings.HasPrefix(s, "EHLO"), strings.HasPrefix(s, "HELO"), strings.HasPrefix(s, "STARTTLS"):
		return StageHelo
	}
	return ""
}

// eximHost reads the H= field: "H=name (helo) [ip]:port", "H=[ip]:port",
// "H=(helo) [ip]".
func eximHost(s string) Endpoint {
	i := strings.Index(s, " H=")
	if i < 0 {
		if !strings.HasPrefix(s, "H=") {
			return Endpoint{}
		}
		i = -1
	}
	return eximPeer(s[i+3:])
}

// eximPeer reads "name (helo) [ip]:port" up to the first "]" and its port.
func eximPeer(s string) Endpoint {
	open := strings.IndexByte(s, '[')
	close := strings.IndexByte(s, ']')
	if open < 0 || close < open {
		return Endpoint{}
	}
	name, _, _ := strings.Cut(strings.TrimSpace(s[:open]), " ")
	if strings.HasPrefix(name, "(") {
		name = ""
	}
	e := postfixPeer("x" + s[open:close+1])
	e.Host = name
	if port, ok := strings.CutPrefix(s[close+1:], ":"); ok {
		n := 0
		for n < len(port) && n < 5 && port[n] >= '0' && port[n] <= '9' {
			n++
		}
		if v, err := strconv.ParseUint(port[:n], 10, 16); err == nil {
			e.Port = uint16(v)
		}
	}
	return e
}

// eximField returns the value of " name=value" in s; a quoted value
// (C="250 OK") is unquoted.
func eximField(s, name string) string {
	i := strings.Index(s, " "+name+"=")
	if i < 0 {
		return ""
	}
	v := s[i+len(name)+2:]
	if strings.HasPrefix(v, `"`) {
		end := strings.Index(v[1:], `"`)
		if end < 0 {
			return v[1:]
		}
		return v[1 : end+1]
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

func (p *eximParser) finish() []Session { return p.sess }
