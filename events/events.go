package events

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/report"
)

// Schema names the layout of the event lines; it changes name when a
// field changes meaning or goes away (fields are only ever added).
const Schema = "smtpscope.events/v1"

// Writer writes one JSON object per line (JSON Lines) per incident, per
// finished connection and per correction of a connection's line, for a log pipeline (Vector, Fluent Bit,
// Filebeat → Elastic, Loki, Kafka). Field names follow the Elastic Common
// Schema where it has them; the rest is under "smtpscope". It is safe
// for use by several goroutines; each line is written whole, with one
// Write.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Err returns the first write error; later lines are dropped after it.
func (e *Writer) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Endpoint is ECS's source or destination: ip and port when the report
// names the real address, address alone when it holds a --redact token.
type Endpoint struct {
	IP      string `json:"ip,omitempty"`
	Port    uint16 `json:"port,omitempty"`
	Address string `json:"address,omitempty"`
}

// Event is one line. ECS fields: @timestamp, event.*, source.*,
// destination.*, network.*, email.*; the rest is smtpscope's.
type Event struct {
	Timestamp   time.Time `json:"@timestamp"`
	ECS         ecs       `json:"ecs"`
	Event       eventMeta `json:"event"`
	Source      Endpoint  `json:"source"`
	Destination Endpoint  `json:"destination"`
	Network     network   `json:"network"`
	Email       *email    `json:"email,omitempty"`
	SMTPScope   scope     `json:"smtpscope"`
}

type ecs struct {
	Version string `json:"version"`
}

// eventMeta is ECS's event.*: kind "alert" for an incident, "event" for a
// finished connection; outcome failure, success or unknown; reason the
// diagnosis cause.
type eventMeta struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	Dataset  string   `json:"dataset"`
	Outcome  string   `json:"outcome"`
	Reason   string   `json:"reason"`
}

type network struct {
	Transport   string `json:"transport"`
	Protocol    string `json:"protocol,omitempty"`
	CommunityID string `json:"community_id,omitempty"`
}

// email is ECS's email.*, for a connection with exactly one mail
// transaction (ECS describes one message).
type email struct {
	From      *addresses `json:"from,omitempty"`
	To        *addresses `json:"to,omitempty"`
	MessageID string     `json:"message_id,omitempty"`
}

type addresses struct {
	Address []string `json:"address"`
}

// scope is smtpscope's own namespace.
type scope struct {
	Schema  string `json:"schema"`
	Stream  int    `json:"stream"`
	Input   int    `json:"input"`
	Frame   int    `json:"frame,omitempty"`
	Message int    `json:"message,omitempty"`
	Layer   string `json:"layer"`
	Cause   string `json:"cause"`
	Summary string `json:"summary"`
	// Decryption is the TLS session's decryption with a key log
	// (report.TLSDecryption): for an incident, as it stood when it was
	// told.
	Decryption *report.TLSDecryption `json:"decryption,omitempty"`
	// Corrects, on a correction event, says what the connection's event
	// said that it corrects.
	Corrects *corrects `json:"corrects,omitempty"`
	// Connection (and correction) events only.
	FirstFrame   int             `json:"first_frame,omitempty"`
	LastFrame    int             `json:"last_frame,omitempty"`
	DurationMS   float64         `json:"duration_ms,omitempty"`
	Packets      int             `json:"packets,omitempty"`
	L4           *l4             `json:"l4,omitempty"`
	Transactions []*transaction  `json:"transactions,omitempty"`
	Banner       *report.Reply   `json:"banner,omitempty"`
	SMTP         *bool           `json:"smtp,omitempty"`
	Process      *report.Process `json:"process,omitempty"`
}

// corrects names what a correction event corrects: the line of the given
// action (connection) of the same stream, input and first frame, and the
// cause it gave.
type corrects struct {
	Action string       `json:"action"`
	Cause  report.Cause `json:"cause"`
}

