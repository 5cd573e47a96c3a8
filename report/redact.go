package report

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/smtpscope/smtpscope/smtp"
)

// redactor replaces mail addresses, IP addresses and host names with
// stable tokens so that a redacted report still shows which messages
// share a sender and which connections share a server. The same original
// gets the same token wherever it appears: in an address field, in a
// reply text or in a summary quoting one.
type redactor struct {
	on bool
	// known maps every original redacted so far (lower case) to its
	// token, so that a bare word in a text (a HELO name such as "GP"
	// quoted in "250 Hello GP") is recognised as well.
	known map[string]string
}

func newRedactor(on bool) *redactor { return &redactor{on: on, known: map[string]string{}} }

func token(s string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(s)))
	return hex.EncodeToString(sum[:4])
}

// learn records an original and its token and returns the token. The
// token is recorded as its own original, so that redacting a text twice
// (evidence shared between a transaction and its connection) changes
// nothing the second time.
func (r *redactor) learn(orig, tok string) string {
	r.known[strings.ToLower(orig)] = tok
	r.known[tok] = tok
	return tok
}

// mail redacts an address (local part and domain separately).
func (r *redactor) mail(s string) string {
	if !r.on || s == "" {
		return s
	}
	t := strings.Trim(s, "<>")
	if t == "" {
		return s // the null reverse-path <> is not personal
	}
	// The domain follows the last "@": a quoted local part may hold one.
	at := strings.LastIndexByte(t, '@')
	if at < 0 {
		return r.learn(t, "redacted-"+token(t))
	}
	local, domain := t[:at], t[at+1:]
	r.learn(domain, "domain-"+token(domain))
	return r.learn(t, "user-"+token(local)+"@domain-"+token(domain))
}

// host redacts a host name (HELO name, TLS server name, a name in a text).
func (r *redactor) host(s string) string {
	if !r.on || s == "" {
		return s
	}
	return r.learn(s, "host-"+token(s))
}

// addr redacts an IP address, or an address with a port ("10.0.0.1:25",
// "[2001:db8::1]:25"), keeping the port: the port says which service it is.
func (r *redactor) addr(s string) string {
	if !r.on || s == "" {
		return s
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a := ap.Addr().Unmap().String()
		return r.learn(a, "host-"+token(a)) + ":" + s[strings.LastIndexByte(s, ':')+1:]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a := a.Unmap().String()
		return r.learn(a, "host-"+token(a))
	}
	return r.host(s)
}

// processPath keeps a program's name and hides the directories it is in
// (they may name a user), e.g. `dir-1a2b3c4d\EdgeTransport.exe`.
func (r *redactor) processPath(p, name string) string {
	if !r.on || p == "" {
		return p
	}
	dir, ok := strings.CutSuffix(p, name)
	if !ok || name == "" {
		return "dir-" + token(p)
	}
	sep := ""
	if strings.HasSuffix(dir, "\\") || strings.HasSuffix(dir, "/") {
		sep = dir[len(dir)-1:]
	}
	return "dir-" + token(dir) + sep + name
}

// text scrubs a free text: mail addresses, IP addresses and every word
// already redacted elsewhere get their tokens; with hosts, any dotted
// host or domain name does too. Reply texts, written by servers, are
// scrubbed with hosts; our own summaries, which quote them but also name
// Wireshark fields such as tcp.stream, without.
func (r *redactor) text(s string, hosts bool) string {
	if !r.on || s == "" {
		return s
	}
	// The first pass learns every name the text holds, so that one
	// written before the address that names it (a domain, then an
	// address in it) is hidden as well.
	r.scrub(s, hosts)
	return r.scrub(s, hosts)
}

// scrub is one pass of text.
func (r *redactor) scrub(s string, hosts bool) string {
	var b strings.Builder
	spans := mailSpans(s)
	for i := 0; i < len(s); {
		if len(spans) > 0 && spans[0][0] == i {
			b.WriteString(r.mail(s[i:spans[0][1]]))
			i = spans[0][1]
			spans = spans[1:]
			continue
		}
		if !wordByte(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		// A word ends where an address found by mailSpans begins.
		end := len(s)
		if len(spans) > 0 {
			end = spans[0][0]
		}
		j := i
		for j < end && wordByte(s[j]) {
			j++
		}
		b.WriteString(r.word(s[i:j], hosts))
		i = j
	}
	return b.String()
}

// maxQuotedLocal bounds how far back a quoted local part is looked for
// (RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; a quoted one
// may be longer in practice).
const maxQuotedLocal = 256

// mailSpans finds the mail addresses in a text whose local part a word
// split would cut: a quoted string (`"john doe"@corp.example`, RFC 5321
// §4.1.2 Quoted-string) or a dot-atom with characters other than the
// word bytes (`o'brien@corp.example`, RFC 5322 atext). It returns their
// [start, end) offsets in order; addresses of word bytes alone are left
// to word.
func mailSpans(s string) [][2]int {
	var spans [][2]int
	for k := strings.IndexByte(s, '@'); k >= 0; {
		if start, end, ok := mailAround(s, k); ok && (len(spans) == 0 || start >= spans[len(spans)-1][1]) {
			spans = append(spans, [2]int{start, end})
		}
		next := strings.IndexByte(s[k+1:], '@')
		if next < 0 {
			break
		}
		k += 1 + next
	}
	return spans
}

// mailAround returns the address around the "@" at s[at], if its local
// part is quoted or holds a character that is not a word byte.
func mailAround(s string, at int) (start, end int, ok bool) {
	end = at + 1
	for end < len(s) && (isAlnumByte(s[end]) || s[end] == '-' || s[end] == '.') {
		end++
	}
	for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
		end--
	}
	if !strings.Contains(s[at+1:end], ".") {
		return 0, 0, false
	}
	if end < len(s) && wordByte(s[end]) && strings.IndexByte(".:-", s[end]) < 0 {
		// The domain runs on in bytes no domain has ("a'b@x.y%z"): not
		// an address this can tell apart; word takes the run whole.
		return 0, 0, false
	}
	start = at
	if at > 0 && s[at-1] == '"' {
		for i := at - 2; i >= 0 && at-i <= maxQuotedLocal; i-- {
			if s[i] == '\r' || s[i] == '\n' {
				return 0, 0, false
			}
			if s[i] == '"' && (i == 0 || s[i-1] != '\\') {
				return i, end, true
			}
		}
		return 0, 0, false
	}
	special := false
	for start > 0 && atext(s[start-1]) {
		start--
		special = special || !wordByte(s[start])
	}
	return start, end, special && start < at
}

