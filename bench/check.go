package bench

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/smtpscope/smtpscope/bench/synth"
)

// Mismatch is one difference between a report and the expectations.
type Mismatch struct {
	Stream int
	Fault  synth.Fault
	// Shape is how the session's client retransmitted, if it matters.
	Shape synth.Shape
	// TLS is the version the session upgraded to ("" in clear).
	TLS string
	// BDAT is set for a session that sent its messages in BDAT chunks.
	BDAT bool
	// CaptureLoss is the frame the session's capture lacks.
	CaptureLoss synth.Loss
	// Field names what differs, e.g. "message[0].outcome" or "l4.retransmissions".
	Field     string
	Want, Got string
}

func (m Mismatch) String() string {
	fault := string(m.Fault)
	if m.Shape != synth.ShapeNone {
		fault += ", " + string(m.Shape)
	}
	if m.TLS != "" {
		fault += ", " + m.TLS
	}
	if m.BDAT {
		fault += ", BDAT"
	}
	if m.CaptureLoss != synth.LossNone {
		fault += ", capture lacks " + string(m.CaptureLoss)
	}
	return fmt.Sprintf("stream %d (%s): %s: want %s, got %s", m.Stream, fault, m.Field, m.Want, m.Got)
}

// CheckResult is what Check found.
type CheckResult struct {
	Sessions, Messages int
	Mismatches         []Mismatch
	// FalseClaims counts the mismatches that claim a failure the capture
	// does not prove (field message[].false-claim).
	FalseClaims int
	// Unknown counts the messages reported unknown (capture-incomplete)
	// where the capture lacks a frame but still proves the outcome: honest,
	// not a mismatch, but a correct analyser could have told.
	Unknown int
}

// FieldCount is how many mismatches one field has.
type FieldCount struct {
	Field string
	Count int
}

// ByField counts the mismatches per field (message indexes folded
// together), most frequent first.
func (r *CheckResult) ByField() []FieldCount {
	var out []FieldCount
	for _, m := range r.Mismatches {
		f := foldIndex(m.Field)
		i := slices.IndexFunc(out, func(c FieldCount) bool { return c.Field == f })
		if i < 0 {
			out = append(out, FieldCount{Field: f})
			i = len(out) - 1
		}
		out[i].Count++
	}
	slices.SortStableFunc(out, func(a, b FieldCount) int {
		return cmp.Or(-cmp.Compare(a.Count, b.Count), cmp.Compare(a.Field, b.Field))
	})
	return out
}

// foldIndex turns "message[3].code" into "message[].code".
func foldIndex(f string) string {
	i, j := -1, -1
	for k := range len(f) {
		switch f[k] {
		case '[':
			i = k
		case ']':
			j = k
		}
	}
	if i >= 0 && j > i {
		return f[:i+1] + f[j:]
	}
	return f
}

// The part of the smtpscope.report/v1 JSON that Check reads. It is kept
// here, not taken from package report, so that the check reads the
// documented schema as any other program would.
type reportJSON struct {
	Schema      string           `json:"schema"`
	Connections []connectionJSON `json:"connections"`
}

type connectionJSON struct {
	Stream int    `json:"stream"`
	Client string `json:"client"`
	Server string `json:"server"`
	L4     struct {
		Verdict         string                         `json:"verdict"`
		Retransmissions int                            `json:"retransmissions"`
		Resets          int                            `json:"resets"`
		ZeroWindows     int                            `json:"zero_windows"`
		Analysis        map[string]struct{ Count int } `json:"analysis"`
		Client          struct {
			UnseenBytes int64 `json:"unseen_bytes"`
			MissedBytes int64 `json:"missed_bytes"`
		} `json:"client"`
		Server struct {
			UnseenBytes int64 `json:"unseen_bytes"`
			MissedBytes int64 `json:"missed_bytes"`
		} `json:"server"`
	} `json:"l4"`
	SMTP *struct {
		Commands []struct {
			Verb  string     `json:"verb"`
			Frame int        `json:"frame"`
			Reply *replyJSON `json:"reply"`
		} `json:"commands"`
		Transactions []transactionJSON `json:"transactions"`
	} `json:"smtp"`
}

type transactionJSON struct {
	MailFrame int        `json:"mail_frame"`
	Size      int64      `json:"size"`
	MessageID string     `json:"message_id"`
	Outcome   string     `json:"outcome"`
	Inferred  bool       `json:"inferred"`
	SizeMin   int64      `json:"size_min"`
	SizeMax   int64      `json:"size_max"`
	Reply     *replyJSON `json:"reply"`
	Rcpts     []struct {
		Reply *replyJSON `json:"reply"`
	} `json:"rcpts"`
	Diagnosis struct {
		Cause string `json:"cause"`
	} `json:"diagnosis"`
}

type replyJSON struct {
	Code  int `json:"code"`
	Frame int `json:"frame"`
}

