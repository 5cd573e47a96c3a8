package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The expect command writes <name>.expect.json from what the peers logged:
// the client's JSON lines (one per message and one per session) and the
// server's event log. No packet analysis is involved. The intended diagnosis
// comes from the scenario script (--diag / --session-diag), because it is the
// fault the scenario injected.

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

var outcomes = map[string]bool{"delivered": true, "deferred": true, "rejected": true, "no-reply": true, "aborted": true, "unknown": true}

// paramValue is v as a JSON number, boolean, array or object if it parses
// as one, else the string.
func paramValue(v string) any {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if v == "true" || v == "false" {
		return v == "true"
	}
	if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			return x
		}
	}
	return v
}

var layers = map[string]bool{"none": true, "L4": true, "L7": true, "capture": true, "TLS": true}
var causes = map[string]bool{"ok": true, "eod-no-reply": true, "eod-partial-reply": true, "slow-reply": true,
	"rejected": true, "deferred": true, "aborted-by-client": true, "pmtu-blackhole": true, "packet-loss": true,
	"zero-window-stall": true, "reset-by-server": true, "reset-by-client": true, "reset-injected": true,
	"connect-refused": true, "connect-timeout": true, "tls-opaque": true, "capture-incomplete": true,
	"starttls-refused": true, "starttls-stripped": true, "tls-version-mismatch": true, "tls-cert-rejected": true,
	"tls-handshake-failed": true}

type diagnosis struct {
	Layer string `json:"layer"`
	Cause string `json:"cause"`
}

func parseDiag(s string) (diagnosis, error) {
	l, c, ok := strings.Cut(s, ":")
	if !ok || !layers[l] || !causes[c] {
		return diagnosis{}, fmt.Errorf("bad diagnosis %q (want LAYER:CAUSE)", s)
	}
	return diagnosis{l, c}, nil
}

