package report

import (
	"fmt"
	"time"
)

// Reports for the Markdown and HTML golden tests, built by hand so that
// every field the writers read is set and the files stay stable while the
// diagnosis rules evolve. The wording of summaries follows diagnose.go.

// rt is a capture time s seconds after the fixtures' capture start.
func rt(s float64) time.Time {
	return time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
}

func rreply(code int, enh, text string, frame int, at, since float64) *Reply {
	return &Reply{Code: code, Enhanced: enh, Text: text, Frame: frame, Time: rt(at), LatencyMS: (at - since) * 1000}
}

func rcmd(verb string, frame int, at float64, r *Reply) Command {
	return Command{Verb: verb, Frame: frame, Time: rt(at), Reply: r}
}

func healthyL4(first, synack int, clientBytes, serverBytes int64, clientFIN, serverFIN int) L4 {
	return L4{Verdict: "healthy",
		Handshake: Handshake{SYNFrame: first, SYNACKFrame: synack, ACKFrame: synack + 1, InitialRTTMS: 0.092,
			ClientMSS: 1460, ServerMSS: 1460, WindowScaling: "on"},
		Client: Side{Segments: int(clientBytes/1448) + 6, Bytes: clientBytes, LargestSegment: 1448, FINFrame: clientFIN,
			RTT: &RTT{Samples: 12, MinMS: 0.061, MedianMS: 0.104, MaxMS: 0.88}},
		Server: Side{Segments: 9, Bytes: serverBytes, LargestSegment: 182, FINFrame: serverFIN,
			RTT: &RTT{Samples: 7, MinMS: 0.05, MedianMS: 0.097, MaxMS: 0.31}}}
}

// deliveredConn is a short healthy session on stream n starting at sec.
func deliveredConn(n int, client string, first int, sec float64) Connection {
	f := func(k int) int { return first + k }
	a := func(d float64) float64 { return sec + d }
	tx := Transaction{MailFrom: "sender@example.org", RcptTo: []string{"postmaster@example.net"},
		Rcpts:  []Recipient{{Addr: "postmaster@example.net", Frame: f(9), Reply: rreply(250, "2.1.5", "Ok", f(10), a(0.0031), a(0.0030))}},
		Method: "DATA", Size: 2000, SizeParam: 2000, MessageID: fmt.Sprintf("<ok-%d@example.org>", n),
		MailFrame: f(7), DataFrame: f(11), EODFrame: f(14), EODTime: rt(a(0.0062)),
		Reply: rreply(250, "2.0.0", "Ok: queued as 4XyZ", f(15), a(0.0067), a(0.0062)), Outcome: "delivered",
		Diagnosis: Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "Delivered: 250 2.0.0."}}
	return Connection{Stream: n, Client: client, Server: "10.0.0.25:25", FirstFrame: f(0), LastFrame: f(19),
		Start: rt(sec), DurationMS: 12.5, Packets: 20, L4: healthyL4(f(0), f(1), 2420, 610, f(18), f(19)),
		SMTP: &SMTP{Banner: rreply(220, "", "relay.example.net ESMTP", f(3), a(0.0009), a(0.0009)), Hello: "client.example.org",
			Extensions: []string{"PIPELINING", "SIZE 52428800", "ENHANCEDSTATUSCODES"},
			Commands: []Command{
				rcmd("EHLO", f(5), a(0.0012), rreply(250, "", "relay.example.net", f(6), a(0.0015), a(0.0012))),
				rcmd("MAIL", f(7), a(0.0017), rreply(250, "2.1.0", "Ok", f(8), a(0.0019), a(0.0017))),
				rcmd("RCPT", f(9), a(0.0030), rreply(250, "2.1.5", "Ok", f(10), a(0.0031), a(0.0030))),
				rcmd("DATA", f(11), a(0.0033), rreply(354, "", "End data with <CR><LF>.<CR><LF>", f(12), a(0.0034), a(0.0033))),
				rcmd("QUIT", f(16), a(0.0070), rreply(221, "2.0.0", "Bye", f(17), a(0.0072), a(0.0070))),
			},
			Transactions: []Transaction{tx}, Verdict: "ok"},
		Diagnosis: Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "No failed mail transaction."}}
}

