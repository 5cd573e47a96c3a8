package smtp_test

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// The relay stall of the report sketch: the client sends its end-of-data,
// the server never answers, the client gives up with QUIT and closes.
func Example() {
	d := smtp.NewDecoder(smtp.Options{})
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	frame := 0
	send := func(dir reassembly.Direction, after time.Duration, text string) {
		frame++
		d.Data(dir, []byte(text), reassembly.ConstMarker{Frame: frame, Time: start.Add(after)})
	}
	client, server := reassembly.ClientToServer, reassembly.ServerToClient

	send(server, 0, "220 relay.example.net ESMTP\r\n")
	send(client, 10*time.Millisecond, "EHLO client.example.com\r\n")
	send(server, 11*time.Millisecond, "250-relay.example.net\r\n250 PIPELINING\r\n")
	send(client, 20*time.Millisecond, "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n")
	send(server, 21*time.Millisecond, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
	send(client, 30*time.Millisecond, "Message-ID: <1@example.com>\r\nSubject: report\r\n\r\nHello\r\n.\r\n")
	send(client, 25*time.Second+30*time.Millisecond, "QUIT\r\n")
	frame++
	d.Control(reassembly.EventFIN, client, reassembly.Mark{Frame: frame, Time: start.Add(25*time.Second + 31*time.Millisecond)})
	d.End(reassembly.Mark{Frame: frame, Time: start.Add(25*time.Second + 31*time.Millisecond)})

	s := d.Session()
	for _, c := range s.Commands {
		reply := "no reply"
		if c.Reply != nil {
			reply = fmt.Sprintf("%d after %v", c.Reply.Code, c.Latency())
		}
		fmt.Printf("frame %d %s %s: %s\n", c.Frame, c.Verb, c.Arg, reply)
	}
	for _, t := range s.Transactions {
		fmt.Printf("%s -> %s: %s, %d bytes, %s\n", t.MailFrom, t.Rcpts[0].Addr, t.Outcome, t.Size, t.MessageID)
		fmt.Printf("end-of-data in frame %d; %s in frame %d after %v\n", t.EndOfDataFrame, t.Ended, t.EndFrame, t.Waited())
	}
	// Output:
	// frame 2 EHLO client.example.com: 250 after 1ms
	// frame 4 MAIL FROM:<alice@example.com>: 250 after 1ms
	// frame 4 RCPT TO:<bob@example.net>: 250 after 1ms
	// frame 4 DATA : 354 after 1ms
	// frame 7 QUIT : no reply
	// alice@example.com -> bob@example.net: no-reply, 55 bytes, <1@example.com>
	// end-of-data in frame 6; client-closed in frame 7 after 25s
}