// Check compares a smtpscope JSON report with an expectations file, one
// synth.Expectation per line, session by session: the connection's
// peers, its TCP analysis counts and verdict (when the expectation
// has one) and the bytes each side sent that the capture lacks, and per
// message the outcome (a failure the capture does not prove counts as a
// false claim; where the capture lacks a frame but proves the outcome,
// unknown with cause capture-incomplete is accepted and counted apart),
// the BDAT commands, deciding
// reply code, size, Message-ID, diagnosis cause and whether it was
// inferred from TLS records (whose size range must hold the message and
// its end-of-data line). Other sizes are compared
// only for messages whose body ended (an aborted body's size depends on
// where the capture saw it stop). Connections the report has and the
// expectations lack are mismatches too.
func Check(report, expect io.Reader) (*CheckResult, error) {
	var r reportJSON
	if err := json.NewDecoder(bufio.NewReaderSize(report, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	conns := make(map[int]*connectionJSON, len(r.Connections))
	for i := range r.Connections {
		conns[r.Connections[i].Stream] = &r.Connections[i]
	}
	res := &CheckResult{}
	seen := make(map[int]bool, len(r.Connections))
	sc := bufio.NewScanner(expect)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var e synth.Expectation
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("expectations line %d: %w", line, err)
		}
		res.Sessions++
		res.Messages += len(e.Messages)
		seen[e.Stream] = true
		checkSession(res, &e, conns[e.Stream])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	for i := range r.Connections {
		if c := &r.Connections[i]; !seen[c.Stream] {
			res.Mismatches = append(res.Mismatches, Mismatch{Stream: c.Stream, Field: "connection",
				Want: "none", Got: c.Client + " -> " + c.Server})
		}
	}
	return res, nil
}

func checkSession(res *CheckResult, e *synth.Expectation, c *connectionJSON) {
	add := func(field string, want, got any) {
		res.Mismatches = append(res.Mismatches, Mismatch{Stream: e.Stream, Fault: e.Fault, Shape: e.Shape, TLS: e.TLS, BDAT: e.BDAT, CaptureLoss: e.CaptureLoss, Field: field,
			Want: fmt.Sprint(want), Got: fmt.Sprint(got)})
	}
	if c == nil {
		add("connection", e.Client+" -> "+e.Server, "missing")
		return
	}
	if c.Client != e.Client || c.Server != e.Server {
		add("peers", e.Client+" -> "+e.Server, c.Client+" -> "+c.Server)
	}
	if e.Copies <= 1 {
		// A capture holding each frame twice has Wireshark's flags on the
		// copies: only the messages are compared.
		checkL4(add, e, c)
	}
	if c.SMTP == nil {
		add("smtp", "session", "null")
		return
	}
	txs := c.SMTP.Transactions
	if len(txs) != len(e.Messages) {
		add("transactions", len(e.Messages), len(txs))
	}
	for i := range e.Messages {
		if i >= len(txs) {
			break
		}
		inMessage := func(field string, want, got any) { add(fmt.Sprintf("message[%d].%s", i, field), want, got) }
		checkMessage(res, inMessage, e, c, i)
	}
}

// checkMessage compares message i of e with the report's transaction i
// of c; add takes the field's name within the message.
func checkMessage(res *CheckResult, add func(string, any, any), e *synth.Expectation, c *connectionJSON, i int) {
	txs := c.SMTP.Transactions
	m, tx := &e.Messages[i], &txs[i]
	switch {
	case tx.Outcome == m.Outcome:
	case m.UnknownOK && tx.Outcome == "unknown":
		// The capture lacks a frame of the message: unknown is honest.
		res.Unknown++
		if tx.Diagnosis.Cause != "capture-incomplete" {
			add("cause", "capture-incomplete", tx.Diagnosis.Cause)
		}
		return
	case failure(tx.Outcome) && (m.Outcome == "unknown" || m.Lost != synth.LossNone || m.UnknownOK):
		// A failure the capture does not prove: worse than any
		// other mismatch, counted apart.
		res.FalseClaims++
		add("false-claim", m.Outcome, tx.Outcome)
	default:
		add("outcome", m.Outcome, tx.Outcome)
	}
	after := 0 // the previous transaction's final reply
	if i > 0 && txs[i-1].Reply != nil {
		after = txs[i-1].Reply.Frame
	}
	until := 0
	if tx.Reply != nil {
		until = tx.Reply.Frame
	}
	chunks, chunkRefused := bdatOf(c, tx.MailFrame, after, until)
	if got := decidingCode(tx.Reply, tx.Rcpts, chunkRefused); got != m.Code {
		add("code", m.Code, got)
	}
	if e.BDAT && chunks != m.Chunks && m.Lost != synth.LossClientChunkLine {
		add("chunks", m.Chunks, chunks)
	}
	if tx.Diagnosis.Cause != m.Cause {
		add("cause", m.Cause, tx.Diagnosis.Cause)
	}
	if tx.Inferred != m.Inferred {
		add("inferred", m.Inferred, tx.Inferred)
	}
	checkSize(add, m, tx)
	if m.MessageID != "" && tx.MessageID != m.MessageID {
		add("message_id", m.MessageID, tx.MessageID)
	}
}

// checkSize compares the message's size where the capture shows it: an
// inferred size range must hold the message and its end-of-data line.
func checkSize(add func(string, any, any), m *synth.MessageExpectation, tx *transactionJSON) {
	switch {
	case m.Inferred && m.Outcome != "aborted":
		// The records bound the DATA stream: the message and its
		// end-of-data line.
		if wire := m.Size + 3; tx.Inferred && (wire < tx.SizeMin || wire > tx.SizeMax) {
			add("size", fmt.Sprintf("%d", wire), fmt.Sprintf("[%d, %d]", tx.SizeMin, tx.SizeMax))
		}
	case m.Lost == synth.LossClientBody || m.Lost == synth.LossClientEnd || m.Lost == synth.LossClientChunkLine:
		// The capture lacks some of the body's bytes.
	case m.Lost == synth.LossServerRefusal:
		// Without the replies to the envelope the capture cannot
		// tell a body from the commands that follow DATA.
	case m.Outcome != "aborted" && tx.Size != m.Size:
		add("size", m.Size, tx.Size)
	}
}

func checkL4(add func(string, any, any), e *synth.Expectation, c *connectionJSON) {
	if e.L4Verdict != "" && c.L4.Verdict != e.L4Verdict {
		add("l4.verdict", e.L4Verdict, c.L4.Verdict)
	}
	if got := c.L4.Retransmissions; got != e.L4.Retransmissions {
		add("l4.retransmissions", e.L4.Retransmissions, got)
	}
	if got := c.L4.Analysis["out_of_order"].Count; got != e.L4.OutOfOrder {
		add("l4.out_of_order", e.L4.OutOfOrder, got)
	}
	if got := c.L4.ZeroWindows; got != e.L4.ZeroWindows {
		add("l4.zero_windows", e.L4.ZeroWindows, got)
	}
	if got := c.L4.Resets; got != e.L4.Resets {
		add("l4.resets", e.L4.Resets, got)
	}
	if got := c.L4.Client.UnseenBytes; got != e.Unseen.Client {
		add("l4.client.unseen_bytes", e.Unseen.Client, got)
	}
	if got := c.L4.Server.UnseenBytes; got != e.Unseen.Server {
		add("l4.server.unseen_bytes", e.Unseen.Server, got)
	}
	// The generator drops frames from the capture only where it says so
	// (Unseen): a side it left whole must reach the decoder whole, so a gap
	// there is reassembly's (a hole flushed before its retransmission came).
	if got := c.L4.Client.MissedBytes; got > 0 && e.Unseen.Client == 0 {
		add("l4.client.missed_bytes", int64(0), got)
	}
	if got := c.L4.Server.MissedBytes; got > 0 && e.Unseen.Server == 0 {
		add("l4.server.missed_bytes", int64(0), got)
	}
}

// decidingCode is the reply that decided a transaction: the reply to its
// end-of-data (or BDAT LAST), or else the refusal of a BDAT chunk
// (chunk), or else, when every recipient was refused, the last refusal;
// 0 for none.
func decidingCode(eod *replyJSON, rcpts []struct {
	Reply *replyJSON `json:"reply"`
}, chunk *replyJSON) int {
	if eod != nil {
		return eod.Code
	}
	if chunk != nil {
		return chunk.Code
	}
	code := 0
	for _, rc := range rcpts {
		if rc.Reply == nil || rc.Reply.Code < 400 {
			return 0
		}
		code = rc.Reply.Code
	}
	return code
}

// bdatOf counts the BDAT commands of the transaction whose MAIL is in
// frame mail (those after that MAIL and before the next one) and returns
// the first 4xx or 5xx reply to one of them (RFC 3030 §2: a refused
// chunk fails the transaction), nil if none. A transaction whose MAIL the
// capture lacks (mail 0) holds those after frame after, the previous
// transaction's final reply, and before the next MAIL; none holds a
// command after its own final reply (frame until, 0: none known), which
// the next transaction's hidden MAIL would leave in it.
func bdatOf(c *connectionJSON, mail, after, until int) (n int, refusal *replyJSON) {
	in := false
	for _, cmd := range c.SMTP.Commands {
		if until > 0 && cmd.Frame > until {
			break
		}
		if cmd.Verb == "MAIL" {
			if in {
				break
			}
			in = mail != 0 && cmd.Frame == mail
			continue
		}
		if mail == 0 && cmd.Frame > after {
			in = true
		}
		if in && cmd.Verb == "BDAT" {
			n++
			if refusal == nil && cmd.Reply != nil && cmd.Reply.Code >= 400 {
				refusal = cmd.Reply
			}
		}
	}
	return n, refusal
}

// failure tells whether an outcome is a failure claim (RFC 5321: the
// server refused, never answered, or the message never went whole).
func failure(outcome string) bool {
	switch outcome {
	case "rejected", "deferred", "no-reply", "aborted":
		return true
	}
	return false
}
