package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

type clientCfg struct {
	server, sessions, tag, from, to, ehlo, out, proto string
	connectTimeout, cmdTimeout, dataTimeout           time.Duration
	eodTimeout, quitTimeout, pause                    time.Duration
	srcPortBase, bdatChunk                            int
	starttls                                          bool
	starttlsOpportunistic, implicitTLS, tlsVerify     bool
	tlsMin, tlsMax, keylog                            string
	rcptOverride                                      multiFlag
	abortRST, abortClose                              int
	sndbuf                                            int
	bind                                              string
}

func runClient(args []string) error {
	var c clientCfg
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	fs.StringVar(&c.server, "server", "127.0.0.1:25", "server address (host:port, [::1]:25)")
	fs.StringVar(&c.sessions, "sessions", "2k", "message sizes: ',' between messages of one session, ';' between sessions (e.g. 2k,100k;1m)")
	fs.StringVar(&c.tag, "tag", "lab", "scenario tag used in Message-IDs and content")
	fs.StringVar(&c.from, "from", "sender@client.lab.test", "envelope sender")
	fs.StringVar(&c.to, "to", "rcpt@relay.lab.test", "envelope recipients, comma-separated")
	fs.StringVar(&c.ehlo, "ehlo", "client.lab.test", "EHLO name (STARTTLS sessions use go-smtp's \"localhost\")")
	fs.StringVar(&c.out, "out", "-", "JSON-lines output (- = stdout)")
	fs.StringVar(&c.proto, "proto", "gosmtp", "gosmtp (go-smtp client, one command at a time), pipelining (RFC 2920, raw) or bdat (RFC 3030 CHUNKING, raw)")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 5*time.Second, "TCP connect timeout")
	fs.DurationVar(&c.cmdTimeout, "cmd-timeout", 30*time.Second, "timeout for the greeting and each command's reply")
	fs.DurationVar(&c.dataTimeout, "data-timeout", 60*time.Second, "timeout for writing the whole message body")
	fs.DurationVar(&c.eodTimeout, "eod-timeout", 10*time.Second, "timeout waiting for the reply to end-of-data")
	fs.DurationVar(&c.quitTimeout, "quit-timeout", time.Second, "after a timeout: how long to wait for the reply to QUIT before closing")
	fs.DurationVar(&c.pause, "pause", 300*time.Millisecond, "pause between sessions")
	fs.IntVar(&c.srcPortBase, "src-port-base", 0, "if set, session N binds local port base+N (stable ports in captures)")
	fs.IntVar(&c.bdatChunk, "bdat-chunk", 256*1024, "BDAT chunk size (proto bdat)")
	fs.BoolVar(&c.starttls, "starttls", false, "STARTTLS before MAIL (certificate not verified: the lab's is self-signed)")
	fs.BoolVar(&c.starttlsOpportunistic, "starttls-opportunistic", false, "STARTTLS if the EHLO reply offers it; if it is not offered or refused, send in plaintext (as an MTA with opportunistic TLS does)")
	fs.BoolVar(&c.implicitTLS, "implicit-tls", false, "TLS from the first byte (SMTPS, RFC 8314)")
	fs.BoolVar(&c.tlsVerify, "tls-verify", false, "verify the server's certificate for relay.lab.test against the system's roots (the lab's self-signed one fails)")
	fs.StringVar(&c.tlsMin, "tls-min-version", "", "lowest TLS version offered (1.0-1.3; default Go's)")
	fs.StringVar(&c.tlsMax, "tls-max-version", "", "highest TLS version offered (1.0-1.3; default Go's)")
	fs.StringVar(&c.keylog, "keylog", "", "append the TLS secrets to this NSS key log file (SSLKEYLOGFILE format)")
	fs.IntVar(&c.abortRST, "abort-rst-after", -1, "after writing BYTES of a message body larger than that, abort the connection with RST (SO_LINGER 0), as a crashing or killed MTA would (-1 = off)")
	fs.IntVar(&c.abortClose, "abort-close-after", -1, "after writing BYTES of a message body larger than that, close the connection (FIN, no RST, no QUIT), as an MTA that gives up or is killed would (-1 = off)")
	fs.StringVar(&c.bind, "bind", "", "local address to bind (default: the server's host, which is right on loopback)")
	fs.IntVar(&c.sndbuf, "sndbuf", 0, "SO_SNDBUF of the client socket (0 = kernel default, autotuned)")
	fs.Var(&c.rcptOverride, "rcpt-override", "S.M=addr[,addr]: recipients for message M of session S (repeatable)")
	fs.Parse(args)

	lg, closeLog, err := openLog(c.out)
	if err != nil {
		return err
	}
	defer closeLog()
	var plan [][]int
	for _, ss := range strings.Split(c.sessions, ";") {
		var sizes []int
		for _, s := range strings.Split(ss, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			n, err := parseSize(s)
			if err != nil {
				return err
			}
			sizes = append(sizes, n)
		}
		plan = append(plan, sizes)
	}
	for i, sizes := range plan {
		if i > 0 {
			time.Sleep(c.pause)
		}
		var msgs []*message
		for j, size := range sizes {
			m, err := buildMessage(c.tag, i+1, j+1, size, c.from, strings.Split(c.to, ",")[0])
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		s := &clientSession{cfg: &c, log: lg, idx: i + 1, msgs: msgs}
		s.run()
	}
	return nil
}

