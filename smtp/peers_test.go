package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The peer comparison: smtpscope's reading of the SMTP traces of Zeek's
// and Suricata's own test suites, set against what those suites expect.
// Zeek's expectations are its btest smtp.log baselines
// (testing/btest/Baseline/scripts.base.protocols.smtp.*/smtp.log), one line
// per transaction it logs; Suricata's are the checks of its verify tests
// (tests/*/test.yaml) on smtp events. Copies of both are under
// testdata/peers (see PROVENANCE.md there). Every difference must be
// listed in peerDifferences with its reason, and every listed difference
// must still occur.

// peerCase is one trace and the peer expectations about it.
type peerCase struct {
	// capture is the trace's path from this package.
	capture string
	// conns names the connections when the trace has no tshark view.
	conns []connSpec
	// zeek and suricata name the expectation files under testdata/peers.
	zeek, suricata string
}

var peerCases = []peerCase{
	{capture: captureDir + "/zeek__smtp.pcap", zeek: "smtp.basic.smtp.log"},
	{capture: captureDir + "/zeek__smtp-starttls.pcap", zeek: "smtp.starttls.smtp.log"},
	{capture: captureDir + "/zeek__smtp-one-side-only.pcap", zeek: "smtp.one-side.smtp.log"},
	{capture: captureDir + "/zeek__rfc3030-bdat-example1.pcap", zeek: "smtp.bdat.smtp.log"},
	{capture: captureDir + "/zeek__rfc3030-bdat-multipart-chunked.pcap", zeek: "smtp.bdat-multipart-chunked.smtp.log"},
	{capture: captureDir + "/zeek__smtp-bdat-cmd-invalid.pcapng", zeek: "smtp.bdat-cmd-invalid.smtp.log"},
	{capture: captureDir + "/zeek__smtp-mail-transactions-invalid.pcap", zeek: "smtp.mail-transactions-invalid.smtp.log"},
	{capture: "testdata/peers/zeek__connect-with-smtp.pcap", zeek: "http.http-connect.smtp.log",
		conns: []connSpec{{0, netip.MustParseAddrPort("79.26.245.236:3378"), netip.MustParseAddrPort("254.228.86.79:8240")}}},
	{capture: captureDir + "/suricata-verify__smtp-rejected-ehlo-preserves-envelope-input.pcap", suricata: "smtp-rejected-ehlo-preserves-envelope.yaml"},
	{capture: captureDir + "/suricata-verify__smtp-pipelining-input.pcap", suricata: "smtp-pipelining.yaml"},
	{capture: captureDir + "/suricata-verify__smtp-bdat-zero-last-next-mail-input.pcap", suricata: "smtp-bdat-zero-last-next-mail.yaml"},
	{capture: captureDir + "/suricata-verify__smtp-bdat-bad-tail-next-mail-input.pcap", suricata: "smtp-bdat-bad-tail-next-mail.yaml"},
	{capture: captureDir + "/suricata-verify__smtp-long-command-input.pcap", suricata: "smtp-long-command.yaml"},
	{capture: captureDir + "/suricata-verify__smtp-startssl-input.pcap", suricata: "smtp-startssl.yaml"},
	{capture: captureDir + "/suricata-verify__smtp-multi-mail.pcap", suricata: "ruletype-firewall-135-smtp-multi-mail-accept.yaml"},
}

