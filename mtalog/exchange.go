package mtalog

import (
	"encoding/csv"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// exchangeFields are the columns of an Exchange SMTP protocol log that the
// reader uses; the #Fields: header says where each is.
var exchangeFields = []string{"date-time", "session-id", "local-endpoint", "remote-endpoint", "event", "data", "context"}

// exchangeParser reads an Exchange SMTP protocol log (SmtpSend or
// SmtpReceive): header lines starting with '#', then one CSV record per
// event.
type exchangeParser struct {
	log    *Log
	role   Role
	col    map[string]int // column of each field, from #Fields:
	byID   map[string]int // session-id → index in sessions
	sess   []Session
	lastCm map[string]string // session-id → last command, for stages
}

func newExchangeParser(log *Log) *exchangeParser {
	role := RoleClient
	if log.Format == FormatExchangeReceive {
		role = RoleServer
	}
	return &exchangeParser{log: log, role: role, byID: map[string]int{}, lastCm: map[string]string{}}
}

// header reads a comment line; #Fields: names the columns of the records
// that follow.
func (p *exchangeParser) header(n int, text string) {
	rest, ok := strings.CutPrefix(text, "#Fields:")
	if !ok {
		return
	}
	p.col = map[string]int{}
	for i, f := range strings.Split(strings.TrimSpace(rest), ",") {
		p.col[strings.TrimSpace(f)] = i
	}
	for _, f := range exchangeFields {
		if _, ok := p.col[f]; !ok {
			p.log.warn(n, "#Fields: has no %q column", f)
		}
	}
}

// session returns the session with Exchange's session-id id, made on its
// first record, and widens its span to t.
func (p *exchangeParser) session(id string, t time.Time) *Session {
	i, ok := p.byID[id]
	if !ok {
		i = len(p.sess)
		p.byID[id] = i
		p.sess = append(p.sess, Session{Format: p.log.Format, Role: p.role, ID: id, Start: t})
	}
	s := &p.sess[i]
	if t.Before(s.Start) {
		s.Start = t
	}
	if t.After(s.End) {
		s.End = t
	}
	return s
}

func (p *exchangeParser) line(n int, text string) {
	if strings.HasPrefix(text, "#") {
		p.header(n, text)
		return
	}
	if p.col == nil {
		p.log.warn(n, "record before any #Fields: header, skipped")
		return
	}
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil {
		p.log.warn(n, "broken CSV record: %v", csvError(err))
		return
	}
	field := func(name string) string {
		if i, ok := p.col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, field("date-time"))
	if err != nil {
		p.log.warn(n, "bad date-time %q", field("date-time"))
		return
	}
	id := field("session-id")
	if id == "" {
		p.log.warn(n, "record without session-id, skipped")
		return
	}
	line := Line{Source: p.log.Name, Number: n, Time: t, Text: text, Message: exchangeMessage(field("event"), field("data"), field("context"))}
	p.log.seen(t)
	s := p.session(id, t)
	if le := parseEndpoint(field("local-endpoint")); le != (Endpoint{}) {
		s.Local = le
	}
	if re := parseEndpoint(field("remote-endpoint")); re != (Endpoint{}) {
		s.Remote = re
	}
	data, ctx := field("data"), field("context")
	ev := Event{Line: line}
	sent := field("event") == ">" // the logging server wrote it
	switch field("event") {
	case "+":
		ev.Kind = EventConnect
	case "-":
		ev.Kind = EventDisconnect
	case ">", "<":
		// A send log's '>' is a command, '<' a reply; a receive log's the
		// other way round.
		isCommand := sent == (p.role == RoleClient)
		if isCommand {
			ev.Kind = EventCommand
			p.lastCm[id] = data
		} else if rp, ok := parseReply(data); ok {
			ev.Kind, ev.Reply = EventReply, &rp
			ev.Remote = p.role == RoleClient
			ev.Stage = stageOfCommand(p.lastCm[id])
			if rp.Code == 354 {
				ev.Stage = StageData // whatever the log left out before it
				// What follows is the content; the next reply answers
				// its end-of-data.
				p.lastCm[id] = "."
			}
			if q := queuedAs(rp.Text); q != "" {
				if p.role == RoleClient {
					s.QueuedAs = appendNew(s.QueuedAs, q)
				} else {
					s.QueueIDs = appendNew(s.QueueIDs, q)
				}
			}
		} else {
			ev.Kind = EventInfo
		}
	case "*":
		ev.Kind = EventInfo
		for _, txt := range []string{data, ctx} {
			if rp, ok := parseReply(txt); ok {
				// A status Exchange wrote itself, not the peer's reply.
				ev.Kind, ev.Reply = EventLocal, &rp
				ev.Stage = stageOfCommand(p.lastCm[id])
				break
			}
		}
		if mid := messageIDIn(data + " " + ctx); mid != "" {
			s.MessageIDs = appendNew(s.MessageIDs, mid)
		}
	default:
		p.log.warn(n, "unknown event %q", field("event"))
		ev.Kind = EventInfo
	}
	s.Events = append(s.Events, ev)
}

func (p *exchangeParser) finish() []Session { return p.sess }

// csvError drops encoding/csv's "record on line 1" (every record is parsed
// on its own) and keeps what went wrong.
func csvError(err error) string {
	if pe, ok := err.(*csv.ParseError); ok {
		return pe.Err.Error() + " at column " + strconv.Itoa(pe.Column)
	}
	return err.Error()
}

// parseEndpoint reads "10.0.0.1:25", "[2001:db8::1]:25", "host:25",
// "10.0.0.1" or "host".
func parseEndpoint(s string) Endpoint {
	s = strings.TrimSpace(s)
	if s == "" {
		return Endpoint{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return Endpoint{Addr: ap.Addr().Unmap(), Port: ap.Port()}
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return Endpoint{Addr: a.Unmap()}
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if port, err := strconv.ParseUint(s[i+1:], 10, 16); err == nil {
			return Endpoint{Host: s[:i], Port: uint16(port)}
		}
	}
	return Endpoint{Host: s}
}

// parseReply reads an SMTP reply line "250 2.0.0 Ok" (or "250-...").
func parseReply(s string) (Reply, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' {
		return Reply{}, false
	}
	if len(s) > 3 && s[3] != ' ' && s[3] != '-' {
		return Reply{}, false
	}
	code, _ := strconv.Atoi(s[:3])
	text := strings.TrimSpace(s[min(4, len(s)):])
	rp := Reply{Code: code, Text: text}
	if enh, rest, _ := strings.Cut(text, " "); isEnhanced(enh) && enh[0] == s[0] {
		rp.Enhanced, rp.Text = enh, strings.TrimSpace(rest)
	}
	return rp, true
}

// isEnhanced tells whether s is an RFC 3463 status code "c.sss.ddd".
func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || strings.IndexByte("245", parts[0][0]) < 0 {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// queuedAs finds the queue ID in a reply text such as "Ok: queued as
// 4QxY1z2abc" or "Queued mail for delivery" (none).
func queuedAs(text string) string {
	i := strings.Index(strings.ToLower(text), "queued as ")
	if i < 0 {
		return ""
	}
	rest := text[i+len("queued as "):]
	end := strings.IndexAny(rest, " ,;)")
	if end < 0 {
		end = len(rest)
	}
	return strings.TrimSpace(rest[:end])
}

// messageIDIn finds a Message-ID "<...@...>" in s.
func messageIDIn(s string) string {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return ""
		}
		id := s[i : i+j+1]
		if strings.Contains(id, "@") && !strings.ContainsAny(id, " \t") {
			return id
		}
		s = s[i+j+1:]
	}
}

// stageOfCommand names the stage a reply to cmd answers.
func stageOfCommand(cmd string) Stage {
	verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(cmd)), " ")
	switch verb {
	case "":
		return StageGreeting
	case "EHLO", "HELO", "LHLO":
		return StageHelo
	case "MAIL":
		return StageMail
	case "RCPT":
		return StageRcpt
	case "DATA":
		return StageData
	case ".":
		return StageEndOfData
	case "BDAT":
		if strings.Contains(strings.ToUpper(cmd), "LAST") {
			return StageEndOfData
		}
		return StageBody
	case "QUIT":
		return StageQuit
	}
	return ""
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// exchangeMessage is what a record says, without the fields its session
// names: the event, the data and the context, e.g. "> MAIL FROM:<a@b>" or
// "* attempting to connect".
func exchangeMessage(event, data, context string) string {
	var parts []string
	for _, p := range []string{event, data, context} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}
