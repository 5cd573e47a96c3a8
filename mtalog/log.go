package mtalog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smtpscope/smtpscope/capture"
)

// Errors a reader returns, wrapped with the file name.
var (
	// ErrUnknownFormat: the file is not a log of a known format (or is
	// binary).
	ErrUnknownFormat = errors.New("not an MTA log of a known format")
	// ErrEmpty: the file holds no line.
	ErrEmpty = errors.New("empty log")
)

// Format names a log format.
type Format string

// The formats read.
const (
	FormatExchangeSend    Format = "exchange-smtp-send"
	FormatExchangeReceive Format = "exchange-smtp-receive"
	FormatPostfix         Format = "postfix"
	FormatExim            Format = "exim"
)

// Limits on input, each a named constant: past them a line is cut or a
// warning is given instead of holding unbounded memory.
const (
	// MaxLineLength is the longest line kept whole; longer lines are cut
	// and warned about.
	MaxLineLength = 64 << 10
	// MaxWarnings is how many per-line warnings a Log keeps; the rest are
	// counted in Log.MoreWarnings.
	MaxWarnings = 100
	// sniffLines is how many non-empty lines detection looks at.
	sniffLines = 50
)

// Role says which side of the SMTP conversation the logging MTA was.
type Role string

// The roles.
const (
	// RoleClient: the logging MTA connected and sent (Exchange SmtpSend,
	// postfix/smtp, Exim deliveries).
	RoleClient Role = "client"
	// RoleServer: the logging MTA accepted the connection (Exchange
	// SmtpReceive, postfix/smtpd, Exim arrivals).
	RoleServer Role = "server"
)

// Line is one line of a log file.
type Line struct {
	Source string    // the file name as given
	Number int       // 1-based line number
	Time   time.Time // the line's time stamp, as the log's clock had it
	Text   string    // the line without its end-of-line
	// Message is what the line says without its time stamp and host (and,
	// in an Exchange log, without the fields the session names already:
	// connector, session, sequence number, endpoints), e.g.
	// "postfix/smtp[7]: 1A2B: to=<a@b>, …" or "> MAIL FROM:<a@b>".
	Message string
	// Host is the host that wrote the line, as syslog names it ("" in
	// formats without one). A name without a dot is still a host name:
	// redaction must know it to hide it.
	Host string
}

// Endpoint is one end of a connection as a log names it. Any part may be
// missing: Addr invalid, Port 0, Host empty.
type Endpoint struct {
	Host string
	Addr netip.Addr
	Port uint16
}

// AddrPort returns the endpoint's address and port (zero parts when
// unknown).
func (e Endpoint) AddrPort() netip.AddrPort { return netip.AddrPortFrom(e.Addr, e.Port) }

func (e Endpoint) String() string {
	var s string
	switch {
	case e.Addr.IsValid() && e.Port != 0:
		s = netip.AddrPortFrom(e.Addr, e.Port).String()
	case e.Addr.IsValid():
		s = e.Addr.String()
	case e.Port != 0:
		s = fmt.Sprintf("%s:%d", e.Host, e.Port)
	default:
		s = e.Host
	}
	return s
}

// EventKind classifies a log event.
type EventKind string

// The event kinds.
const (
	EventConnect    EventKind = "connect"    // the connection opened (or was being opened)
	EventDisconnect EventKind = "disconnect" // the connection closed
	EventCommand    EventKind = "command"    // the client sent a command
	EventReply      EventKind = "reply"      // the server sent a reply
	EventDelivery   EventKind = "delivery"   // the MTA's verdict on a message (Postfix status=, Exim =>, ==, **)
	EventLocal      EventKind = "local"      // the MTA's own words: a timeout, a lost connection, a status it wrote itself
	EventInfo       EventKind = "info"       // anything else about the session
)

// Event is one thing a log says about a session.
type Event struct {
	Kind EventKind
	Line Line
	// Reply is the SMTP reply the event carries or quotes (a received
	// reply, a status= text quoting the server), if any.
	Reply *Reply
	// Status is a delivery's status word: sent, deferred, bounced,
	// expired (Postfix), or the Exim flag's meaning.
	Status string
	// Stage is the SMTP stage a local event or a quoted reply names, one
	// of the Stage constants, or "".
	Stage Stage
	// Remote says that Reply was the peer's (as opposed to one the MTA
	// wrote itself, such as Exchange's "421 4.4.2 Connection dropped").
	Remote bool
}

