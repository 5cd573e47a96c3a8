package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// jsonLog writes one JSON object per line. Safe for concurrent use.
type jsonLog struct {
	mu sync.Mutex
	w  io.Writer
}

func openLog(path string) (*jsonLog, func(), error) {
	if path == "" || path == "-" {
		return &jsonLog{w: os.Stdout}, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return &jsonLog{w: f}, func() { f.Sync(); f.Close() }, nil
}

// emit writes v (a struct or map) as one line, adding "t" (RFC 3339, µs) and
// "ts" (Unix seconds, µs) when v is a map.
func (l *jsonLog) emit(v map[string]any) {
	now := time.Now()
	v["t"] = now.UTC().Format("2006-01-02T15:04:05.000000Z")
	v["ts"] = float64(now.UnixMicro()) / 1e6
	b, err := marshalNoEscape(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"marshal_error":%q}`, err.Error()))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(append(b, '\n'))
}

// parseSize accepts 2048, 100k, 1m, 1.2M (k = 1024, m = 1048576).
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1024, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1048576, strings.TrimSuffix(s, "m")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int(f * mult), nil
}

var words = strings.Fields(`relay queue message transfer agent mailbox envelope
header body segment window timeout deferred delivered report incident packet
capture stream latency bounce spool sender recipient domain gateway filter scan
policy quota archive digest summary attachment invoice meeting schedule agenda
review budget quarter project release update status notice reminder network
server client protocol session handshake certificate cipher retry backoff`)

// message is one deterministic RFC 5322 message.
type message struct {
	Data      []byte // exactly Size bytes, CRLF line endings, ends with CRLF
	MessageID string
	DotLines  int // lines beginning with "." (each gains one byte on the wire)
}

// WireBytes is the size of the DATA payload on the wire: the dot-stuffed
// message plus the ".\r\n" end-of-data line (the CRLF before it is the
// message's own last line ending).
func (m *message) WireBytes() int { return len(m.Data) + m.DotLines + 3 }

// buildMessage makes a message of exactly size bytes. Content depends only on
// (tag, sess, idx, size). Body lines are at most 78 characters; about one line
// in 40 starts with "." (one is a lone "."), to exercise dot-stuffing.
func buildMessage(tag string, sess, idx, size int, from, to string) (*message, error) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d/%d", tag, sess, idx, size)
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
	msgID := fmt.Sprintf("<%s.s%d.m%d.%d@client.lab.test>", tag, sess, idx, size)
	var b bytes.Buffer
	b.Grow(size + 128)
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", "Lab Sender <"+from+">")
	hdr("To", "<"+to+">")
	hdr("Subject", fmt.Sprintf("smtpscope lab %s session %d message %d (%d bytes)", tag, sess, idx, size))
	hdr("Date", time.Date(2026, 2, 2, 10, sess, idx, 0, time.UTC).Format(time.RFC1123Z))
	hdr("Message-ID", msgID)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=us-ascii")
	hdr("Content-Transfer-Encoding", "7bit")
	hdr("X-Lab-Size", strconv.Itoa(size))
	b.WriteString("\r\n")
	if size < b.Len()+200 {
		return nil, fmt.Errorf("size %d too small (headers take %d bytes)", size, b.Len())
	}
	m := &message{MessageID: msgID}
	line := func(s string) {
		if strings.HasPrefix(s, ".") {
			m.DotLines++
		}
		b.WriteString(s + "\r\n")
	}
	n := 0
	for size-b.Len() > 160 {
		n++
		var s string
		switch {
		case n == 7:
			s = "." // a lone dot: must go out as ".." or it would end the data
		case n%40 == 0:
			s = ". " + sentence(rng, 20+rng.IntN(50))
		case n%40 == 21:
			s = "..." + sentence(rng, 20+rng.IntN(50))
		default:
			s = sentence(rng, 20+rng.IntN(57))
		}
		line(s)
	}
	r := size - b.Len() // 83..160: two final lines of 39..78 characters
	a := r / 2
	line(pad(sentence(rng, a-2), a-2))
	line(pad(fmt.Sprintf("-- end of %s (%d bytes)", msgID, size), r-a-2))
	if b.Len() != size {
		return nil, fmt.Errorf("internal: built %d bytes, want %d", b.Len(), size)
	}
	m.Data = b.Bytes()
	return m, nil
}

// sentence returns words up to max characters (at least one word).
func sentence(rng *rand.Rand, max int) string {
	var sb strings.Builder
	for {
		w := words[rng.IntN(len(words))]
		if sb.Len() > 0 && sb.Len()+1+len(w) > max {
			break
		}
		if sb.Len() == 0 && len(w) > max {
			return w[:max]
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(w)
	}
	return sb.String()
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat("=", n-len(s))
}

func splitHostPort(s string) (string, string, error) { return net.SplitHostPort(s) }

// tcpRetrans is the kernel's count of segments this socket retransmitted
// (tcpi_total_retrans): the peer's own view, not packet analysis.
func tcpRetrans(c net.Conn) int {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*loggedConn); ok {
		c = lc.Conn
	}
	if tw, ok := c.(*timeoutWatch); ok {
		c = tw.Conn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = int(ti.Total_retrans)
		}
	})
	return n
}