type l4 struct {
	Verdict         string `json:"verdict"`
	Retransmissions int    `json:"retransmissions"`
	Resets          int    `json:"resets"`
	ZeroWindows     int    `json:"zero_windows"`
}

// transaction is one mail transaction of a connection event; reply is the
// final reply (code, enhanced code, text).
type transaction struct {
	MailFrom  string        `json:"mail_from"`
	RcptTo    []string      `json:"rcpt_to"`
	MessageID string        `json:"message_id,omitempty"`
	Size      int64         `json:"size"`
	Outcome   string        `json:"outcome"`
	Cause     report.Cause  `json:"cause"`
	Reply     *report.Reply `json:"reply,omitempty"`
	LatencyMS float64       `json:"latency_ms,omitempty"`
	WaitedMS  float64       `json:"waited_ms,omitempty"`
	// RefusedAttempt: the server refused the MAIL, so no transaction was
	// opened (report.Transaction.RefusedAttempt).
	RefusedAttempt bool `json:"refused_attempt,omitempty"`
}

// ecsVersion is the ECS release the field names follow.
const ecsVersion = "8.11.0"

// endpoints fills source and destination from the report's strings, and
// the Community ID when both are real addresses.
func endpoints(ev *Event, client, server string) {
	c, errC := netip.ParseAddrPort(client)
	s, errS := netip.ParseAddrPort(server)
	if errC != nil || errS != nil {
		// Redacted: tokens, and no Community ID (a hash of four numbers
		// is easily reversed).
		ev.Source.Address, ev.Destination.Address = client, server
		return
	}
	ev.Source = Endpoint{IP: c.Addr().Unmap().String(), Port: c.Port()}
	ev.Destination = Endpoint{IP: s.Addr().Unmap().String(), Port: s.Port()}
	ev.Network.CommunityID = CommunityID(0, ProtoTCP, c, s)
}

func newEvent(at time.Time, kind, action string) Event {
	return Event{Timestamp: at.UTC(), ECS: ecs{ecsVersion},
		Event: eventMeta{Kind: kind, Category: []string{"network", "email"}, Type: []string{"connection"},
			Action: action, Dataset: "smtpscope." + action},
		Network:   network{Transport: "tcp"},
		SMTPScope: scope{Schema: Schema}}
}

// Incident writes an incident's line.
func (e *Writer) Incident(in *report.Incident) {
	ev := newEvent(in.Time, "alert", "incident")
	ev.Event.Outcome, ev.Event.Reason = "failure", string(in.Kind)
	if in.Kind == report.CauseCaptureIncomplete {
		ev.Event.Outcome = "unknown"
	}
	ev.Network.Protocol = "smtp"
	endpoints(&ev, in.Client, in.Server)
	ev.SMTPScope.Stream, ev.SMTPScope.Frame, ev.SMTPScope.Message = in.Stream, in.Frame, in.Message
	ev.SMTPScope.Layer, ev.SMTPScope.Cause, ev.SMTPScope.Summary = in.Layer, string(in.Kind), in.Summary
	ev.SMTPScope.Decryption = in.Decryption
	e.write(&ev)
}