// seedIncident is the incident smtpscope was written for: the relay
// ACKs a 1 MiB message but never answers its end-of-data; the client
// gives up after 25 s and closes 25 s later. A small message before it
// went through.
func seedIncident() *Report {
	ok := deliveredConn(0, "10.0.0.5:40001", 1, 0)
	const s = 0.1 // stream 1 starts 100 ms into the capture
	a := func(d float64) float64 { return s + d }
	eod, quit := a(0.621), a(25.63)
	filter := "tcp.stream eq 1 && frame.number >= 982"
	diag := Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply, Filter: filter,
		Summary: "TCP was healthy and delivered the whole message, but the relay never answered the end-of-data; the client gave up after 25.0 s. Look at the relay, not the network.",
		Evidence: []Evidence{{Frame: 982, Time: rt(eod), What: "client sent the end-of-data \".\""},
			{Frame: 987, Time: rt(quit), What: "client gave up and closed the session"}}}
	l4 := healthyL4(21, 22, 1049180, 420, 989, 0)
	l4.Client.Segments = 726
	l4.Notes = []string{"1 idle gap(s) over 5s; the longest lasted 25.009s, between frames 983 and 987"}
	l4.Analysis = map[string]FlagCount{"window_update": {Count: 3, Frames: []int{120, 480, 801}}}
	stall := Connection{Stream: 1, Client: "10.0.0.5:40002", Server: "10.0.0.25:25", FirstFrame: 21, LastFrame: 989,
		Start: rt(s), DurationMS: 50640, Packets: 969, L4: l4,
		SMTP: &SMTP{Banner: rreply(220, "", "relay.example.net ESMTP", 24, a(0.0009), a(0.0009)), Hello: "client.example.org",
			Extensions: []string{"PIPELINING", "SIZE 52428800", "ENHANCEDSTATUSCODES"},
			Commands: []Command{
				rcmd("EHLO", 26, a(0.0012), rreply(250, "", "relay.example.net", 27, a(0.0015), a(0.0012))),
				rcmd("MAIL", 28, a(0.0017), rreply(250, "2.1.0", "Ok", 29, a(0.0020), a(0.0017))),
				rcmd("RCPT", 28, a(0.0017), rreply(250, "2.1.5", "Ok", 29, a(0.0020), a(0.0017))),
				rcmd("DATA", 30, a(0.0022), rreply(354, "", "End data with <CR><LF>.<CR><LF>", 31, a(0.0024), a(0.0022))),
				rcmd("QUIT", 987, quit, nil),
			},
			Transactions: []Transaction{{MailFrom: "sender@example.org", RcptTo: []string{"postmaster@example.net"},
				Rcpts:  []Recipient{{Addr: "postmaster@example.net", Frame: 28, Reply: rreply(250, "2.1.5", "Ok", 29, a(0.0020), a(0.0017))}},
				Method: "DATA", Size: 1048576, SizeParam: 1048576, MessageID: "<incident-1@example.org>",
				MailFrame: 28, DataFrame: 30, EODFrame: 982, EODTime: rt(eod), Outcome: "no-reply",
				Ended: "client-closed", EndFrame: 987, WaitedMS: (quit - eod) * 1000, Diagnosis: diag}},
			Verdict: "failed"},
		Diagnosis: diag}
	return &Report{Schema: Schema,
		Inputs: []Input{{Name: "relay-stall.pcapng", Format: "pcapng", Packets: 1024, Start: rt(0), End: rt(51.2)}},
		Verdict: Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply,
			Summary: "the server never answered end-of-data on 1 connection(s); TCP was healthy (no retransmissions, resets or zero windows)."},
		Connections: []Connection{ok, stall},
		Totals:      Totals{Connections: 2, SMTPConnections: 2, Transactions: 2, Delivered: 1, Failed: 1}}
}

