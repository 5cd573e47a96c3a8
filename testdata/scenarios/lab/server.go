package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

type serverCfg struct {
	listen, domain, logPath   string
	lifetime                  time.Duration
	maxMessageBytes           int64
	stallAbove                int64
	stallMax                  time.Duration
	partialReply              string
	partialAbove              int64
	replyCode                 int
	replyEnh, replyText       string
	replyAbove                int64
	delay                     time.Duration
	delayAbove                int64
	rcptReject                string
	bannerCode                int
	bannerText                string
	resetDuringData           int64
	windowStall               time.Duration
	windowStallAfter          int64
	rcvbuf                    int
	starttls                  bool
	implicitTLS, maskSTARTTLS bool
	tlsMin, tlsMax            string
	starttlsRefuse            int
	readTimeout, writeTimeout time.Duration
	bannerQuitWait            time.Duration
}

func runServer(args []string) error {
	var c serverCfg
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:25", "address to listen on (host:port; [::1]:25 for IPv6)")
	fs.StringVar(&c.domain, "domain", "relay.lab.test", "server domain in the greeting")
	fs.StringVar(&c.logPath, "log", "-", "JSON-lines event log (- = stdout)")
	fs.DurationVar(&c.lifetime, "lifetime", 10*time.Minute, "exit after this long whatever happens (bound)")
	fs.Int64Var(&c.maxMessageBytes, "max-message-bytes", 50<<20, "advertised SIZE limit; larger DATA gets go-smtp's 552 5.3.4")
	fs.Int64Var(&c.stallAbove, "stall-above", -1, "after receiving a message larger than BYTES, never answer its end-of-data (-1 = off)")
	fs.StringVar(&c.partialReply, "partial-reply", "", "after end-of-data write only these bytes of a reply (no CRLF), then stall as --stall-above does")
	fs.Int64Var(&c.partialAbove, "partial-above", -1, "apply --partial-reply only to messages larger than BYTES (-1 = all)")
	fs.DurationVar(&c.stallMax, "stall-max", 120*time.Second, "bound on a stall: then close the connection without a reply")
	fs.IntVar(&c.replyCode, "reply-code", 0, "answer end-of-data with this code instead of 250 (e.g. 451, 552)")
	fs.StringVar(&c.replyEnh, "reply-enh", "", "enhanced status code for --reply-code (e.g. 4.3.0)")
	fs.StringVar(&c.replyText, "reply-text", "", "text for --reply-code")
	fs.Int64Var(&c.replyAbove, "reply-above", -1, "apply --reply-code only to messages larger than BYTES (-1 = all)")
	fs.DurationVar(&c.delay, "delay", 0, "sleep this long before the final reply to end-of-data")
	fs.Int64Var(&c.delayAbove, "delay-above", -1, "apply --delay only to messages larger than BYTES (-1 = all)")
	fs.StringVar(&c.rcptReject, "rcpt-reject", "", "comma-separated recipients (or *) answered 550 5.1.1")
	fs.IntVar(&c.bannerCode, "banner-code", 0, "greet with this code instead of 220 (421: then close; 5xx: wait for QUIT, 503 to anything else)")
	fs.StringVar(&c.bannerText, "banner-text", "", "text for --banner-code")
	fs.DurationVar(&c.bannerQuitWait, "banner-quit-wait", 10*time.Second, "after a 5xx banner, how long to wait for the client's commands")
	fs.Int64Var(&c.resetDuringData, "reset-during-data", -1, "after BYTES of message body, abort the connection with RST (SO_LINGER 0) (-1 = off)")
	fs.DurationVar(&c.windowStall, "window-stall", 0, "during DATA, stop reading for this long (the receive window fills up and closes)")
	fs.Int64Var(&c.windowStallAfter, "window-stall-after", 65536, "start --window-stall after this many message bytes")
	fs.IntVar(&c.rcvbuf, "rcvbuf", 0, "SO_RCVBUF on the listening socket (0 = kernel default, autotuned)")
	fs.BoolVar(&c.starttls, "starttls", false, "offer STARTTLS with a self-signed certificate generated at start")
	fs.BoolVar(&c.implicitTLS, "implicit-tls", false, "speak TLS from the first byte (SMTPS, RFC 8314), same self-signed certificate as --starttls")
	fs.StringVar(&c.tlsMin, "tls-min-version", "", "lowest TLS version accepted (1.0-1.3; default Go's)")
	fs.StringVar(&c.tlsMax, "tls-max-version", "", "highest TLS version accepted (1.0-1.3; default Go's)")
	fs.IntVar(&c.starttlsRefuse, "starttls-refuse", 0, "with --starttls: offer STARTTLS but answer it with this code (454), as a server without a usable certificate does")
	fs.BoolVar(&c.maskSTARTTLS, "mask-starttls", false, "rewrite STARTTLS in EHLO replies to XXXXXXXA, as a firewall's ESMTP inspection does")
	fs.DurationVar(&c.readTimeout, "read-timeout", 60*time.Second, "go-smtp per-command read timeout")
	fs.DurationVar(&c.writeTimeout, "write-timeout", 60*time.Second, "go-smtp write timeout")
	fs.Parse(args)

	lg, closeLog, err := openLog(c.logPath)
	if err != nil {
		return err
	}
	defer closeLog()

	lc := net.ListenConfig{KeepAlive: -1} // no TCP keepalives (Go's default: 15 s)
	if c.rcvbuf > 0 {
		lc.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, c.rcvbuf)
			})
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", c.listen)
	if err != nil {
		return err
	}
	be := &backend{cfg: &c, log: lg}
	srv := smtp.NewServer(be)
	srv.Domain = c.domain
	srv.MaxMessageBytes = c.maxMessageBytes
	srv.MaxRecipients = 50
	srv.ReadTimeout = c.readTimeout
	srv.WriteTimeout = c.writeTimeout
	srv.AllowInsecureAuth = true
	srv.ErrorLog = logAdapter{lg}
	var tlsCfg *tls.Config
	if c.starttls || c.implicitTLS {
		cert, err := selfSignedCert(c.domain)
		if err != nil {
			return err
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}}
		if _, err := applyTLSKnobs(tlsCfg, c.tlsMin, c.tlsMax, ""); err != nil {
			return err
		}
	}
	if c.starttls {
		srv.TLSConfig = tlsCfg
	}
	wl := &wrapListener{Listener: ln, cfg: &c, log: lg}
	var sl net.Listener = wl
	if c.implicitTLS {
		sl = tls.NewListener(wl, tlsCfg)
	}
	lg.emit(map[string]any{"event": "listen", "addr": ln.Addr().String(), "pid": os.Getpid(), "config": c.describe()})

	done := make(chan error, 1)
	go func() { done <- srv.Serve(sl) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		lg.emit(map[string]any{"event": "shutdown", "reason": s.String()})
	case <-time.After(c.lifetime):
		lg.emit(map[string]any{"event": "shutdown", "reason": "lifetime"})
	case err := <-done:
		lg.emit(map[string]any{"event": "shutdown", "reason": fmt.Sprint(err)})
	}
	srv.Close() // closes the listener and every connection; bounded
	return nil
}

