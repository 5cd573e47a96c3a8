package report

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// TestStartTLSStrippedByComparison: a healthy connection whose EHLO reply
// lacks STARTTLS gets starttls-stripped when its server offered STARTTLS
// on another session of the same input, added before or after it, in
// memory, in the temporary file or left out of the list; never when the
// server offered it nowhere, in another input, on a session the capture
// cut, after HELO, or when the connection failed for another cause.
func TestStartTLSStrippedByComparison(t *testing.T) {
	const mx, other = "10.0.0.25:25", "10.0.0.26:25"
	ehlo := func(ext []string, then ...string) *smtp.Session {
		s := &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001), Extensions: ext,
			Commands: []smtp.Command{{Verb: "EHLO", Frame: 6, Time: at(0.002), Reply: smtpReply(250, "", 7, 0.003)}}}
		for i, v := range then {
			s.Commands = append(s.Commands, smtp.Command{Verb: v, Frame: 8 + 2*i, Time: at(0.004), Reply: smtpReply(250, "", 9+2*i, 0.005)})
		}
		return s
	}
	offering := func() *smtp.Session { return ehlo([]string{"PIPELINING", "STARTTLS", "8BITMIME"}, "QUIT") }
	lacking := func(then ...string) *smtp.Session { return ehlo([]string{"PIPELINING", "8BITMIME"}, then...) }
	type conn struct {
		server  string
		input   int
		session *smtp.Session
		want    Cause
		words   string
	}
	cut := lacking("MAIL")
	cut.MidStream = true
	gapped := lacking("MAIL")
	gapped.Anomalies = []smtp.Anomaly{{Name: smtp.AnomalyContentGap, Frame: 7}}
	helo := lacking("MAIL")
	helo.Commands[0].Verb, helo.Extensions = "HELO", nil
	refused := lacking("MAIL")
	refused.Transactions = []smtp.Transaction{{MailFrom: "<a@example.org>", SizeParam: -1, Method: "DATA", Size: 100, MailFrame: 8,
		DataFrame: 11, EndOfDataFrame: 20, EndOfDataTime: at(0.01), Reply: smtpReply(554, "5.7.1", 21, 0.02), Outcome: smtp.OutcomeRejected}}
	conns := []conn{
		{mx, 0, lacking("MAIL"), CauseStartTLSStripped, "went on in plaintext"}, // before the session that offers it
		{mx, 0, offering(), CauseOK, ""},
		{mx, 0, lacking("QUIT"), CauseStartTLSStripped, "gave up"},
		{mx, 0, cut, CauseOK, ""},
		{mx, 0, gapped, CauseOK, ""},
		{mx, 0, helo, CauseOK, ""},
		{other, 0, lacking("MAIL"), CauseOK, ""}, // its server offered it nowhere
		{other, 1, offering(), CauseOK, ""},      // another input's
		{mx, 1, lacking("MAIL"), CauseOK, ""},    // mx offered it in input 0 only
	}
	conns = append(conns, conn{mx, 0, refused, "", ""}) // keeps its own cause
	for _, o := range []struct {
		name string
		opts Options
	}{
		{"in memory", Options{}},
		{"in the temporary file", Options{MemoryConnections: 1}},
		{"healthy ones not listed", Options{ListHealthy: 1, ListFailed: 1}},
	} {
		t.Run(o.name, func(t *testing.T) {
			b := NewBuilder(o.opts)
			added := map[int]Connection{}
			b.OnAdd(func(c *Connection) { added[c.Stream] = *c })
			var revised []Revision
			b.OnRevise(func(rv *Revision) { revised = append(revised, *rv) })
			for i, c := range conns {
				rc := &reassembly.Conn{Stream: i, Client: netip.MustParseAddrPort("10.0.0.5:40002"), Server: netip.MustParseAddrPort(c.server),
					FirstFrame: 1 + 100*i, LastFrame: 90 + 100*i, FirstTime: at(float64(i)), LastTime: at(float64(i) + 1)}
				b.Add(&Facts{Conn: rc, Session: c.session, SMTPPort: true, Input: c.input})
			}
			if len(revised) != 0 {
				t.Errorf("revisions told before Finish: %+v", revised)
			}
			r, err := b.Finish([]Input{{Name: "a.pcap"}, {Name: "b.pcap"}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// OnRevise is told of each connection that OnAdd was told of
			// with another cause, listed or not, naming it as OnAdd's did.
			var streams []int
			for _, rv := range revised {
				streams = append(streams, rv.Stream)
				a := added[rv.Stream]
				if rv.Input != a.Input || rv.FirstFrame != a.FirstFrame || !rv.Start.Equal(a.Start) || rv.Client != a.Client || rv.Server != a.Server ||
					rv.Was != a.Diagnosis.Cause || rv.Diagnosis.Cause != conns[rv.Stream].want || rv.Failed != a.Failed() {
					t.Errorf("revision %+v of the connection added as %+v", rv, a)
				}
			}
			if !slices.Equal(streams, []int{0, 2}) {
				t.Errorf("revisions of streams %v, want 0 and 2 (the stripped ones)", streams)
			}
			stripped := 0
			for i := range r.count() {
				c := r.conn(i)
				if c == nil {
					t.Fatalf("connection %d: %v", i, r.readErr())
				}
				want := conns[c.Stream]
				if want.want == "" {
					if c.Diagnosis.Cause == CauseStartTLSStripped || c.Diagnosis.Cause == CauseOK {
						t.Errorf("stream %d: cause %s, want its own", c.Stream, c.Diagnosis.Cause)
					}
					continue
				}
				if c.Diagnosis.Cause != want.want || !strings.Contains(c.Diagnosis.Summary, want.words) {
					t.Errorf("stream %d: %s %q, want %s saying %q", c.Stream, c.Diagnosis.Cause, c.Diagnosis.Summary, want.want, want.words)
				}
				if c.Diagnosis.Cause == CauseStartTLSStripped && (len(c.Diagnosis.Evidence) != 1 || c.Diagnosis.Evidence[0].Frame != 7 ||
					!strings.Contains(c.Diagnosis.Summary, "offered it on 1 other session in this capture (first in stream 1)")) {
					t.Errorf("stream %d: evidence %+v, summary %q", c.Stream, c.Diagnosis.Evidence, c.Diagnosis.Summary)
				}
			}
			for _, cs := range r.Summary.Causes {
				if cs.Cause == CauseStartTLSStripped {
					stripped += cs.Connections
				}
			}
			if stripped != 2 {
				t.Errorf("%d connections under starttls-stripped in the summary, want 2 (listed or not)", stripped)
			}
		})
	}
}

// TestStartTLSStrippedBounded: beyond maxStartTLSLackingPerServer
// connections of one server, the rest are counted in a warning, not
// compared.
func TestStartTLSStrippedBounded(t *testing.T) {
	b := NewBuilder(Options{})
	n := maxStartTLSLackingPerServer + 44
	for i := range n + 1 {
		ext := []string{"PIPELINING"}
		if i == n {
			ext = append(ext, "STARTTLS")
		}
		s := &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001), Extensions: ext,
			Commands: []smtp.Command{{Verb: "EHLO", Frame: 6, Reply: smtpReply(250, "", 7, 0.003)}}}
		rc := &reassembly.Conn{Stream: i, Client: netip.MustParseAddrPort("10.0.0.5:40002"), Server: netip.MustParseAddrPort("10.0.0.25:25"),
			FirstFrame: 1 + 100*i, LastFrame: 90 + 100*i, FirstTime: at(float64(i)), LastTime: at(float64(i) + 1)}
		b.Add(&Facts{Conn: rc, Session: s, SMTPPort: true})
	}
	r, err := b.Finish([]Input{{Name: "a.pcap"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stripped := 0
	for _, cs := range r.Summary.Causes {
		if cs.Cause == CauseStartTLSStripped {
			stripped += cs.Connections
		}
	}
	if stripped != maxStartTLSLackingPerServer || len(r.Inputs[0].Warnings) != 1 || !strings.HasPrefix(r.Inputs[0].Warnings[0], "44 more connections") {
		t.Errorf("%d stripped, warnings %q; want %d and one saying 44 more", stripped, r.Inputs[0].Warnings, maxStartTLSLackingPerServer)
	}
}

// TestStartTLSStrippedIncident: live, a session whose EHLO reply lacks
// STARTTLS is told as starttls-stripped once the client's next command
// shows what it did, when the same server offered STARTTLS on an earlier
// session; once, and never for another server's session.
func TestStartTLSStrippedIncident(t *testing.T) {
	ehlo := func(ext []string, then ...string) *smtp.Session {
		s := &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001), Extensions: ext,
			Commands: []smtp.Command{{Verb: "EHLO", Frame: 6, Time: at(0.002), Reply: smtpReply(250, "", 7, 0.003)}}}
		for _, v := range then {
			s.Commands = append(s.Commands, smtp.Command{Verb: v, Frame: 8, Time: at(0.004)})
		}
		return s
	}
	facts := func(stream int, server string, s *smtp.Session) *Facts {
		return &Facts{Conn: &reassembly.Conn{Stream: stream, Client: netip.MustParseAddrPort("10.0.0.5:40002"), Server: netip.MustParseAddrPort(server),
			FirstFrame: 1 + 100*stream, FirstTime: at(float64(stream))}, Session: s, SMTPPort: true}
	}
	var rules IncidentRules
	steps := []struct {
		name string
		f    *Facts
		want string // the summary's words, "" for no incident
	}{
		{"lacking before any offer", facts(0, "10.0.0.25:25", ehlo([]string{"PIPELINING"}, "MAIL")), ""},
		{"offering", facts(1, "10.0.0.25:25", ehlo([]string{"STARTTLS"}, "STARTTLS")), ""},
		{"lacking, the client not on yet", facts(2, "10.0.0.25:25", ehlo([]string{"PIPELINING"})), ""},
		{"lacking, then MAIL", facts(3, "10.0.0.25:25", ehlo([]string{"PIPELINING"}, "MAIL")), "offered it on 1 other session in this capture (first in stream 1)"},
		{"lacking, then QUIT", facts(4, "10.0.0.25:25", ehlo([]string{"PIPELINING"}, "QUIT")), "gave up"},
		{"another server", facts(5, "10.0.0.26:25", ehlo([]string{"PIPELINING"}, "MAIL")), ""},
	}
	for _, st := range steps {
		var w IncidentWatch
		for range 2 { // told once
			got := rules.Incidents(nil, &w, st.f, at(10), false)
			if st.want == "" {
				if len(got) != 0 {
					t.Errorf("%s: incidents %+v, want none", st.name, got)
				}
				continue
			}
			if len(got) != 1 || got[0].Kind != CauseStartTLSStripped || got[0].Frame != 7 || !strings.Contains(got[0].Summary, st.want) {
				t.Errorf("%s: incidents %+v, want starttls-stripped at frame 7 saying %q", st.name, got, st.want)
			}
			st.want = "" // not again
		}
	}
}
