package mtalog

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// postfixDaemons are the Postfix programs whose syslog tag marks a line as
// Postfix's: the last part of "postfix/smtp" or "postfix/submission/smtpd".
var postfixDaemons = map[string]bool{"smtp": true, "smtpd": true, "lmtp": true, "qmgr": true, "cleanup": true,
	"pickup": true, "master": true, "bounce": true, "local": true, "error": true, "discard": true,
	"postscreen": true, "anvil": true, "scache": true, "tlsmgr": true, "postlogd": true, "sendmail": true,
	"postdrop": true, "virtual": true, "pipe": true, "trivial-rewrite": true, "postfix-script": true,
	"postsuper": true, "dnsblog": true, "tlsproxy": true, "smtpd-sink": true, "postqueue": true}

// isPostfixTag tells whether s (a syslog line after its time and host)
// starts with a Postfix program's tag.
func isPostfixTag(s string) bool {
	prog, _, _, ok := syslogTag(s)
	if !ok {
		return false
	}
	i := strings.LastIndexByte(prog, '/')
	return i > 0 && postfixDaemons[prog[i+1:]]
}

// postfixParser reads Postfix lines: smtpd sessions from "connect from" to
// "disconnect from" per process; smtp client sessions from the delivery
// lines ("to=<…>, relay=…, status=…") of one process to one relay; queue
// IDs tie cleanup's message-id= to both.
type postfixParser struct {
	log  *Log
	opts Options
	sess []Session
	// open maps a process ("postfix/smtpd[123]") to the index of its
	// current session.
	open map[string]int
	// messageID maps a queue ID to its Message-ID (from cleanup).
	messageID map[string]string
}

func newPostfixParser(log *Log, opts Options) *postfixParser {
	return &postfixParser{log: log, opts: opts, open: map[string]int{}, messageID: map[string]string{}}
}

func (p *postfixParser) line(n int, text string) {
	t, host, rest, ok := parseSyslogPrefix(text, p.opts.Location, p.opts.Reference)
	if !ok {
		p.log.warn(n, "not a syslog line")
		return
	}
	prog, pid, msg, ok := syslogTag(rest)
	if !ok {
		p.log.warn(n, "no program tag")
		return
	}
	p.log.seen(t)
	i := strings.LastIndexByte(prog, '/')
	if i < 0 {
		return // another program's line in the same syslog file
	}
	daemon := prog[i+1:]
	if !postfixDaemons[daemon] {
		return
	}
	line := Line{Source: p.log.Name, Number: n, Time: t, Text: text, Message: rest, Host: host}
	proc := prog + "[" + strconv.Itoa(pid) + "]"
	qid, body := cutQueueID(msg)
	switch daemon {
	case "smtpd", "postscreen":
		p.smtpd(proc, qid, body, line)
	case "smtp", "lmtp":
		p.smtp(proc, qid, body, line)
	case "cleanup":
		if v, ok := strings.CutPrefix(body, "message-id="); ok && qid != "" {
			if mid := messageIDIn(v); mid != "" {
				p.messageID[qid] = mid
			}
		}
	}
}

// cutQueueID splits "19B6B2900FE: to=<…>" into the queue ID and the rest.
// Postfix queue IDs are hex (short form) or base-52 with a 'z' inside
// (long form, enable_long_queue_ids); NOQUEUE is none.
func cutQueueID(msg string) (qid, rest string) {
	id, rest, ok := strings.Cut(msg, ": ")
	if id == "NOQUEUE" {
		return "", rest
	}
	if !ok || len(id) < 5 || len(id) > 20 {
		return "", msg
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return "", msg
		}
	}
	return id, rest
}