func (c *serverCfg) describe() map[string]any {
	return map[string]any{
		"stall_above": c.stallAbove, "stall_max_s": c.stallMax.Seconds(),
		"partial_reply": c.partialReply, "partial_above": c.partialAbove,
		"reply_code": c.replyCode, "reply_enh": c.replyEnh, "reply_text": c.replyText, "reply_above": c.replyAbove,
		"delay_s": c.delay.Seconds(), "delay_above": c.delayAbove, "rcpt_reject": c.rcptReject,
		"banner_code": c.bannerCode, "banner_text": c.bannerText, "reset_during_data": c.resetDuringData,
		"window_stall_s": c.windowStall.Seconds(), "window_stall_after": c.windowStallAfter,
		"rcvbuf": c.rcvbuf, "starttls": c.starttls, "max_message_bytes": c.maxMessageBytes,
		"implicit_tls": c.implicitTLS, "tls_min_version": c.tlsMin, "tls_max_version": c.tlsMax,
		"starttls_refuse": c.starttlsRefuse, "mask_starttls": c.maskSTARTTLS,
	}
}

type logAdapter struct{ lg *jsonLog }

func (l logAdapter) Printf(format string, v ...any) {
	l.lg.emit(map[string]any{"event": "go-smtp", "msg": fmt.Sprintf(format, v...)})
}
func (l logAdapter) Println(v ...any) {
	l.lg.emit(map[string]any{"event": "go-smtp", "msg": strings.TrimSpace(fmt.Sprintln(v...))})
}