// peerDifferences lists every difference the comparison finds, keyed as
// it reports them, with the reason. Definitions are documented in the
// README ("Reading SMTP as the peers do").
var peerDifferences = map[string]string{
	// Definition: a session without MAIL holds no transaction.
	`zeek smtp.starttls.smtp.log conn 0 line 0: no transaction`: "definition: Zeek logs a line for every SMTP session, " +
		"also one without MAIL (here EHLO and STARTTLS, last_reply 220 Ready to start TLS); smtpscope counts mail " +
		"transactions, which only an accepted MAIL opens (RFC 5321 §3.3), and reports the STARTTLS on the session",
	`suricata smtp-startssl.yaml check 0: 0 matching transactions, want 1`: "definition: Suricata logs an smtp event " +
		"for a session without MAIL (EHLO, STARTTLS); smtpscope has no transaction there (RFC 5321 §3.3)",
	`suricata smtp-long-command.yaml check 0: 0 matching transactions, want 1`: "definition: the session is one " +
		"over-long EHLO and no MAIL; Suricata logs an smtp event (tx_id 0) with the truncated HELO name, smtpscope " +
		"no transaction (RFC 5321 §3.3) and the anomaly line-too-long",
	// Zeek's smtp-mail-transactions-invalid (Exim): after the first message,
	// RCPT without MAIL (503), DATA (503) and body lines answered 500; MAIL
	// 250 and DATA refused twice; MAIL 503 "sender already given", RCPT 250,
	// DATA, delivered.
	`zeek smtp.mail-transactions-invalid.smtp.log conn 0 line 1 mailfrom: zeek "", smtpscope "bob@example.org"`: "definition: " +
		"Zeek logs the RCPT sent without MAIL (refused 503), with the DATA refused after it and the 500s to the body " +
		"lines the server read as commands, as a transaction of its own; smtpscope opens none without an accepted MAIL " +
		"(RFC 5321 §3.3), so its second entry is the next envelope (MAIL of frame 36)",
	`zeek smtp.mail-transactions-invalid.smtp.log conn 0 line 1 last_reply: zeek "500 unrecognized command", smtpscope "250 OK id=1pgobM-001mwq-Vc"`: "" +
		"same shift; and smtpscope keeps the envelope of MAIL 36 open through the refused DATAs and the refused " +
		"second MAIL (RFC 5321 §4.1.4: a refused command changes nothing), so the message delivered at frame 69 is " +
		"that envelope's; Zeek logs the envelope's refused DATAs as their own lines (last_reply 500) and the delivery " +
		"as line 3",
	`zeek smtp.mail-transactions-invalid.smtp.log conn 0 line 2: no transaction`: "Zeek's third line is the envelope " +
		"of MAIL 36 with its refused DATAs (last_reply 500), which smtpscope reports with the delivery as its second " +
		"entry; the refused MAIL of frame 57 (503 sender already given, inside that open envelope) is, as for Zeek, " +
		"no entry of its own",
	`zeek smtp.mail-transactions-invalid.smtp.log conn 0 line 3: no transaction`: "Zeek's fourth line is the delivery " +
		"(trans_depth 2, bob to alice, 250 OK id=1pgobM-001mwq-Vc), which smtpscope reports as its second entry, " +
		"the envelope of MAIL 36",
}

func TestPeerExpectations(t *testing.T) {
	var diffs []string
	var compared, agreed, fields, fieldsAgreed int
	for _, pc := range peerCases {
		sessions := peerSessions(t, pc)
		if pc.zeek != "" {
			c, a, f, fa, d := compareZeek(t, pc.zeek, sessions)
			compared, agreed, fields, fieldsAgreed = compared+c, agreed+a, fields+f, fieldsAgreed+fa
			diffs = append(diffs, d...)
		}
		if pc.suricata != "" {
			c, a, d := compareSuricata(t, pc.suricata, sessions)
			fields, fieldsAgreed = fields+c, fieldsAgreed+a
			diffs = append(diffs, d...)
		}
	}
	seen := map[string]bool{}
	for _, d := range diffs {
		seen[d] = true
		if why, ok := peerDifferences[d]; ok {
			t.Logf("explained: %s\n\tbecause %s", d, why)
		} else {
			t.Errorf("unexplained difference: %s", d)
		}
	}
	for d := range peerDifferences {
		if !seen[d] {
			t.Errorf("listed difference no longer occurs: %s", d)
		}
	}
	t.Logf("Zeek: %d of %d transactions agree; fields (Zeek and Suricata): %d of %d agree", agreed, compared, fieldsAgreed, fields)
}

// peerSessions decodes a case's trace; the sessions are listed in stream
// order.
func peerSessions(t *testing.T, pc peerCase) []*Session {
	t.Helper()
	var byStream map[int]*Session
	if pc.conns != nil {
		byStream = decodeConns(t, pc.capture, pc.conns)
	} else {
		name := filepath.Base(pc.capture)
		byStream = decodeCapture(t, name, loadTruth(t, name))
	}
	var streams []int
	for s := range byStream {
		streams = append(streams, s)
	}
	sort.Ints(streams)
	var out []*Session
	for _, s := range streams {
		if byStream[s] != nil && byStream[s].IsSMTP {
			out = append(out, byStream[s])
		}
	}
	return out
}

// peerRecord is one transaction as the peers log it.
type peerRecord struct {
	helo, mailfrom, rcptto, lastReply string
}