func (p *postfixParser) smtpd(proc, qid, body string, line Line) {
	switch {
	case strings.HasPrefix(body, "connect from "):
		remote := postfixPeer(strings.TrimPrefix(body, "connect from "))
		p.open[proc] = len(p.sess)
		p.sess = append(p.sess, Session{Format: FormatPostfix, Role: RoleServer, ID: proc, Remote: remote,
			Start: line.Time, End: line.Time, Events: []Event{{Kind: EventConnect, Line: line}}})
		return
	}
	i, ok := p.open[proc]
	if !ok {
		// A line of a connection that began before the log did.
		if qid == "" && !strings.HasPrefix(body, "disconnect from ") && !strings.Contains(body, " from ") {
			return
		}
		i = len(p.sess)
		p.open[proc] = i
		p.sess = append(p.sess, Session{Format: FormatPostfix, Role: RoleServer, ID: proc, Start: line.Time})
	}
	s := &p.sess[i]
	s.End = line.Time
	ev := Event{Kind: EventInfo, Line: line}
	switch {
	case strings.HasPrefix(body, "disconnect from "):
		ev.Kind = EventDisconnect
		if !s.Remote.Addr.IsValid() {
			s.Remote = postfixPeer(strings.TrimPrefix(body, "disconnect from "))
		}
		delete(p.open, proc)
	case strings.HasPrefix(body, "lost connection after "), strings.HasPrefix(body, "timeout after "):
		ev.Kind = EventLocal
		after := body[strings.Index(body, "after ")+len("after "):]
		ev.Stage = smtpdStage(after)
	case strings.HasPrefix(body, "client="):
		if qid != "" {
			s.QueueIDs = appendNew(s.QueueIDs, qid)
		}
		if !s.Remote.Addr.IsValid() {
			s.Remote = postfixPeer(strings.TrimPrefix(body, "client="))
		}
	case strings.HasPrefix(body, "reject: "):
		// "reject: RCPT from host[ip]:port: 550 5.1.1 <…>: …; from=<…> to=<…> …"
		// after the peer "host[ip]" or "host[ip]:port"
		if _, peerRest, ok := strings.Cut(body, "]"); ok {
			_, after, _ := strings.Cut(peerRest, ": ")
			if rp, ok := parseReply(after); ok {
				if semi := strings.Index(rp.Text, "; from="); semi >= 0 {
					rp.Text = rp.Text[:semi]
				}
				ev.Kind, ev.Reply = EventReply, &rp
				verb, _, _ := strings.Cut(strings.TrimPrefix(body, "reject: "), " ")
				ev.Stage = stageOfCommand(verb)
			}
		}
	}
	if qid != "" {
		s.QueueIDs = appendNew(s.QueueIDs, qid)
	}
	s.Events = append(s.Events, ev)
}

// smtpdStage reads the stage of "lost connection after END-OF-MESSAGE",
// "timeout after DATA (1234 bytes)" and the like.
func smtpdStage(after string) Stage {
	word, _, _ := strings.Cut(after, " ")
	switch word {
	case "CONNECT":
		return StageConnect
	case "EHLO", "HELO", "STARTTLS":
		return StageHelo
	case "MAIL":
		return StageMail
	case "RCPT":
		return StageRcpt
	case "DATA":
		if strings.Contains(after, "bytes)") {
			return StageBody
		}
		return StageData
	case "BDAT":
		return StageBody
	case "END-OF-MESSAGE":
		return StageEndOfData
	case "QUIT":
		return StageQuit
	}
	return ""
}

func (p *postfixParser) smtp(proc, qid, body string, line Line) {
	if strings.HasPrefix(body, "connect to ") {
		// "connect to host[ip]:port: Connection refused": an attempt of
		// its own, whose delivery line (relay=none) follows.
		peer, _, _ := strings.Cut(strings.TrimPrefix(body, "connect to "), ": ")
		p.open[proc] = len(p.sess)
		p.sess = append(p.sess, Session{Format: FormatPostfix, Role: RoleClient, ID: proc, Remote: postfixPeer(peer),
			Start: line.Time, End: line.Time, Events: []Event{{Kind: EventLocal, Line: line, Stage: StageConnect}}})
		if qid != "" {
			p.sess[len(p.sess)-1].QueueIDs = []string{qid}
		}
		return
	}
	f := postfixFields(body)
	relay, isDelivery := f["relay"]
	i, have := p.open[proc]
	var s *Session
	if have {
		s = &p.sess[i]
	}
	if isDelivery {
		peer := Endpoint{}
		if relay != "none" {
			peer = postfixPeer(relay)
		}
		reuse, _ := strconv.Atoi(f["conn_use"])
		same := have && (relay == "none" || s.Remote == peer) &&
			(reuse >= 2 || (qid != "" && len(s.QueueIDs) > 0 && s.QueueIDs[len(s.QueueIDs)-1] == qid) || !hasDelivery(s))
		if !same {
			start := line.Time
			if d := postfixDelays(f["delays"]); d != nil && reuse < 2 {
				start = line.Time.Add(-time.Duration((d[2] + d[3]) * float64(time.Second)))
			}
			p.open[proc] = len(p.sess)
			p.sess = append(p.sess, Session{Format: FormatPostfix, Role: RoleClient, ID: proc + " " + qid, Remote: peer, Start: start})
			s = &p.sess[len(p.sess)-1]
		}
	} else if !have {
		return
	}
	s.End = line.Time
	if qid != "" {
		s.QueueIDs = appendNew(s.QueueIDs, qid)
	}
	ev := Event{Kind: EventInfo, Line: line}
	reason := body
	if isDelivery {
		ev.Kind = EventDelivery
		ev.Status, reason, _ = strings.Cut(f["status"], " ")
		reason = strings.TrimSuffix(strings.TrimPrefix(reason, "("), ")")
	} else if strings.Contains(body, " said: ") || strings.Contains(body, "timed out") || strings.Contains(body, "lost connection") {
		ev.Kind = EventLocal
	}
	p.reason(&ev, s, reason)
	s.Events = append(s.Events, ev)
}