// Stage is a point of the SMTP conversation a log line names.
type Stage string

// Stages.
const (
	StageConnect   Stage = "connect"
	StageGreeting  Stage = "greeting"
	StageHelo      Stage = "helo"
	StageMail      Stage = "mail"
	StageRcpt      Stage = "rcpt"
	StageData      Stage = "data"        // the DATA command
	StageBody      Stage = "body"        // the message content
	StageEndOfData Stage = "end-of-data" // the final dot (or last BDAT)
	StageQuit      Stage = "quit"
)

// Reply is an SMTP reply as a log has it.
type Reply struct {
	Code     int
	Enhanced string // "4.4.2", or ""
	Text     string
}

// Session is what one log says about one SMTP connection.
type Session struct {
	Format Format
	Role   Role
	// ID is the log's own session key: Exchange's session-id, or for
	// Postfix the process and first queue ID ("smtp[30840] 19B6B2900FE").
	ID string
	// Local is the logging MTA's end, Remote the peer's.
	Local, Remote Endpoint
	// Start and End are the times of the first and last line (Start may
	// be earlier when the log says how long the connection took, as
	// Postfix's delays= does).
	Start, End time.Time
	// QueueIDs are the logging MTA's queue IDs for messages of the
	// session; QueuedAs the peer's, from "queued as X" in its replies.
	QueueIDs, QueuedAs []string
	MessageIDs         []string
	Events             []Event
}

// Lines returns the session's lines in log order, each once.
func (s *Session) Lines() []Line {
	var out []Line
	seen := map[[2]any]bool{}
	for _, e := range s.Events {
		k := [2]any{e.Line.Source, e.Line.Number}
		if !seen[k] {
			seen[k] = true
			out = append(out, e.Line)
		}
	}
	return out
}

// Log is one log file read.
type Log struct {
	Name        string
	Format      Format
	Compression string // "gzip", "zstd" or ""
	Lines       int
	Sessions    []Session
	// Start and End bound the times of the lines read.
	Start, End time.Time
	// Warnings name lines that could not be used ("file:12: ...");
	// MoreWarnings counts those beyond MaxWarnings.
	Warnings     []string
	MoreWarnings int
}

func (l *Log) warn(n int, format string, args ...any) {
	if len(l.Warnings) >= MaxWarnings {
		l.MoreWarnings++
		return
	}
	l.Warnings = append(l.Warnings, fmt.Sprintf("%s:%d: ", l.Name, n)+fmt.Sprintf(format, args...))
}

// seen widens the log's time span to t.
func (l *Log) seen(t time.Time) {
	if t.IsZero() {
		return
	}
	if l.Start.IsZero() || t.Before(l.Start) {
		l.Start = t
	}
	if t.After(l.End) {
		l.End = t
	}
}

// Options are the reading settings. The zero value is useful.
type Options struct {
	// Location is the time zone of time stamps that carry none (classic
	// syslog). Default UTC.
	Location *time.Location
	// Reference is a time at or shortly after the log's last line, for
	// the year of time stamps without one. Default: the file's
	// modification time (ReadFile) or the current time (Read).
	Reference time.Time
}

// ReadFile reads the log file at path.
func ReadFile(path string, opts Options) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if opts.Reference.IsZero() {
		if st, err := f.Stat(); err == nil {
			opts.Reference = st.ModTime()
		}
	}
	return Read(path, f, opts)
}