// wrapListener logs accepts and closes, and handles --banner-code itself
// (go-smtp always greets with 220).
type wrapListener struct {
	net.Listener
	cfg  *serverCfg
	log  *jsonLog
	next atomic.Int64
}

func (l *wrapListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		id := l.next.Add(1)
		lc := &loggedConn{Conn: c, id: id, log: l.log}
		l.log.emit(map[string]any{"event": "accept", "conn": id, "remote": c.RemoteAddr().String(), "local": c.LocalAddr().String()})
		if l.cfg.bannerCode != 0 {
			go l.banner(lc)
			continue
		}
		if l.cfg.starttlsRefuse != 0 || l.cfg.maskSTARTTLS {
			return &middlebox{loggedConn: lc, refuseCode: l.cfg.starttlsRefuse, mask: l.cfg.maskSTARTTLS}, nil
		}
		return lc, nil
	}
}

func (l *wrapListener) banner(c *loggedConn) {
	defer c.Close()
	text := l.cfg.bannerText
	if text == "" {
		text = l.cfg.domain + " Service not available"
	}
	line := fmt.Sprintf("%d %s", l.cfg.bannerCode, text)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s\r\n", line)
	l.log.emit(map[string]any{"event": "reply", "conn": c.id, "stage": "banner", "line": line, "code": l.cfg.bannerCode})
	if l.cfg.bannerCode/100 != 5 {
		return // 421: close right away (RFC 5321 4.3.2)
	}
	// RFC 5321 3.1: after a 554 greeting wait for QUIT, answer 503 otherwise.
	c.SetDeadline(time.Now().Add(l.cfg.bannerQuitWait))
	br := bufio.NewReader(c)
	for {
		cmd, err := br.ReadString('\n')
		if err != nil {
			l.log.emit(map[string]any{"event": "banner_wait_end", "conn": c.id, "err": err.Error()})
			return
		}
		cmd = strings.TrimRight(cmd, "\r\n")
		l.log.emit(map[string]any{"event": "command", "conn": c.id, "line": cmd})
		if strings.EqualFold(strings.TrimSpace(cmd), "QUIT") {
			fmt.Fprintf(c, "221 2.0.0 Bye\r\n")
			l.log.emit(map[string]any{"event": "reply", "conn": c.id, "stage": "quit", "code": 221})
			return
		}
		fmt.Fprintf(c, "503 5.5.1 Error: no service\r\n")
		l.log.emit(map[string]any{"event": "reply", "conn": c.id, "stage": "command", "code": 503})
	}
}

type loggedConn struct {
	net.Conn
	id     int64
	log    *jsonLog
	closed sync.Once
	// how the connection was torn down, if not by an ordinary close
	how atomic.Value
}

func (c *loggedConn) Close() error {
	c.closed.Do(func() {
		how, _ := c.how.Load().(string)
		if how == "" {
			how = "close"
		}
		c.log.emit(map[string]any{"event": "close", "conn": c.id, "how": how, "tcp_retrans": tcpRetrans(c.Conn)})
	})
	return c.Conn.Close()
}