// rec is one JSON line about a message.
type rec map[string]any

type clientSession struct {
	cfg   *clientCfg
	log   *jsonLog
	idx   int
	msgs  []*message
	conn  net.Conn
	watch *timeoutWatch
	sess  rec
	start time.Time
}

func (s *clientSession) since(t time.Time) float64 { return t.Sub(s.start).Seconds() }

func (s *clientSession) dial() error {
	cfg := s.cfg
	// KeepAlive -1: no TCP keepalives (Go's default would send one after
	// 15 s idle, which MTAs usually do not)
	d := net.Dialer{Timeout: cfg.connectTimeout, KeepAlive: -1}
	if cfg.sndbuf > 0 {
		d.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, cfg.sndbuf)
			})
			return serr
		}
	}
	if cfg.srcPortBase > 0 {
		host, _, _ := net.SplitHostPort(cfg.server)
		if cfg.bind != "" {
			host = cfg.bind
		}
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(host), Port: cfg.srcPortBase + s.idx}
		s.sess["client_port"] = cfg.srcPortBase + s.idx
	}
	s.start = time.Now()
	s.sess["t_connect"] = s.start.UTC().Format(time.RFC3339Nano)
	conn, err := d.Dial("tcp", cfg.server)
	s.sess["connect_s"] = time.Since(s.start).Seconds()
	if err != nil {
		s.sess["connect"] = errKind(err)
		s.sess["error"] = err.Error()
		return err
	}
	s.watch = &timeoutWatch{Conn: conn}
	s.conn = s.watch
	s.sess["connect"] = "ok"
	la := conn.LocalAddr().(*net.TCPAddr)
	ra := conn.RemoteAddr().(*net.TCPAddr)
	s.sess["client_ip"], s.sess["client_port"] = la.IP.String(), la.Port
	s.sess["server_ip"], s.sess["server_port"] = ra.IP.String(), ra.Port
	return nil
}

