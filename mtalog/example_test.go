package mtalog_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
)

func ExampleRead() {
	log := `Dec  1 22:29:00 mta postfix/smtp[27263]: DED5698645E: to=<rcpt@relay.lab.test>, relay=127.0.0.2[127.0.0.2]:25, delay=10, delays=0.09/0/0/10, dsn=4.4.2, status=deferred (conversation with 127.0.0.2[127.0.0.2] timed out while sending end of data -- message may be sent more than once)
`
	l, err := mtalog.Read("maillog", strings.NewReader(log), mtalog.Options{Reference: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := l.Sessions[0]
	e := s.Events[0]
	fmt.Println(l.Format, s.Role, s.Remote, s.Start.Format(time.DateTime), e.Status, e.Stage)
	// Output: postfix client 127.0.0.2:25 2026-12-01 22:28:50 deferred end-of-data
}