type backend struct {
	cfg *serverCfg
	log *jsonLog
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	var lc *loggedConn
	switch nc := c.Conn().(type) {
	case *loggedConn:
		lc = nc
	case *middlebox:
		lc = nc.loggedConn
	case *tls.Conn:
		switch inner := nc.NetConn().(type) {
		case *loggedConn:
			lc = inner
		case *middlebox:
			lc = inner.loggedConn
		}
	}
	if lc == nil {
		return nil, errors.New("internal: unexpected connection type")
	}
	_, isTLS := c.TLSConnectionState()
	b.log.emit(map[string]any{"event": "ehlo", "conn": lc.id, "helo": c.Hostname(), "tls": isTLS})
	return &session{b: b, c: c, lc: lc}, nil
}

type session struct {
	b    *backend
	c    *smtp.Conn
	lc   *loggedConn
	from string
	rcpt []string
	n    int // messages seen in this session
}

func (s *session) emit(m map[string]any) {
	m["conn"] = s.lc.id
	s.b.log.emit(m)
}

func (s *session) Reset() {}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.from, s.rcpt = from, nil
	m := map[string]any{"event": "mail", "from": from}
	if opts != nil && opts.Size > 0 {
		m["size_param"] = opts.Size
	}
	s.emit(m)
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	rej := false
	for _, r := range strings.Split(s.b.cfg.rcptReject, ",") {
		r = strings.TrimSpace(r)
		if r != "" && (r == "*" || strings.EqualFold(r, to)) {
			rej = true
		}
	}
	if rej {
		s.emit(map[string]any{"event": "reply", "stage": "rcpt", "rcpt": to, "code": 550, "enh": "5.1.1"})
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + to + ">: Recipient address rejected: User unknown in local recipient table"}
	}
	s.rcpt = append(s.rcpt, to)
	s.emit(map[string]any{"event": "reply", "stage": "rcpt", "rcpt": to, "code": 250, "enh": "2.0.0"})
	return nil
}

var errAborted = errors.New("connection aborted by lab fault")

func (s *session) Data(r io.Reader) error {
	cfg := s.b.cfg
	s.n++
	start := time.Now()
	s.emit(map[string]any{"event": "data_begin", "msg": s.n})
	var total int64
	var hdr strings.Builder // first bytes, to find Message-ID

	read := func(limit int64) error {
		buf := make([]byte, 32*1024)
		for limit < 0 || total < limit {
			want := int64(len(buf))
			if limit >= 0 && limit-total < want {
				want = limit - total
			}
			n, err := r.Read(buf[:want])
			if n > 0 && hdr.Len() < 4096 {
				hdr.Write(buf[:min(n, 4096-hdr.Len())])
			}
			total += int64(n)
			if err == io.EOF {
				return io.EOF
			}
			if err != nil {
				return err
			}
		}
		return nil
	}

	if cfg.resetDuringData >= 0 {
		err := read(cfg.resetDuringData)
		if err == nil {
			tc := s.tcpConn()
			if tc != nil {
				tc.SetLinger(0)
			}
			s.lc.how.Store("rst")
			s.emit(map[string]any{"event": "reset_during_data", "msg": s.n, "bytes_read": total})
			s.lc.Close()
			return errAborted
		}
		if err != io.EOF {
			return s.dataErr(err, total)
		}
	}
	if cfg.windowStall > 0 {
		if err := read(cfg.windowStallAfter); err == nil {
			s.emit(map[string]any{"event": "window_stall_begin", "msg": s.n, "bytes_read": total, "for_s": cfg.windowStall.Seconds()})
			time.Sleep(cfg.windowStall)
			s.emit(map[string]any{"event": "window_stall_end", "msg": s.n})
		} else if err != io.EOF {
			return s.dataErr(err, total)
		}
	}
	if err := read(-1); err != io.EOF {
		return s.dataErr(err, total)
	}
	msgID := headerValue(hdr.String(), "Message-ID")
	s.emit(map[string]any{"event": "data_end", "msg": s.n, "bytes": total, "message_id": msgID,
		"data_s": time.Since(start).Seconds()})

	if cfg.partialReply != "" && total > cfg.partialAbove {
		// the reply starts and never finishes: a relay that dies mid-write
		nc := s.c.Conn()
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := io.WriteString(nc, cfg.partialReply)
		s.emit(map[string]any{"event": "partial_reply", "msg": s.n, "bytes": cfg.partialReply, "err": fmt.Sprint(err)})
		return s.stall(total)
	}
	if cfg.stallAbove >= 0 && total > cfg.stallAbove {
		return s.stall(total)
	}
	if cfg.delay > 0 && total > cfg.delayAbove {
		s.emit(map[string]any{"event": "delay_begin", "msg": s.n, "for_s": cfg.delay.Seconds()})
		time.Sleep(cfg.delay)
		s.emit(map[string]any{"event": "delay_end", "msg": s.n})
	}
	if cfg.replyCode != 0 && total > cfg.replyAbove {
		enh := parseEnh(cfg.replyEnh)
		s.emit(map[string]any{"event": "reply", "stage": "eod", "msg": s.n, "code": cfg.replyCode, "enh": cfg.replyEnh, "text": cfg.replyText})
		return &smtp.SMTPError{Code: cfg.replyCode, EnhancedCode: enh, Message: cfg.replyText}
	}
	s.emit(map[string]any{"event": "reply", "stage": "eod", "msg": s.n, "code": 250, "enh": "2.0.0", "text": "OK: queued"})
	return nil
}