func (s *clientSession) run() {
	s.sess = rec{"type": "session", "session": s.idx, "server": s.cfg.server, "proto": s.cfg.proto, "tls": false}
	defer func() { s.log.emit(s.sess) }()
	if err := s.dial(); err != nil {
		s.unsent("connect", err)
		return
	}
	defer s.conn.Close()
	if s.cfg.proto != "gosmtp" {
		s.runRaw()
		return
	}
	cfg := s.cfg
	var c *smtp.Client
	var err error
	tlsCfg := &tls.Config{InsecureSkipVerify: !cfg.tlsVerify, ServerName: "relay.lab.test"}
	keylog, err := applyTLSKnobs(tlsCfg, cfg.tlsMin, cfg.tlsMax, cfg.keylog)
	if err != nil {
		s.sess["error"] = err.Error()
		s.unsent("tls-config", err)
		return
	}
	defer keylog.Close()
	if cfg.implicitTLS {
		tc := tls.Client(s.conn, tlsCfg)
		s.conn = tc
		s.sess["tls"] = true
	}
	if cfg.starttlsOpportunistic {
		c, err = s.opportunistic(tlsCfg)
	} else if cfg.starttls {
		c, err = smtp.NewClientStartTLS(s.conn, tlsCfg)
		if err == nil {
			s.sess["tls"] = true
			c.CommandTimeout = cfg.cmdTimeout
			c.SubmissionTimeout = cfg.eodTimeout
			err = c.Hello(cfg.ehlo) // the handshake runs here
			if st, ok := c.TLSConnectionState(); ok && err == nil {
				s.sess["tls_version"] = tls.VersionName(st.Version)
				s.sess["tls_cipher"] = tls.CipherSuiteName(st.CipherSuite)
			}
		}
	} else {
		c = smtp.NewClient(s.conn)
		c.CommandTimeout = cfg.cmdTimeout
		c.SubmissionTimeout = cfg.eodTimeout
		err = c.Hello(cfg.ehlo)
		if tc, ok := s.conn.(*tls.Conn); ok && err == nil {
			st := tc.ConnectionState()
			s.sess["tls_version"] = tls.VersionName(st.Version)
			s.sess["tls_cipher"] = tls.CipherSuiteName(st.CipherSuite)
		}
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.sess["greeting_code"] = se.Code
			s.sess["greeting_text"] = se.Message
		}
		// go-smtp's client closes the connection itself after a non-220
		// greeting (no QUIT).
		s.sess["close"] = "client-close-after-greeting"
		s.sess["error"] = err.Error()
		s.unsent("greeting", err)
		return
	}
	s.sess["greeting_code"] = 220
	for i, m := range s.msgs {
		r, keep := s.sendOne(c, i+1, m)
		s.log.emit(r)
		if !keep {
			for j := i + 1; j < len(s.msgs); j++ {
				s.log.emit(s.notSent(j+1, s.msgs[j], "session aborted"))
			}
			return
		}
	}
	c.CommandTimeout = cfg.cmdTimeout
	t := time.Now()
	if err := c.Quit(); err != nil {
		s.sess["close"] = "quit-failed"
		s.sess["error"] = err.Error()
		c.Close()
	} else {
		s.sess["close"] = "quit"
	}
	s.sess["quit_s"] = time.Since(t).Seconds()
	s.sess["tcp_retrans"] = tcpRetrans(s.conn)
	s.sess["t_close"] = s.since(time.Now())
}

// opportunistic greets, upgrades with STARTTLS if the server offers it,
// and goes on in plaintext if it does not or refuses (RFC 3207 §4 leaves
// the choice to the client; MTAs with opportunistic TLS make it, without a
// second EHLO). go-smtp's client has no STARTTLS that survives a refusal,
// so STARTTLS and its reply are spoken here (net/textproto) once go-smtp's
// EHLO reply has been read whole; after a 220 a new go-smtp client takes
// over the TLS connection, reading a copy of the greeting from memory
// (nothing on the wire) before its EHLO (RFC 3207 §4.2).
func (s *clientSession) opportunistic(tlsCfg *tls.Config) (*smtp.Client, error) {
	cfg := s.cfg
	greeting := &greetingConn{Conn: s.conn}
	c := smtp.NewClient(greeting)
	c.CommandTimeout = cfg.cmdTimeout
	c.SubmissionTimeout = cfg.eodTimeout
	if err := c.Hello(cfg.ehlo); err != nil {
		return c, err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		s.sess["starttls"] = "not-offered"
		return c, nil
	}
	tp := textproto.NewConn(s.conn)
	s.conn.SetDeadline(time.Now().Add(cfg.cmdTimeout))
	defer s.conn.SetDeadline(time.Time{})
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, err
	}
	code, msg, err := tp.ReadResponse(220)
	if err != nil {
		var pe *textproto.Error
		if !errors.As(err, &pe) {
			return nil, err
		}
		s.sess["starttls"] = fmt.Sprintf("refused %d", code)
		s.sess["starttls_reply"] = msg
		return c, nil
	}
	tc := tls.Client(s.conn, tlsCfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	s.sess["starttls"] = "ok"
	s.sess["tls"] = true
	st := tc.ConnectionState()
	s.sess["tls_version"] = tls.VersionName(st.Version)
	s.sess["tls_cipher"] = tls.CipherSuiteName(st.CipherSuite)
	c2 := smtp.NewClient(&replayConn{Conn: tc, pending: greeting.line})
	c2.CommandTimeout = cfg.cmdTimeout
	c2.SubmissionTimeout = cfg.eodTimeout
	return c2, c2.Hello(cfg.ehlo)
}

// greetingConn keeps a copy of the first line read (the greeting).
type greetingConn struct {
	net.Conn
	line []byte
	done bool
}

func (g *greetingConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if !g.done {
		g.line = append(g.line, p[:n]...)
		if i := bytes.IndexByte(g.line, '\n'); i >= 0 {
			g.line, g.done = g.line[:i+1], true
		}
	}
	return n, err
}