// ourRecords lists a session's transactions (refused attempts included)
// in the peers' terms.
func ourRecords(s *Session) []peerRecord {
	var out []peerRecord
	for i := range s.Transactions {
		x := &s.Transactions[i]
		var rcpts []string
		for _, r := range x.Rcpts {
			rcpts = append(rcpts, r.Addr)
		}
		sort.Strings(rcpts)
		end := int(^uint(0) >> 1)
		if i+1 < len(s.Transactions) && s.Transactions[i+1].MailFrame > x.MailFrame {
			end = s.Transactions[i+1].MailFrame
		}
		out = append(out, peerRecord{helo: s.Hello, mailfrom: x.MailFrom, rcptto: strings.Join(rcpts, ","), lastReply: peerReplyLine(lastReply(s, x, end))})
	}
	return out
}

// lastReply is the last reply the server gave within a transaction: its
// final reply, else the last reply to the commands from its MAIL up to the
// next transaction's (end), BDAT chunks' included, QUIT and RSET not.
func lastReply(s *Session, x *Transaction, end int) *Reply {
	var last *Reply
	later := func(r *Reply) {
		if r != nil && (last == nil || r.Frame > last.Frame) {
			last = r
		}
	}
	switch {
	case x.Reply != nil:
		return x.Reply // the end-of-data's reply ends it
	case x.RefusedAttempt():
		// What the client sent after it may belong to an open envelope.
		later(x.MailReply)
		for _, r := range x.Rcpts {
			later(r.Reply)
		}
		later(x.DataReply)
		return last
	}
	for i := range s.Commands {
		c := &s.Commands[i]
		if c.Frame < x.MailFrame || c.Frame >= end || c.Reply == nil || c.Verb == "QUIT" || c.Verb == "RSET" {
			continue
		}
		later(c.Reply)
	}
	return last
}

