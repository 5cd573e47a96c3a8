package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// runRaw speaks SMTP itself (net/textproto) for what go-smtp's client does not
// do: PIPELINING (RFC 2920: MAIL, RCPT and DATA in one write) and BDAT
// (RFC 3030 CHUNKING: the body in counted chunks, no dot-stuffing, no
// end-of-data line; the reply to "BDAT n LAST" is the message's final reply).
func (s *clientSession) runRaw() {
	cfg := s.cfg
	bw := bufio.NewWriter(s.conn)
	tp := textproto.NewReader(bufio.NewReader(s.conn))
	read := func(expect int, d time.Duration) (int, string, error) {
		s.conn.SetReadDeadline(time.Now().Add(d))
		return tp.ReadResponse(expect)
	}
	send := func(lines ...string) error {
		s.conn.SetWriteDeadline(time.Now().Add(cfg.cmdTimeout))
		for _, l := range lines {
			bw.WriteString(l + "\r\n")
		}
		return bw.Flush()
	}
	code, msg, err := read(220, cfg.cmdTimeout)
	if err != nil {
		s.sess["greeting_code"], s.sess["greeting_text"] = code, msg
		s.sess["error"] = err.Error()
		s.sess["close"] = "client-close-after-greeting"
		s.unsent("greeting", err)
		return
	}
	s.sess["greeting_code"] = 220
	if err := send("EHLO " + cfg.ehlo); err != nil {
		s.rawLost(err)
		return
	}
	_, msg, err = read(250, cfg.cmdTimeout)
	if err != nil {
		s.rawLost(err)
		return
	}
	ext := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 {
			ext[strings.ToUpper(f[0])] = true
		}
	}
	need := "PIPELINING"
	if cfg.proto == "bdat" {
		need = "CHUNKING"
	}
	if !ext[need] {
		err := fmt.Errorf("server does not advertise %s", need)
		s.sess["error"] = err.Error()
		s.unsent("ehlo", err)
		send("QUIT")
		read(221, cfg.cmdTimeout)
		s.sess["close"] = "quit"
		return
	}
	for i, m := range s.msgs {
		r, keep := s.rawOne(i+1, m, bw, send, read, ext["PIPELINING"])
		s.log.emit(r)
		if !keep {
			for j := i + 1; j < len(s.msgs); j++ {
				s.log.emit(s.notSent(j+1, s.msgs[j], "session aborted"))
			}
			return
		}
	}
	if err := send("QUIT"); err == nil {
		if _, _, err := read(221, cfg.cmdTimeout); err == nil {
			s.sess["close"] = "quit"
			return
		}
	}
	s.sess["close"] = "quit-failed"
}

func (s *clientSession) rawLost(err error) {
	s.sess["error"] = err.Error()
	s.sess["close"] = "connection-lost"
	s.unsent("ehlo", err)
}