// reason reads the text of status=…(…) or of a problem line: the server's
// reply it quotes ("host x[ip] said: 452 4.3.1 … (in reply to end of DATA
// command)", or for a sent message the reply itself), or Postfix's own
// words ("conversation with x[ip] timed out while sending end of data",
// "lost connection with x[ip] while sending message body").
func (p *postfixParser) reason(ev *Event, s *Session, text string) {
	if _, said, ok := strings.Cut(text, " said: "); ok {
		text = said
	}
	if rp, ok := parseReply(text); ok {
		if i := strings.LastIndex(rp.Text, " (in reply to "); i >= 0 {
			ev.Stage = replyToStage(rp.Text[i:])
			rp.Text = rp.Text[:i]
		} else if ev.Status == "sent" {
			ev.Stage = StageEndOfData
		}
		ev.Reply, ev.Remote = &rp, true
		if q := queuedAs(rp.Text); q != "" {
			s.QueuedAs = appendNew(s.QueuedAs, q)
		}
		return
	}
	if i := strings.Index(text, " while "); i >= 0 {
		ev.Stage = whileStage(text[i+len(" while "):])
	} else if strings.HasPrefix(text, "connect to ") {
		ev.Stage = StageConnect
	}
}

func hasDelivery(s *Session) bool {
	for _, e := range s.Events {
		if e.Kind == EventDelivery {
			return true
		}
	}
	return false
}

// replyToStage reads " (in reply to end of DATA command)" and the like.
func replyToStage(s string) Stage {
	switch {
	case strings.Contains(s, "end of DATA"):
		return StageEndOfData
	case strings.Contains(s, "DATA command"):
		return StageData
	case strings.Contains(s, "RCPT TO"):
		return StageRcpt
	case strings.Contains(s, "MAIL FROM"):
		return StageMail
	case strings.Contains(s, "EHLO"), strings.Contains(s, "HELO"), strings.Contains(s, "LHLO"):
		return StageHelo
	case strings.Contains(s, "QUIT"):
		return StageQuit
	}
	return ""
}

// whileStage reads Postfix's "while sending end of data -- …" and the
// like (smtp_proto.c's wording).
func whileStage(s string) Stage {
	switch {
	case strings.HasPrefix(s, "sending end of data"):
		return StageEndOfData
	case strings.HasPrefix(s, "sending message body"):
		return StageBody
	case strings.HasPrefix(s, "sending DATA"):
		return StageData
	case strings.HasPrefix(s, "sending RCPT"):
		return StageRcpt
	case strings.HasPrefix(s, "sending MAIL"):
		return StageMail
	case strings.HasPrefix(s, "receiving the initial server greeting"):
		return StageGreeting
	case strings.HasPrefix(s, "performing the EHLO"), strings.HasPrefix(s, "performing the HELO"),
		strings.HasPrefix(s, "performing the LHLO"), strings.HasPrefix(s, "sending STARTTLS"):
		return StageHelo
	case strings.HasPrefix(s, "sending QUIT"):
		return StageQuit
	}
	return ""
}

// postfixFields reads the "name=value, name=value, status=sent (…)"
// list of a delivery line. The last field (status) keeps its
// parenthesised text, which may hold commas.
func postfixFields(s string) map[string]string {
	f := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || strings.ContainsAny(name, " ()") {
			break
		}
		if name == "status" {
			f[name] = rest
			break
		}
		val, next, _ := strings.Cut(rest, ", ")
		f[name] = val
		s = next
	}
	return f
}

// postfixDelays reads delays=a/b/c/d.
func postfixDelays(s string) []float64 {
	parts := strings.Split(s, "/")
	if len(parts) != 4 {
		return nil
	}
	d := make([]float64, 4)
	for i, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || v > 1e7 {
			return nil
		}
		d[i] = v
	}
	return d
}

// postfixPeer reads "host[ip]", "host[ip]:port" (smtpd_client_port_logging,
// or a relay) and "host[ipv6]:port".
func postfixPeer(s string) Endpoint {
	s, _, _ = strings.Cut(strings.TrimSpace(s), " ")
	s = strings.TrimSuffix(s, ",")
	open := strings.IndexByte(s, '[')
	close := strings.LastIndexByte(s, ']')
	if open < 0 || close < open {
		return Endpoint{Host: s}
	}
	e := Endpoint{Host: s[:open]}
	if e.Host == "unknown" {
		e.Host = ""
	}
	if a, err := netip.ParseAddr(strings.TrimPrefix(s[open+1:close], "IPv6:")); err == nil {
		e.Addr = a.Unmap()
	}
	if port, ok := strings.CutPrefix(s[close+1:], ":"); ok {
		if v, err := strconv.ParseUint(port, 10, 16); err == nil {
			e.Port = uint16(v)
		}
	}
	return e
}

func (p *postfixParser) finish() []Session {
	for i := range p.sess {
		s := &p.sess[i]
		for _, q := range s.QueueIDs {
			if mid := p.messageID[q]; mid != "" {
				s.MessageIDs = appendNew(s.MessageIDs, mid)
			}
		}
		if len(s.Events) == 0 {
			continue
		}
		if s.Start.IsZero() || s.Events[0].Line.Time.Before(s.Start) {
			s.Start = s.Events[0].Line.Time
		}
	}
	return p.sess
}
