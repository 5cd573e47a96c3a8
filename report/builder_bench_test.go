package report

import (
	"testing"

	"github.com/smtpscope/smtpscope/smtp"
)

// BenchmarkBuilderAdd adds a healthy connection that delivered one
// message, the common case, to a Builder that keeps it in memory (a new
// Builder every DefaultMemoryConnections connections, so that none is
// spilled to a file). Its allocations per connection are what the
// report costs a bench run beyond the file it spills to.
func BenchmarkBuilderAdd(b *testing.B) {
	f := benchFacts()
	b.ReportAllocs()
	var bl *Builder
	for i := range b.N {
		if i%DefaultMemoryConnections == 0 {
			bl = NewBuilder(Options{})
		}
		if bl.Add(&f) {
			b.Fatal("the delivered connection failed")
		}
	}
}

// benchFacts are the facts of a healthy connection that delivered one
// message.
func benchFacts() Facts {
	return Facts{Conn: conn(), SMTPPort: true, Session: session(func(s *smtp.Session, tx *smtp.Transaction) {
		tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		s.Hello, s.Extensions = "client.example.org", []string{"PIPELINING", "SIZE", "8BITMIME"}
		for i, verb := range []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"} {
			s.Commands = append(s.Commands, smtp.Command{Verb: verb, Frame: 5 + 2*i, Time: at(0.001 * float64(i)),
				Reply: smtpReply(250, "", 6+2*i, 0.001*float64(i)+0.0005)})
		}
	})}
}

// benchConnection is the report's connection of benchFacts.
func benchConnection(b *testing.B) *Connection {
	f := benchFacts()
	bl := NewBuilder(Options{})
	var c Connection
	bl.OnAdd(func(added *Connection) { c = *added })
	if bl.Add(&f) {
		b.Fatal("the delivered connection failed")
	}
	return &c
}