func readJSONL(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

func num(v any) (int, bool) {
	f, ok := v.(float64)
	return int(f), ok
}

func runExpect(args []string) error {
	fs := flag.NewFlagSet("expect", flag.ExitOnError)
	name := fs.String("name", "", "scenario name")
	desc := fs.String("description", "", "what the scenario does")
	capture := fs.String("capture", "", "capture file name (beside the expect file)")
	clientPath := fs.String("client", "", "client JSON lines")
	serverPath := fs.String("server", "", "server JSON log")
	out := fs.String("out", "-", "output file")
	var diags, sdiags, params, notes, views, capOutcomes multiFlag
	fs.Var(&diags, "diag", "KEY=LAYER:CAUSE for messages; KEY is S.M, retrans (the client's socket retransmitted during the message), an outcome, or * (repeatable; that order of precedence)")
	fs.Var(&sdiags, "session-diag", "KEY=LAYER:CAUSE for sessions without a message on the wire; KEY is S or * (repeatable)")
	fs.Var(&params, "param", "KEY=VALUE scenario setting recorded as is (number if it parses as one)")
	fs.Var(&notes, "note", "free-text note (repeatable)")
	fs.Var(&views, "capture-view", "KEY=VALUE: how the capture differs from what was on the wire (an edited, cut or snaplen-limited capture); recorded under capture_view (number, true/false or JSON if it parses as one)")
	fs.Var(&capOutcomes, "capture-outcome", "S.M=OUTCOME: the outcome this capture can establish for message M of session S, where it differs from what the peers logged (the peers' outcome, reply and eod_wait_s move to \"logged\"); unknown clears the reply and drops eod_wait_s")
	fs.Parse(args)

	msgDiag := map[string]diagnosis{}
	for _, d := range diags {
		k, v, _ := strings.Cut(d, "=")
		dg, err := parseDiag(v)
		if err != nil {
			return err
		}
		msgDiag[k] = dg
	}
	sessDiag := map[string]diagnosis{}
	for _, d := range sdiags {
		k, v, _ := strings.Cut(d, "=")
		dg, err := parseDiag(v)
		if err != nil {
			return err
		}
		sessDiag[k] = dg
	}
	capOutcome := map[string]string{}
	for _, o := range capOutcomes {
		k, v, _ := strings.Cut(o, "=")
		if !outcomes[v] {
			return fmt.Errorf("bad --capture-outcome %q", o)
		}
		capOutcome[k] = v
	}
	crecs, err := readJSONL(*clientPath)
	if err != nil {
		return err
	}
	srecs, err := readJSONL(*serverPath)
	if err != nil {
		return err
	}

	// server events grouped by connection, keyed by the client's port
	type sconn struct {
		id     int
		events []map[string]any
	}
	byPort := map[int]*sconn{}
	byID := map[int]*sconn{}
	serverAddr := ""
	for _, e := range srecs {
		if e["event"] == "listen" {
			serverAddr, _ = e["addr"].(string)
		}
		id, ok := num(e["conn"])
		if !ok {
			continue
		}
		sc := byID[id]
		if sc == nil {
			sc = &sconn{id: id}
			byID[id] = sc
		}
		sc.events = append(sc.events, e)
		if e["event"] == "accept" {
			if _, p, err := splitHostPortNum(e["remote"]); err == nil {
				byPort[p] = sc
			}
		}
	}

	type session struct {
		rec      map[string]any
		messages []map[string]any
	}
	var sessions []*session
	sessByIdx := map[int]*session{}
	get := func(i int) *session {
		if s := sessByIdx[i]; s != nil {
			return s
		}
		s := &session{}
		sessByIdx[i] = s
		sessions = append(sessions, s)
		return s
	}
	for _, r := range crecs {
		i, _ := num(r["session"])
		switch r["type"] {
		case "session":
			get(i).rec = r
		case "message":
			s := get(i)
			s.messages = append(s.messages, r)
		}
	}
	sort.SliceStable(sessions, func(a, b int) bool {
		x, _ := num(sessions[a].rec["session"])
		y, _ := num(sessions[b].rec["session"])
		return x < y
	})

	var outSessions []any
	var primary *diagnosis
	for _, s := range sessions {
		if s.rec == nil {
			return errors.New("client log lacks a session record")
		}
		si, _ := num(s.rec["session"])
		cport, _ := num(s.rec["client_port"])
		so := newO("index", si, "diagnosis", nil,
			"client_ip", s.rec["client_ip"], "client_port", s.rec["client_port"],
			"server_ip", s.rec["server_ip"], "server_port", s.rec["server_port"],
			"connect", s.rec["connect"])
		if so.Get("server_ip") == nil {
			if h, p, err := splitHostPortNum(s.rec["server"]); err == nil {
				so.Set("server_ip", h)
				so.Set("server_port", p)
				if so.Get("client_ip") == nil {
					so.Set("client_ip", h) // the client binds the server's loopback address
				}
			}
		}
		for _, k := range []string{"greeting_code", "greeting_text"} {
			if v, ok := s.rec[k]; ok {
				so.Set(k, v)
			}
		}
		so.Set("tls", s.rec["tls"])
		if v, ok := s.rec["tls_version"]; ok {
			so.Set("tls_version", v)
		}
		so.Set("client_close", s.rec["close"])
		if v, ok := s.rec["error"]; ok {
			so.Set("client_error", v)
		}
		sc := byPort[cport]
		if sc != nil {
			srv := newO("conn", sc.id)
			for _, e := range sc.events {
				switch e["event"] {
				case "close":
					srv.Set("close", e["how"])
					srv.Set("tcp_retrans", e["tcp_retrans"])
				case "reply":
					if e["stage"] == "banner" {
						srv.Set("banner", e["line"])
					}
				}
			}
			so.Set("server_view", srv)
		} else {
			so.Set("server_view", nil) // the server never accepted this connection
		}

		var msgs, unsent []any
		var worst *diagnosis
		for _, m := range s.messages {
			mi, _ := num(m["msg"])
			if m["outcome"] == "not-sent" {
				unsent = append(unsent, newO("index", mi, "message_id", m["message_id"],
					"size", m["size"], "stage", m["stage"], "reason", m["error"]))
				continue
			}
			om := newO("index", mi, "message_id", m["message_id"], "size", m["size"],
				"wire_bytes", m["wire_bytes"], "outcome", m["outcome"], "stage", m["stage"])
			if m["outcome"] == "aborted" && m["stage"] == "body" {
				// cut off mid-body: wire_bytes is what the client meant to
				// send; less made it to the wire
				om.Set("body_cut_off", true)
			}
			if code, ok := num(m["reply_code"]); ok {
				om.Set("reply_code", code)
			} else {
				om.Set("reply_code", nil)
			}
			om.Set("enhanced_code", m["enhanced_code"])
			om.Set("diagnosis", nil)
			for _, k := range []string{"reply_text", "eod_wait_s", "local_status", "local_text", "error_kind", "error", "partial_reply_text", "rcpt", "bdat_chunks", "tcp_retrans"} {
				if v, ok := m[k]; ok {
					om.Set(k, v)
				}
			}
			if v, ok := m["reply_code"].(string); ok {
				om.Set("client_timeout", v == "timeout")
			}
			if sc != nil {
				om.Set("server_view", serverMsgView(sc.events, m["message_id"], m["stage"]))
			}
			outcome := fmt.Sprint(m["outcome"])
			if co, ok := capOutcome[fmt.Sprintf("%d.%d", si, mi)]; ok {
				// what the capture can establish; the peers' account is kept
				logged := newO("outcome", outcome)
				for _, k := range []string{"reply_code", "enhanced_code", "reply_text", "eod_wait_s"} {
					if _, ok := om.vals[k]; !ok {
						continue
					}
					logged.Set(k, om.Get(k))
					if co == "unknown" {
						if k == "eod_wait_s" {
							om.Del(k) // no wait that the capture shows
						} else {
							om.Set(k, nil)
						}
					}
				}
				outcome = co
				om.Set("outcome", co)
				om.Set("logged", logged)
			}
			dg, ok := msgDiag[fmt.Sprintf("%d.%d", si, mi)]
			if rt, _ := num(m["tcp_retrans"]); !ok && rt > 0 {
				dg, ok = msgDiag["retrans"]
			}
			if !ok {
				dg, ok = msgDiag[outcome]
			}
			if !ok {
				dg, ok = msgDiag["*"]
			}
			if !ok {
				return fmt.Errorf("no diagnosis for session %d message %d (outcome %v)", si, mi, outcome)
			}
			om.Set("diagnosis", dg)
			if worst == nil || (worst.Cause == "ok" && dg.Cause != "ok") {
				d := dg
				worst = &d
			}
			msgs = append(msgs, om)
		}
		if msgs == nil {
			msgs = []any{}
		}
		so.Set("messages", msgs)
		if unsent != nil {
			so.Set("unsent", unsent)
		}
		dg, ok := sessDiag[strconv.Itoa(si)]
		if !ok {
			dg, ok = sessDiag["*"]
		}
		if !ok {
			if worst == nil {
				return fmt.Errorf("session %d has no message on the wire: give --session-diag", si)
			}
			dg = *worst
		}
		so.Set("diagnosis", dg)
		if primary == nil || (primary.Cause == "ok" && dg.Cause != "ok") {
			d := dg
			primary = &d
		}
		outSessions = append(outSessions, so)
	}
	settings := newO()
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			settings.Set(k, f)
		} else {
			settings.Set(k, v)
		}
	}
	doc := newO("scenario", *name, "description", *desc, "capture", *capture,
		"diagnosis", primary, "server_listen", serverAddr, "settings", settings)
	if len(views) > 0 {
		cv := newO()
		for _, p := range views {
			k, v, _ := strings.Cut(p, "=")
			cv.Set(k, paramValue(v))
		}
		doc.Set("capture_view", cv)
	}
	if len(notes) > 0 {
		doc.Set("notes", []string(notes))
	}
	doc.Set("generated_from", "the lab client's JSON lines and the lab server's event log (no packet analysis)")
	doc.Set("sessions", outSessions)
	b, err := marshalIndent(doc)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// omap is a JSON object that keeps its keys in insertion order.