// replayConn returns pending before reading from Conn.
type replayConn struct {
	net.Conn
	pending []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

func (s *clientSession) msgRec(i int, m *message) rec {
	return rec{"type": "message", "session": s.idx, "msg": i, "client_port": s.sess["client_port"],
		"server": s.cfg.server, "size": len(m.Data), "wire_bytes": m.WireBytes(), "dot_lines": m.DotLines,
		"message_id": m.MessageID, "proto": s.cfg.proto, "rcpt": s.recipients(i)}
}

func (s *clientSession) notSent(i int, m *message, why string) rec {
	r := s.msgRec(i, m)
	r["outcome"] = "not-sent"
	r["error"] = why
	delete(r, "wire_bytes")
	return r
}

func (s *clientSession) unsent(stage string, err error) {
	for i, m := range s.msgs {
		r := s.notSent(i+1, m, err.Error())
		r["stage"] = stage
		s.log.emit(r)
	}
}

// sendOne runs one transaction; keep=false when the connection is unusable.
func (s *clientSession) sendOne(c *smtp.Client, i int, m *message) (r rec, keep bool) {
	cfg := s.cfg
	r = s.msgRec(i, m)
	r0 := tcpRetrans(s.conn)
	defer func() {
		if _, ok := r["tcp_retrans"]; !ok {
			r["tcp_retrans"] = tcpRetrans(s.conn) - r0
		}
	}()
	r["t_mail"] = s.since(time.Now())
	smtpFail := func(stage string, err error) (rec, bool) {
		r["stage"] = stage
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			r["reply_code"] = se.Code
			if se.EnhancedCode != smtp.EnhancedCodeNotSet && se.EnhancedCode != smtp.NoEnhancedCode {
				r["enhanced_code"] = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
			}
			r["reply_text"] = se.Message
			r["outcome"] = outcomeForCode(se.Code)
			if stage != "eod" {
				delete(r, "wire_bytes")
				// RSET so the next transaction starts clean, as MTAs do
				if err := c.Reset(); err != nil {
					r["rset_error"] = err.Error()
					return r, false
				}
			}
			return r, true
		}
		r["outcome"] = "aborted"
		r["error"] = err.Error()
		r["error_kind"] = errKind(err)
		if stage == "mail" || stage == "rcpt" {
			delete(r, "wire_bytes")
		}
		s.sess["close"] = "connection-lost"
		return r, false
	}
	if err := c.Mail(cfg.from, &smtp.MailOptions{Size: int64(len(m.Data))}); err != nil {
		return smtpFail("mail", err)
	}
	for _, to := range s.recipients(i) {
		if err := c.Rcpt(to, nil); err != nil {
			return smtpFail("rcpt", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpFail("data", err)
	}
	r["t_data_354"] = s.since(time.Now())
	s.conn.SetWriteDeadline(time.Now().Add(cfg.dataTimeout))
	if cfg.abortRST >= 0 && len(m.Data) > cfg.abortRST {
		// up to 4 KiB of this stays in go-smtp's buffer and never leaves
		w.Write(m.Data[:cfg.abortRST])
		time.Sleep(100 * time.Millisecond) // let it reach the wire
		if tc, ok := s.watch.Conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		s.conn.Close()
		r["stage"], r["outcome"], r["error_kind"] = "body", "aborted", "client-reset"
		r["error"] = fmt.Sprintf("client aborted with RST after %d body bytes (--abort-rst-after)", cfg.abortRST)
		r["body_bytes_written"] = cfg.abortRST // to the DATA writer; what left is up to 4 KiB less
		s.sess["close"] = "client-rst"
		return r, false
	}
	if cfg.abortClose >= 0 && len(m.Data) > cfg.abortClose {
		// as above, but an ordinary close: the kernel sends FIN after
		// what is queued (nothing unread is in the receive buffer, so no RST)
		w.Write(m.Data[:cfg.abortClose])
		time.Sleep(100 * time.Millisecond) // let it reach the wire
		s.conn.Close()
		r["stage"], r["outcome"], r["error_kind"] = "body", "aborted", "client-close"
		r["error"] = fmt.Sprintf("client closed the connection (FIN) after %d body bytes (--abort-close-after)", cfg.abortClose)
		r["body_bytes_written"] = cfg.abortClose // to the DATA writer; what left is up to 4 KiB less
		s.sess["close"] = "client-close-mid-data"
		return r, false
	}
	if _, err := w.Write(m.Data); err != nil {
		r["stage"] = "body"
		r["outcome"] = "aborted"
		r["error"] = err.Error()
		r["error_kind"] = errKind(err)
		s.sess["close"] = "connection-lost"
		if errKind(err) == "timeout" {
			// The body could not be written in time (nothing is acknowledged:
			// a path-MTU black hole, a peer that stopped reading). QUIT cannot
			// follow: it would queue behind the unsent body, and go-smtp's
			// writer has failed for good. Close, as an MTA does.
			s.sess["close"] = "close-after-write-timeout"
			s.sess["t_close"] = s.since(time.Now())
			r["tcp_retrans"] = tcpRetrans(s.conn) - r0
			s.conn.Close()
		}
		return r, false
	}
	tEOD := time.Now()
	r["t_eod_sent"] = s.since(tEOD)
	s.watch.timedOut.Store(false)
	resp, err := w.CloseWithResponse()
	tReply := time.Now()
	r["eod_wait_s"] = tReply.Sub(tEOD).Seconds()
	if err == nil && s.watch.timedOut.Load() {
		// Go's bufio.Reader.ReadLine hands back a line cut short by the
		// read deadline as if it were complete, so go-smtp would take a
		// partial "250 ..." for a reply. It was not one: the deadline fired.
		r["partial_reply_text"] = resp.StatusText
		err = os.ErrDeadlineExceeded
	}
	if err != nil {
		if errKind(err) == "timeout" {
			// What an MTA does: give up on this transaction, say QUIT if it
			// still can, close. The message stays queued (deferred, 4.4.2);
			// Postfix logs "conversation with ... timed out while sending end
			// of data -- message may be sent more than once".
			r["stage"] = "eod"
			r["outcome"] = "no-reply"
			r["reply_code"] = "timeout"
			r["local_status"] = "4.4.2"
			r["local_text"] = fmt.Sprintf("conversation with %s timed out while sending end of data -- message may be sent more than once", cfg.server)
			r["error"] = err.Error()
			s.quitAfterTimeout(c)
			return r, false
		}
		rr, keep := smtpFail("eod", err)
		rr["t_reply"] = s.since(tReply)
		return rr, keep
	}
	r["t_reply"] = s.since(tReply)
	r["stage"] = "eod"
	r["outcome"] = "delivered"
	r["reply_code"] = 250
	enh, text := splitEnh(resp.StatusText)
	if enh != "" {
		r["enhanced_code"] = enh
	}
	r["reply_text"] = text
	return r, true
}

func (s *clientSession) quitAfterTimeout(c *smtp.Client) {
	s.conn.SetWriteDeadline(time.Time{})
	c.CommandTimeout = s.cfg.quitTimeout
	t := time.Now()
	s.sess["t_quit"] = s.since(t)
	if err := c.Quit(); err != nil {
		s.sess["close"] = "quit-unanswered-then-close"
		s.sess["quit_error"] = errKind(err)
		c.Close()
	} else {
		s.sess["close"] = "quit"
	}
	s.sess["t_close"] = s.since(time.Now())
}

func outcomeForCode(code int) string {
	switch code / 100 {
	case 2:
		return "delivered"
	case 4:
		return "deferred"
	default:
		return "rejected"
	}
}

func splitEnh(s string) (enh, text string) {
	f, rest, _ := strings.Cut(s, " ")
	var a, b, c int
	if n, _ := fmt.Sscanf(f, "%d.%d.%d", &a, &b, &c); n == 3 {
		return f, rest
	}
	return "", s
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken-pipe"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "error"
}

// recipients for message i of this session (--to, or --rcpt-override).
func (s *clientSession) recipients(i int) []string {
	key := fmt.Sprintf("%d.%d=", s.idx, i)
	for _, o := range s.cfg.rcptOverride {
		if strings.HasPrefix(o, key) {
			return strings.Split(strings.TrimPrefix(o, key), ",")
		}
	}
	return strings.Split(s.cfg.to, ",")
}

// timeoutWatch notes whether a read ended on the deadline.
type timeoutWatch struct {
	net.Conn
	timedOut atomic.Bool
}

func (w *timeoutWatch) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if err != nil && errKind(err) == "timeout" {
		w.timedOut.Store(true)
	}
	return n, err
}