// rejection: the relay refuses a 60 MB message at end-of-data with 552.
func rejection() *Report {
	c := deliveredConn(0, "10.0.0.5:40001", 1, 0)
	tx := &c.SMTP.Transactions[0]
	tx.Size, tx.SizeParam, tx.EODFrame, tx.EODTime = 60000000, 60000000, 4150, rt(1.842)
	tx.Reply = rreply(552, "5.3.4", "Message size exceeds fixed maximum message size", 4152, 1.8437, 1.842)
	tx.Outcome = "rejected"
	tx.Diagnosis = Diagnosis{Layer: LayerL7, Cause: CauseRejected, Filter: "tcp.stream eq 0 && smtp.response.code == 552",
		Summary:  "The server rejected (permanent failure) the message: 552 5.3.4 \"Message size exceeds fixed maximum message size\" (message too big for system).",
		Evidence: []Evidence{{Frame: 4152, Time: rt(1.8437), What: "server replied 552 5.3.4"}}}
	c.SMTP.Commands[4] = rcmd("QUIT", 4153, 1.8440, rreply(221, "2.0.0", "Bye", 4154, 1.8443, 1.8440))
	c.LastFrame, c.DurationMS, c.Packets = 4156, 1845, 4156
	c.L4.Client.Bytes, c.L4.Client.Segments, c.L4.Client.FINFrame, c.L4.Server.FINFrame = 60000890, 41440, 4155, 4156
	c.SMTP.Verdict, c.Diagnosis = "failed", tx.Diagnosis
	return &Report{Schema: Schema,
		Inputs: []Input{{Name: "eod-552.pcapng", Format: "pcapng", Packets: 4156, Start: rt(0), End: rt(1.845)}},
		Verdict: Diagnosis{Layer: LayerL7, Cause: CauseRejected,
			Summary: "rejected on 1 connection(s): " + tx.Diagnosis.Summary},
		Connections: []Connection{c},
		Totals:      Totals{Connections: 1, SMTPConnections: 1, Transactions: 1, Failed: 1}}
}

// resetMidData: the server resets the connection in the middle of the
// second message's body.
func resetMidData() *Report {
	c := deliveredConn(0, "127.0.0.1:40001", 1, 0)
	s := c.SMTP
	diag := Diagnosis{Layer: LayerL4, Cause: CauseResetByServer, Filter: "tcp.stream eq 0",
		Summary:  "The server reset the connection in the middle of the message body.",
		Evidence: []Evidence{{Frame: 403, Time: rt(0.0263), What: "server reset the connection"}}}
	s.Commands = append(s.Commands[:4],
		rcmd("MAIL", 26, 0.0075, rreply(250, "2.1.0", "Ok", 27, 0.0076, 0.0075)),
		rcmd("RCPT", 28, 0.0077, rreply(250, "2.1.5", "Ok", 29, 0.0078, 0.0077)),
		rcmd("DATA", 30, 0.0079, rreply(354, "", "End data with <CR><LF>.<CR><LF>", 31, 0.0080, 0.0079)))
	s.Transactions = append(s.Transactions, Transaction{MailFrom: "sender@example.org", RcptTo: []string{"postmaster@example.net"},
		Rcpts:  []Recipient{{Addr: "postmaster@example.net", Frame: 28, Reply: rreply(250, "2.1.5", "Ok", 29, 0.0078, 0.0077)}},
		Method: "DATA", Size: 468472, SizeParam: 1048576, MailFrame: 26, DataFrame: 30, Outcome: "aborted",
		Ended: "server-reset", EndFrame: 403, Diagnosis: diag})
	s.Verdict = "failed"
	c.LastFrame, c.DurationMS, c.Packets = 403, 26.3, 403
	c.L4.Resets = 1
	c.L4.Client.FINFrame, c.L4.Server.FINFrame = 0, 0
	c.L4.Server.Resets = []Reset{{Frame: 403, TTL: 64}}
	c.L4.Notes = []string{"the server reset the connection in frame 403, 3.699ms after the last data, with nothing unacknowledged"}
	c.Diagnosis = diag
	return &Report{Schema: Schema,
		Inputs: []Input{{Name: "reset-mid-data.pcapng", Format: "pcapng", Packets: 403, Start: rt(0), End: rt(0.0263)}},
		Verdict: Diagnosis{Layer: LayerL4, Cause: CauseResetByServer,
			Summary: "reset-by-server on 1 connection(s): The server reset the connection in the middle of the message body."},
		Connections: []Connection{c},
		Totals:      Totals{Connections: 1, SMTPConnections: 1, Transactions: 2, Delivered: 1, Failed: 1}}
}