// peerReplyLine writes a reply's first line as Zeek's last_reply does.
func peerReplyLine(r *Reply) string {
	if r == nil {
		return ""
	}
	s := strconv.Itoa(r.Code)
	if !r.Enhanced.IsZero() {
		s += " " + r.Enhanced.String()
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// compareZeek compares a Zeek smtp.log baseline with the sessions: the
// i-th line of a connection with its i-th transaction.
func compareZeek(t *testing.T, file string, sessions []*Session) (compared, agreed, fields, fieldsAgreed int, diffs []string) {
	t.Helper()
	lines := readZeekLog(t, filepath.Join("testdata", "peers", "zeek", file))
	byConn := map[string][]map[string]string{}
	var conns []string
	for _, l := range lines {
		k := l["id.orig_h"] + ":" + l["id.orig_p"]
		if byConn[k] == nil {
			conns = append(conns, k)
		}
		byConn[k] = append(byConn[k], l)
	}
	if len(conns) != len(sessions) {
		diffs = append(diffs, fmt.Sprintf("zeek %s: %d connections logged, %d SMTP sessions decoded", file, len(conns), len(sessions)))
	}
	for ci, k := range conns {
		var ours []peerRecord
		if ci < len(sessions) {
			ours = ourRecords(sessions[ci])
		}
		for i, l := range byConn[k] {
			compared++
			where := fmt.Sprintf("zeek %s conn %d line %d", file, ci, i)
			if i >= len(ours) {
				diffs = append(diffs, where+": no transaction")
				continue
			}
			want := peerRecord{helo: l["helo"], mailfrom: strings.Trim(l["mailfrom"], "<>"), rcptto: sortedSet(l["rcptto"]), lastReply: l["last_reply"]}
			same := true
			for _, f := range []struct{ name, zeek, ours string }{
				{"helo", want.helo, ours[i].helo}, {"mailfrom", want.mailfrom, ours[i].mailfrom},
				{"rcptto", want.rcptto, ours[i].rcptto}, {"last_reply", want.lastReply, ours[i].lastReply},
			} {
				fields++
				if f.zeek == f.ours {
					fieldsAgreed++
					continue
				}
				same = false
				diffs = append(diffs, fmt.Sprintf("%s %s: zeek %q, smtpscope %q", where, f.name, f.zeek, f.ours))
			}
			if same {
				agreed++
			}
		}
		for i := len(byConn[k]); i < len(ours); i++ {
			diffs = append(diffs, fmt.Sprintf("zeek %s conn %d transaction %d: not logged by zeek", file, ci, i))
		}
	}
	return compared, agreed, fields, fieldsAgreed, diffs
}

func sortedSet(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.Trim(parts[i], "<>")
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// readZeekLog reads a Zeek ASCII log: its #fields header and its lines,
// "-" and "(empty)" read as "".
func readZeekLog(t *testing.T, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var out []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#fields\t"); ok {
			names = strings.Split(rest, "\t")
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		vals := strings.Split(line, "\t")
		m := map[string]string{}
		for i, n := range names {
			if i < len(vals) && vals[i] != "-" && vals[i] != "(empty)" {
				m[n] = vals[i]
			}
		}
		out = append(out, m)
	}
	if names == nil {
		t.Fatalf("%s: no #fields line", path)
	}
	return out
}

// suricataFilter is one check of a Suricata verify test on smtp events.
type suricataFilter struct {
	count int
	match map[string]string
}

var rcptKey = regexp.MustCompile(`^smtp\.rcpt_to\[(\d+)\]$`)

// compareSuricata evaluates a verify test's smtp checks on the sessions'
// transactions, in order (Suricata's tx_id). Keys about the message
// (email.*) are not compared: smtpscope keeps no body.
func compareSuricata(t *testing.T, file string, sessions []*Session) (fields, agreed int, diffs []string) {
	t.Helper()
	var txs []peerRecord
	var raw []*Transaction
	for _, s := range sessions {
		txs = append(txs, ourRecords(s)...)
		for i := range s.Transactions {
			raw = append(raw, &s.Transactions[i])
		}
	}
	for fi, f := range readSuricataChecks(t, filepath.Join("testdata", "peers", "suricata", file)) {
		if f.match["event_type"] != "smtp" {
			continue
		}
		n := 0
		for i := range txs {
			if ok, _ := suricataMatch(f, i, txs[i], raw[i]); ok {
				n++
			}
		}
		fields++
		if n == f.count {
			agreed++
			continue
		}
		why := ""
		if id, ok := f.match["tx_id"]; ok {
			if i, err := strconv.Atoi(id); err == nil && i < len(txs) {
				_, why = suricataMatch(f, i, txs[i], raw[i])
			}
		}
		diffs = append(diffs, fmt.Sprintf("suricata %s check %d: %d matching transactions, want %d%s", file, fi, n, f.count, why))
	}
	return fields, agreed, diffs
}

// suricataMatch tells whether transaction i matches a filter, and if not,
// on which key.
func suricataMatch(f suricataFilter, i int, r peerRecord, x *Transaction) (bool, string) {
	for k, v := range f.match {
		v = strings.Trim(v, `"`)
		got, ok := "", true
		switch {
		case k == "event_type" || strings.HasPrefix(k, "email."):
			continue
		case k == "tx_id":
			got = strconv.Itoa(i)
		case k == "smtp.helo":
			got = r.helo
		case k == "smtp.mail_from":
			got, v = r.mailfrom, strings.Trim(v, "<>")
		case rcptKey.MatchString(k):
			n, _ := strconv.Atoi(rcptKey.FindStringSubmatch(k)[1])
			ok = n < len(x.Rcpts)
			if ok {
				got, v = x.Rcpts[n].Addr, strings.Trim(v, "<>")
			}
		case k == "not-has-key":
			if strings.HasPrefix(v, "[") {
				v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
			}
			for _, key := range strings.Split(v, ",") {
				key = strings.Trim(strings.TrimSpace(key), `"`)
				if m := rcptKey.FindStringSubmatch(key); m != nil {
					if n, _ := strconv.Atoi(m[1]); n < len(x.Rcpts) {
						return false, fmt.Sprintf(" (has %s)", key)
					}
				}
			}
			continue
		default:
			continue
		}
		if !ok || got != v {
			return false, fmt.Sprintf(" (%s: %q, smtpscope %q)", k, v, got)
		}
	}
	return true, ""
}

// readSuricataChecks reads the "- filter:" blocks of a verify test.yaml:
// their count and their match keys. It reads only that shape, which is all
// the SMTP tests use.
func readSuricataChecks(t *testing.T, path string) []suricataFilter {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []suricataFilter
	inMatch := false
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "#") || trimmed == "":
		case strings.HasPrefix(trimmed, "- filter:"):
			out = append(out, suricataFilter{count: -1, match: map[string]string{}})
			inMatch = false
		case len(out) == 0:
		case strings.HasPrefix(trimmed, "count:"):
			out[len(out)-1].count, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(trimmed, "count:")))
		case trimmed == "match:":
			inMatch = true
		case inMatch && strings.Contains(trimmed, ": "):
			k, v, _ := strings.Cut(trimmed, ": ")
			out[len(out)-1].match[k] = strings.TrimSpace(v)
		case strings.HasPrefix(trimmed, "- "):
			inMatch = false
		}
	}
	return out
}