type omap struct {
	keys []string
	vals map[string]any
}

func newO(kv ...any) *omap {
	o := &omap{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *omap) Set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *omap) Get(k string) any { return o.vals[k] }

func (o *omap) Del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, x := range o.keys {
		if x == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *omap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshalNoEscape(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func marshalIndent(v any) ([]byte, error) {
	raw, err := marshalNoEscape(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// serverMsgView is what the server saw of one message: matched by
// Message-ID, or, for a message whose body the server never fully received,
// by the DATA the server began and never finished.
func serverMsgView(events []map[string]any, msgID, stage any) *omap {
	v := newO("received", false)
	n := -1
	ended := map[int]bool{}
	for _, e := range events {
		if e["event"] == "data_end" {
			m, _ := num(e["msg"])
			ended[m] = true
			if e["message_id"] == msgID {
				n = m
				v.Set("received", true)
				v.Set("received_bytes", e["bytes"])
			}
		}
	}
	if n < 0 {
		if stage != "body" && stage != "eod" {
			return v // the transaction ended before DATA
		}
		for _, e := range events {
			if m, _ := num(e["msg"]); e["event"] == "data_begin" && !ended[m] {
				n = m
				break
			}
		}
		if n < 0 {
			return v
		}
	}
	for _, e := range events {
		if m, ok := num(e["msg"]); !ok || m != n {
			continue
		}
		switch e["event"] {
		case "reply":
			if e["stage"] == "eod" {
				v.Set("reply_code", e["code"])
				v.Set("reply_enh", e["enh"])
			}
		case "stall_begin":
			v.Set("stalled", true)
		case "partial_reply":
			v.Set("partial_reply", e["bytes"])
		case "stall_end":
			v.Set("stall_end", e["reason"])
			v.Set("stall_s", e["stall_s"])
			v.Set("unanswered", e["unanswered"])
		case "delay_begin":
			v.Set("delay_s", e["for_s"])
		case "window_stall_begin":
			v.Set("window_stall_s", e["for_s"])
			v.Set("window_stall_after_bytes", e["bytes_read"])
		case "reset_during_data":
			v.Set("reset_after_bytes", e["bytes_read"])
		case "data_error":
			v.Set("data_error", e["err"])
			v.Set("received_bytes", e["bytes"])
		}
	}
	return v
}

func splitHostPortNum(v any) (string, int, error) {
	s, _ := v.(string)
	h, p, err := splitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}