// Read reads a log from r; name is used in warnings, errors and Line.Source.
func Read(name string, r io.Reader, opts Options) (*Log, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Reference.IsZero() {
		opts.Reference = time.Now()
	}
	d, err := capture.Decompress(name, r)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	sc := newLineScanner(d)
	// Detection looks at the first lines; they are kept to be parsed.
	var head []rawLine
	for len(head) < sniffLines {
		l, ok := sc.next()
		if !ok {
			break
		}
		if binary(l.text) {
			return nil, fmt.Errorf("%s: line %d holds binary data: %w", name, l.n, ErrUnknownFormat)
		}
		head = append(head, l)
	}
	if err := sc.err; err != nil && len(head) == 0 {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	format := detect(head)
	if format == "" {
		if nonEmpty(head) == 0 {
			return nil, fmt.Errorf("%s: %w", name, ErrEmpty)
		}
		return nil, fmt.Errorf("%s: %w (want an Exchange SMTP protocol log with a #Fields: header, Postfix syslog or maillog_file lines, or an Exim main log)", name, ErrUnknownFormat)
	}
	log := &Log{Name: name, Format: format, Compression: d.Compression}
	var p parser
	switch format {
	case FormatExchangeSend, FormatExchangeReceive:
		p = newExchangeParser(log)
	case FormatPostfix:
		p = newPostfixParser(log, opts)
	case FormatExim:
		p = newEximParser(log, opts)
	}
	feed := func(l rawLine) {
		log.Lines = l.n
		if l.cut {
			log.warn(l.n, "line longer than %d bytes, cut", MaxLineLength)
		}
		if strings.TrimSpace(l.text) == "" {
			return
		}
		if binary(l.text) {
			log.warn(l.n, "binary data, line skipped")
			return
		}
		p.line(l.n, l.text)
	}
	for _, l := range head {
		feed(l)
	}
	for {
		l, ok := sc.next()
		if !ok {
			break
		}
		feed(l)
	}
	if sc.err != nil {
		log.warn(log.Lines, "reading stopped: %v", sc.err)
	}
	log.Sessions = p.finish()
	return log, nil
}

// parser is one format's reader.
type parser interface {
	line(n int, text string)
	finish() []Session
}

func nonEmpty(ls []rawLine) int {
	n := 0
	for _, l := range ls {
		if strings.TrimSpace(l.text) != "" {
			n++
		}
	}
	return n
}

// detect finds the format from the first lines.
func detect(head []rawLine) Format {
	var postfix, exim int
	for _, l := range head {
		t := l.text
		switch {
		case strings.HasPrefix(t, "#Log-type:"):
			if strings.Contains(t, "Receive") {
				return FormatExchangeReceive
			}
			if strings.Contains(t, "Send") {
				return FormatExchangeSend
			}
		case strings.HasPrefix(t, "#Fields:") && strings.Contains(t, "session-id") && strings.Contains(t, "remote-endpoint"):
			// No Log-type line: tell send from receive by the events
			// (a send log has "attempting to connect").
			for _, m := range head {
				if strings.Contains(m.text, "attempting to connect") {
					return FormatExchangeSend
				}
			}
			return FormatExchangeReceive
		}
		if _, _, rest, ok := parseSyslogPrefix(t, time.UTC, time.Now()); ok && isPostfixTag(rest) {
			postfix++
		}
		if isEximLine(t) {
			exim++
		}
	}
	switch {
	case postfix > 0 && postfix >= exim:
		return FormatPostfix
	case exim > 0:
		return FormatExim
	}
	return ""
}

// binary tells whether a line is not text: NUL or other control bytes, or
// invalid UTF-8 in quantity.
func binary(s string) bool {
	ctl := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return true
		}
		if c < 0x20 && c != '\t' && c != '\r' {
			ctl++
		}
	}
	if ctl > 4 {
		return true
	}
	if !utf8.ValidString(s) {
		bad := 0
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				bad++
			}
			i += size
		}
		return bad*8 > len(s)
	}
	return false
}

// rawLine is one line as read.
type rawLine struct {
	n    int
	text string
	cut  bool
}

// lineScanner splits input into lines of at most MaxLineLength bytes
// (the rest of a longer line is skipped), dropping a trailing CR.
type lineScanner struct {
	br  *bufio.Reader
	n   int
	err error
	eof bool
}

func newLineScanner(r io.Reader) *lineScanner {
	return &lineScanner{br: bufio.NewReaderSize(r, 64<<10)}
}

func (s *lineScanner) next() (rawLine, bool) {
	if s.eof {
		return rawLine{}, false
	}
	var buf []byte
	cut := false
	for {
		frag, err := s.br.ReadSlice('\n')
		if len(buf)+len(frag) <= MaxLineLength {
			buf = append(buf, frag...)
		} else {
			if len(buf) < MaxLineLength {
				buf = append(buf, frag[:MaxLineLength-len(buf)]...)
			}
			cut = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.err = err
			}
			if len(buf) == 0 {
				return rawLine{}, false
			}
		}
		break
	}
	s.n++
	buf = bytes.TrimRight(buf, "\r\n")
	return rawLine{n: s.n, text: string(buf), cut: cut}, true
}