// healthy: two delivered sessions and a connection that is not SMTP.
func healthy() *Report {
	web := Connection{Stream: 2, Client: "10.0.0.5:51000", Server: "10.0.0.80:443", FirstFrame: 41, LastFrame: 60,
		Start: rt(0.5), DurationMS: 80, Packets: 20, L4: healthyL4(41, 42, 900, 5000, 59, 60),
		Diagnosis: Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "Not an SMTP connection."}}
	return &Report{Schema: Schema,
		Inputs:      []Input{{Name: "healthy.pcapng", Format: "pcapng", Packets: 60, Start: rt(0), End: rt(0.9)}},
		Verdict:     Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "No failure found: 2 of 2 mail transactions delivered."},
		Connections: []Connection{deliveredConn(0, "10.0.0.5:40001", 1, 0), deliveredConn(1, "10.0.0.6:40002", 21, 0.3), web},
		Totals:      Totals{Connections: 3, SMTPConnections: 2, Transactions: 2, Delivered: 2}}
}

// connectTimeout: six SYNs over 5.1 s, none answered.
func connectTimeout() *Report {
	diag := Diagnosis{Layer: LayerL4, Cause: CauseConnectTimeout, Filter: "tcp.stream eq 0",
		Summary: "The connection to 10.0.0.25:25 was never answered: 6 SYN(s) over 5.1 s got no SYN+ACK (host down, route missing, or a firewall dropping it).",
		Evidence: []Evidence{{Frame: 1, Time: rt(0), What: "client sent SYN"},
			{Frame: 6, Time: rt(5.1015), What: "SYN sent 6 times, never answered"}}}
	c := Connection{Stream: 0, Client: "10.0.0.5:40001", Server: "10.0.0.25:25", FirstFrame: 1, LastFrame: 6,
		Start: rt(0), DurationMS: 5101.5, Packets: 6,
		L4: L4{Retransmissions: 5, Verdict: "broken",
			Reasons:   []string{"connection not answered: 6 SYN(s) from frame 1 to frame 6 (5.102s) got no SYN+ACK"},
			Analysis:  map[string]FlagCount{"retransmission": {Count: 5, Frames: []int{2, 3, 4, 5, 6}}},
			Handshake: Handshake{SYNFrame: 1, SYNRetries: 5, ClientMSS: 1460, WindowScaling: "unknown"},
			Client:    Side{Segments: 6}},
		Diagnosis: diag}
	return &Report{Schema: Schema,
		Inputs: []Input{{Name: "connect-timeout.pcapng", Format: "pcapng", Packets: 6, Start: rt(0), End: rt(5.1015)}},
		Verdict: Diagnosis{Layer: LayerL4, Cause: CauseConnectTimeout,
			Summary: "connect-timeout on 1 connection(s): " + diag.Summary},
		Connections: []Connection{c},
		Totals:      Totals{Connections: 1}}
}

// hostileText is attacker-controlled text that must come out inert.
const hostileText = "<script>alert(1)</script> | `tick` ``two`` \r\n## not a heading \u202eevil [x](javascript:alert(1)) @everyone #1 $x$ </svg>"