func (s *session) dataErr(err error, total int64) error {
	s.emit(map[string]any{"event": "data_error", "msg": s.n, "bytes": total, "err": err.Error()})
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The client closed (FIN) in the middle of the body. Do what
		// Postfix does ("lost connection after DATA"): close without a
		// reply. go-smtp would write a 554 to a peer that has gone, whose
		// kernel would answer it with a RST.
		s.lc.how.Store("close-after-client-eof")
		s.lc.Close()
		return errAborted
	}
	return err
}

// stall never answers the end-of-data. It keeps reading the socket (so TCP
// stays healthy and everything is ACKed) until the client closes or
// --stall-max passes, then closes without a word. Nothing the client sends
// meanwhile (QUIT) is answered.
func (s *session) stall(total int64) error {
	s.emit(map[string]any{"event": "stall_begin", "msg": s.n, "bytes": total, "max_s": s.b.cfg.stallMax.Seconds()})
	t0 := time.Now()
	nc := s.c.Conn()
	nc.SetReadDeadline(time.Now().Add(s.b.cfg.stallMax))
	var got []byte
	buf := make([]byte, 4096)
	reason := ""
	for {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			switch {
			case err == io.EOF:
				reason = "client-closed"
			case errors.As(err, &ne) && ne.Timeout():
				reason = "stall-max"
			default:
				reason = err.Error()
			}
			break
		}
	}
	s.emit(map[string]any{"event": "stall_end", "msg": s.n, "reason": reason, "unanswered": string(got),
		"stall_s": time.Since(t0).Seconds()})
	s.lc.how.Store("close-after-stall")
	s.lc.Close()
	return errAborted
}

func (s *session) tcpConn() *net.TCPConn {
	tc, _ := s.lc.Conn.(*net.TCPConn)
	return tc
}

func headerValue(h, name string) string {
	for _, ln := range strings.Split(h, "\r\n") {
		if ln == "" {
			break
		}
		if k, v, ok := strings.Cut(ln, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func parseEnh(s string) smtp.EnhancedCode {
	var e smtp.EnhancedCode
	if _, err := fmt.Sscanf(s, "%d.%d.%d", &e[0], &e[1], &e[2]); err != nil {
		return smtp.EnhancedCodeNotSet
	}
	return e
}