// Connection writes a finished connection's line.
func (e *Writer) Connection(c *report.Connection) {
	ev := newEvent(c.Start, "event", "connection")
	ev.Event.Reason = string(c.Diagnosis.Cause)
	ev.Event.Outcome = "success"
	if c.Failed() {
		ev.Event.Outcome = "failure"
	}
	endpoints(&ev, c.Client, c.Server)
	sc := &ev.SMTPScope
	sc.Stream, sc.Input, sc.FirstFrame, sc.LastFrame = c.Stream, c.Input, c.FirstFrame, c.LastFrame
	sc.DurationMS, sc.Packets, sc.Process = c.DurationMS, c.Packets, c.Process
	sc.Layer, sc.Cause, sc.Summary = c.Diagnosis.Layer, string(c.Diagnosis.Cause), c.Diagnosis.Summary
	sc.L4 = &l4{Verdict: c.L4.Verdict, Retransmissions: c.L4.Retransmissions, Resets: c.L4.Resets, ZeroWindows: c.L4.ZeroWindows}
	isSMTP := c.SMTP != nil
	sc.SMTP = &isSMTP
	if m := c.SMTP; m != nil {
		ev.Network.Protocol = "smtp"
		sc.Banner = m.Banner
		if m.TLS != nil {
			sc.Decryption = m.TLS.Decryption
		}
		for i := range m.Transactions {
			tx := &m.Transactions[i]
			t := &transaction{MailFrom: tx.MailFrom, RcptTo: tx.RcptTo, MessageID: tx.MessageID, Size: tx.Size,
				Outcome: tx.Outcome, Cause: tx.Diagnosis.Cause, Reply: tx.Reply, WaitedMS: tx.WaitedMS,
				RefusedAttempt: tx.RefusedAttempt}
			if tx.Reply != nil {
				t.LatencyMS = tx.Reply.LatencyMS
			}
			sc.Transactions = append(sc.Transactions, t)
		}
		if len(m.Transactions) == 1 {
			tx := &m.Transactions[0]
			ev.Email = &email{MessageID: tx.MessageID}
			if tx.MailFrom != "" {
				ev.Email.From = &addresses{Address: []string{tx.MailFrom}}
			}
			if len(tx.RcptTo) > 0 {
				ev.Email.To = &addresses{Address: tx.RcptTo}
			}
		}
	}
	e.write(&ev)
}

// Correction writes the line that corrects a connection's line: the
// report changed its diagnosis when it was finished (report.Revision,
// starttls-stripped: a fact no session shows alone), after the
// connection's line was written. It names the connection as that line
// did (stream, input, first frame, endpoints, @timestamp its first
// packet) and gives the diagnosis now, and what the line said under
// smtpscope.corrects.
func (e *Writer) Correction(rv *report.Revision) {
	ev := newEvent(rv.Start, "event", "correction")
	ev.Event.Reason = string(rv.Diagnosis.Cause)
	ev.Event.Outcome = "success"
	if rv.Failed {
		ev.Event.Outcome = "failure"
	}
	ev.Network.Protocol = "smtp"
	endpoints(&ev, rv.Client, rv.Server)
	sc := &ev.SMTPScope
	sc.Stream, sc.Input, sc.FirstFrame = rv.Stream, rv.Input, rv.FirstFrame
	sc.Layer, sc.Cause, sc.Summary = rv.Diagnosis.Layer, string(rv.Diagnosis.Cause), rv.Diagnosis.Summary
	sc.Corrects = &corrects{Action: "connection", Cause: rv.Was}
	e.write(&ev)
}

func (e *Writer) write(ev *Event) {
	b, err := json.Marshal(ev)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return
	}
	if err != nil {
		e.err = fmt.Errorf("events: %w", err)
		return
	}
	if _, err := e.w.Write(append(b, '\n')); err != nil {
		e.err = fmt.Errorf("events: %w", err)
	}
}

// Open opens an events file for appending (smtpscope --events): name ""
// is none (nil, and a close that does nothing), "-" is stdout. Lines are buffered only when buffered (live
// mode writes each at once, for a shipper that tails the file). close
// flushes and closes it and returns the first error.
func Open(name string, stdout io.Writer, buffered bool) (w *Writer, close func() error, err error) {
	switch name {
	case "":
		return nil, func() error { return nil }, nil
	case "-":
		w = NewWriter(stdout)
		return w, w.Err, nil
	}
	file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	var out io.Writer = file
	flush := func() error { return nil }
	if buffered {
		bw := bufio.NewWriter(file)
		out, flush = bw, bw.Flush
	}
	w = NewWriter(out)
	return w, func() error {
		return cmp.Or(w.Err(), flush(), file.Close())
	}, nil
}