func (s *clientSession) rawOne(i int, m *message, bw *bufio.Writer, send func(...string) error,
	read func(int, time.Duration) (int, string, error), pipelining bool) (rec, bool) {
	cfg := s.cfg
	r := s.msgRec(i, m)
	r0 := tcpRetrans(s.conn)
	defer func() { r["tcp_retrans"] = tcpRetrans(s.conn) - r0 }()
	bdat := cfg.proto == "bdat"
	if bdat {
		r["wire_bytes"] = len(m.Data) // BDAT: the chunks carry the message as is
	}
	r["t_mail"] = s.since(time.Now())
	fail := func(stage string, code int, msg string, err error) (rec, bool) {
		r["stage"] = stage
		var pe *textproto.Error
		if errors.As(err, &pe) {
			r["reply_code"] = pe.Code
			enh, text := splitEnh(pe.Msg)
			if enh != "" {
				r["enhanced_code"] = enh
			}
			r["reply_text"] = text
			r["outcome"] = outcomeForCode(pe.Code)
			if stage != "eod" {
				delete(r, "wire_bytes")
				if send("RSET") != nil {
					return r, false
				}
				if _, _, err := read(250, cfg.cmdTimeout); err != nil {
					return r, false
				}
			}
			return r, true
		}
		r["outcome"] = "aborted"
		r["error"] = err.Error()
		r["error_kind"] = errKind(err)
		s.sess["close"] = "connection-lost"
		return r, false
	}
	tos := s.recipients(i)
	cmds := []string{fmt.Sprintf("MAIL FROM:<%s> BODY=8BITMIME SIZE=%d", cfg.from, len(m.Data))}
	for _, to := range tos {
		cmds = append(cmds, "RCPT TO:<"+to+">")
	}
	if !bdat {
		cmds = append(cmds, "DATA")
	}
	// one write for the whole group (PIPELINING)
	if err := send(cmds...); err != nil {
		return fail("mail", 0, "", err)
	}
	var firstErr error
	firstStage := ""
	for k := range cmds {
		stage, want := "rcpt", 250
		switch {
		case k == 0:
			stage = "mail"
		case !bdat && k == len(cmds)-1:
			stage, want = "data", 354
		}
		code, msg, err := read(want, cfg.cmdTimeout)
		if err != nil && firstErr == nil {
			firstErr, firstStage = err, stage
			var pe *textproto.Error
			if !errors.As(err, &pe) {
				return fail(stage, code, msg, err)
			}
		}
	}
	if firstErr != nil {
		return fail(firstStage, 0, "", firstErr)
	}
	r["t_data_354"] = s.since(time.Now())
	var tEOD time.Time
	if bdat {
		chunks := 0
		for off := 0; off < len(m.Data); off += cfg.bdatChunk {
			end := min(off+cfg.bdatChunk, len(m.Data))
			last := end == len(m.Data)
			line := fmt.Sprintf("BDAT %d", end-off)
			if last {
				line += " LAST"
			}
			s.conn.SetWriteDeadline(time.Now().Add(cfg.dataTimeout))
			bw.WriteString(line + "\r\n")
			bw.Write(m.Data[off:end])
			if err := bw.Flush(); err != nil {
				r["outcome"], r["stage"], r["error"], r["error_kind"] = "aborted", "body", err.Error(), errKind(err)
				s.sess["close"] = "connection-lost"
				return r, false
			}
			chunks++
			if last {
				tEOD = time.Now()
				break
			}
			if _, _, err := read(250, cfg.cmdTimeout); err != nil {
				return fail("body", 0, "", err)
			}
		}
		r["bdat_chunks"] = chunks
	} else {
		s.conn.SetWriteDeadline(time.Now().Add(cfg.dataTimeout))
		dw := textproto.NewWriter(bw).DotWriter()
		_, err := dw.Write(m.Data)
		if err == nil {
			err = dw.Close() // ".\r\n" and flush
		}
		if err != nil {
			r["outcome"], r["stage"], r["error"], r["error_kind"] = "aborted", "body", err.Error(), errKind(err)
			s.sess["close"] = "connection-lost"
			return r, false
		}
		tEOD = time.Now()
	}
	r["t_eod_sent"] = s.since(tEOD)
	s.watch.timedOut.Store(false)
	code, msg, err := read(250, cfg.eodTimeout)
	tReply := time.Now()
	r["eod_wait_s"] = tReply.Sub(tEOD).Seconds()
	if err == nil && s.watch.timedOut.Load() {
		r["partial_reply_text"] = msg // a line cut by the deadline (see client.go)
		err = os.ErrDeadlineExceeded
	}
	if err != nil {
		if errKind(err) == "timeout" {
			r["stage"], r["outcome"], r["reply_code"], r["local_status"] = "eod", "no-reply", "timeout", "4.4.2"
			r["error"] = err.Error()
			send("QUIT")
			read(221, cfg.quitTimeout)
			s.sess["close"] = "quit-unanswered-then-close"
			return r, false
		}
		return fail("eod", code, msg, err)
	}
	r["t_reply"] = s.since(tReply)
	r["stage"], r["outcome"], r["reply_code"] = "eod", "delivered", code
	enh, text := splitEnh(msg)
	if enh != "" {
		r["enhanced_code"] = enh
	}
	r["reply_text"] = text
	return r, true
}