// hostile: a server and a client that put markup, table syntax,
// backticks, line breaks and a bidi override into everything they send.
func hostile() *Report {
	c := deliveredConn(0, "10.0.0.5:40001", 1, 0)
	s := c.SMTP
	s.Banner.Text = hostileText
	from := "\"><img src=x onerror=alert(1)>|`@evil.example"
	rcpt := "a|b`c\n</code>@example.net"
	tx := &s.Transactions[0]
	tx.MailFrom, tx.RcptTo, tx.MessageID = from, []string{rcpt}, "<"+hostileText+">"
	tx.Rcpts[0].Addr = rcpt
	tx.Reply = rreply(554, "5.7.1", hostileText, 16, 0.0067, 0.0062)
	tx.Outcome = "rejected"
	tx.Diagnosis = Diagnosis{Layer: LayerL7, Cause: CauseRejected, Filter: "tcp.stream eq 0 && smtp.response.code == 554 || frame contains \"`|`\"",
		Summary:  "The server rejected (permanent failure) the message: 554 5.7.1 \"" + hostileText + "\" (delivery not authorized, message refused).",
		Evidence: []Evidence{{Frame: 16, Time: rt(0.0067), What: "server replied 554 5.7.1 " + hostileText}}}
	s.Verdict, c.Diagnosis = "failed", tx.Diagnosis
	c.Process = &Process{PID: 4242, Name: "<script>evil|`x`</script>", Path: "C:\\evil\n|path"}
	c.L4.Notes = []string{hostileText}
	return &Report{Schema: Schema,
		Inputs: []Input{{Name: "odd|name`<b>x</b>.pcapng", Format: "pcapng", Packets: 20, Start: rt(0), End: rt(0.0125),
			Warnings: []string{"snaplen " + hostileText}}},
		Verdict: Diagnosis{Layer: LayerL7, Cause: CauseRejected,
			Summary: "rejected on 1 connection(s): " + tx.Diagnosis.Summary},
		Connections: []Connection{c},
		Totals:      Totals{Connections: 1, SMTPConnections: 1, Transactions: 1, Failed: 1}}
}

// huge: many failing connections with long sessions, to check the caps.
func huge(conns, commandsEach int) *Report {
	r := &Report{Schema: Schema, Inputs: []Input{{Name: "huge.pcap", Format: "pcap", Packets: conns * commandsEach * 2,
		Start: rt(0), End: rt(float64(conns))}},
		Verdict: Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply, Summary: "the server never answered end-of-data"}}
	for n := range conns {
		first := n * (commandsEach*2 + 100)
		c := deliveredConn(n, fmt.Sprintf("10.1.%d.%d:40000", n/250, n%250), first+1, float64(n))
		var cmds []Command
		for k := range commandsEach {
			fr := first + 30 + 2*k
			at := float64(n) + 0.01 + float64(k)*0.0001
			cmds = append(cmds, rcmd("NOOP", fr, at, rreply(250, "2.0.0", "Ok", fr+1, at+0.00005, at)))
		}
		c.SMTP.Commands = append(c.SMTP.Commands[:4], cmds...)
		tx := &c.SMTP.Transactions[0]
		tx.Reply, tx.Outcome = nil, "no-reply"
		tx.Diagnosis = Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply, Summary: "no reply",
			Evidence: []Evidence{{Frame: tx.EODFrame, Time: tx.EODTime, What: "end-of-data"}}}
		c.SMTP.Verdict, c.Diagnosis = "failed", tx.Diagnosis
		r.Connections = append(r.Connections, c)
	}
	r.Totals = Totals{Connections: conns, SMTPConnections: conns, Transactions: conns, Failed: conns}
	return summarized(r)
}

// summarized sets r's Summary as a Builder computes it from the
// connections.
func summarized(r *Report) *Report {
	a := newSummaryAgg()
	for i := range r.Connections {
		a.add(&r.Connections[i])
	}
	r.Summary = a.summary()
	return r
}

// renderCases are the golden cases, by file stem.
func renderCases() []struct {
	name   string
	report *Report
} {
	return []struct {
		name   string
		report *Report
	}{
		{"relay-stall", summarized(seedIncident())},
		{"rejected", summarized(rejection())},
		{"reset-mid-data", summarized(resetMidData())},
		{"healthy", summarized(healthy())},
		{"connect-timeout", summarized(connectTimeout())},
		{"hostile", summarized(hostile())},
	}
}
