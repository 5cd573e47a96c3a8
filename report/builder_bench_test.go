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
	f := Facts{Conn: conn(), SMTPPort: true, Session: session(func(s *smtp.Session, tx *smtp.Transaction) {
		tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		s.Hello, s.Extensions = "client.example.org", []string{"PIPELINING", "SIZE", "8BITMIME"}
		for i, verb := range []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"} {
			s.Commands = append(s.Commands, smtp.Command{Verb: verb, Frame: 5 + 2*i, Time: at(0.001 * float64(i)),
				Reply: smtpReply(250, "", 6+2*i, 0.001*float64(i)+0.0005)})
		}
	})}
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