// atext tells whether c may be in a dot-atom local part (RFC 5322 §3.2.3),
// "=" and "/" left out: they join a key or a path to an address more often
// than they are in one.
func atext(c byte) bool {
	return isAlnumByte(c) || strings.IndexByte("!#$%&'*+-?^_`{|}~.", c) >= 0
}

func isAlnumByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// wordByte tells whether c can be part of an address or a host name.
func wordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("._%+-@:", c) >= 0
}

// word redacts one run of word bytes, keeping trailing punctuation.
func (r *redactor) word(w string, hosts bool) string {
	core := strings.TrimRight(w, ".:-")
	tail := w[len(core):]
	if core == "" {
		return w
	}
	if t, ok := r.known[strings.ToLower(core)]; ok {
		return t + tail
	}
	if local, domain, ok := strings.Cut(core, "@"); ok && local != "" && strings.Contains(domain, ".") {
		return r.mail(core) + tail
	}
	if _, err := netip.ParseAddr(core); err == nil {
		return r.addr(core) + tail
	}
	if _, err := netip.ParseAddrPort(core); err == nil {
		return r.addr(core) + tail
	}
	if h, port, ok := cutPort(core); ok {
		return r.word(h, hosts) + ":" + port + tail
	}
	if hosts && hostName(core) {
		return r.host(core) + tail
	}
	return w
}

// cutPort splits "name:25".
func cutPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.Trim(s[i+1:], "0123456789") != "" {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// hostName tells whether s looks like a DNS name of two labels or more
// whose last label is not all digits (so "2.0.0" and "4.94.2" are not).
func hostName(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' || strings.ContainsAny(l, "_%+@:") {
			return false
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// connection redacts everything in c that names a host or a person, once
// the rules have run on the real values.
func (r *redactor) connection(c *Connection) {
	if !r.on {
		return
	}
	c.Client, c.Server = r.addr(c.Client), r.addr(c.Server)
	if c.Process != nil {
		p := *c.Process
		p.Path = r.processPath(p.Path, p.Name)
		c.Process = &p
	}
	if m := c.SMTP; m != nil {
		r.reply(m.Banner)
		for i := range m.Commands {
			r.reply(m.Commands[i].Reply)
		}
		for i := range m.Unmatched {
			r.reply(&m.Unmatched[i])
		}
		for i := range m.Anomalies {
			m.Anomalies[i].Detail = r.text(m.Anomalies[i].Detail, true)
		}
		if m.TLS != nil {
			m.TLS.ServerName = r.host(m.TLS.ServerName)
		}
		for i := range m.Transactions {
			tx := &m.Transactions[i]
			r.reply(tx.Reply)
			for j := range tx.Rcpts {
				r.reply(tx.Rcpts[j].Reply)
			}
		}
		for i := range m.Transactions {
			r.diagnosis(&m.Transactions[i].Diagnosis)
		}
	}
	r.diagnosis(&c.Diagnosis)
}

// learnSession learns the names a session's texts hold, as connection
// redacts them, so that a summary quoting them hides them too (live
// incidents, which are told before the connection is reported).
func (r *redactor) learnSession(s *smtp.Session) {
	if !r.on {
		return
	}
	r.host(s.Hello)
	learn := func(rp *smtp.Reply) {
		if rp != nil {
			r.text(rp.Text, true)
		}
	}
	learn(s.Banner)
	for i := range s.Commands {
		learn(s.Commands[i].Reply)
	}
	for i := range s.Unmatched {
		learn(&s.Unmatched[i])
	}
	for i := range s.Transactions {
		tx := &s.Transactions[i]
		r.mail(tx.MailFrom)
		learn(tx.Reply)
		for j := range tx.Rcpts {
			r.mail(tx.Rcpts[j].Addr)
			learn(tx.Rcpts[j].Reply)
		}
	}
	if s.TLS != nil {
		r.host(s.TLS.ServerName)
	}
}

func (r *redactor) reply(rp *Reply) {
	if rp != nil {
		rp.Text = r.text(rp.Text, true)
	}
}

func (r *redactor) diagnosis(d *Diagnosis) {
	d.Summary = r.text(d.Summary, false)
	for i := range d.Evidence {
		d.Evidence[i].What = r.text(d.Evidence[i].What, false)
	}
}
