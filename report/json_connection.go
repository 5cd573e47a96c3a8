package report

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonEnc writes the JSON of connections: connectionJSON writes byte for
// byte what json.Marshal writes, and fails where it fails, with its error
// (TestConnectionJSON checks both on every field of every type below,
// filled at random).
//
// A report writes one such object per connection, and encoding/json spent
// more on it than the analysis of most connections: it walks the structs
// by reflection, and it runs every time.Time (about twenty a connection)
// through time.Time.MarshalJSON and then through its JSON scanner, as it
// does with the output of every json.Marshaler, to compact it. Here the
// fields are written in their declared order, the common values directly
// (ints, floats in encoding/json's 'f' range, strings of printable ASCII,
// times of a zero offset and years 0-9999); anything else (other strings,
// floats, zones, the rarer TLS and log objects) goes through encoding/json
// itself. A field added to one of these types must be added here: the
// test fails until it is.
type jsonEnc struct {
	b   []byte
	err error // the first error met
	// second is the last time written directly, to the second
	// ("2006-01-02T15:04:05") at unix time sec: a connection's times
	// mostly fall in a few seconds.
	second    [len("2006-01-02T15:04:05")]byte
	sec       int64
	secCached bool
}

// connectionJSON returns the JSON of c, in a buffer the next call reuses.
func (e *jsonEnc) connectionJSON(c *Connection) ([]byte, error) {
	e.b, e.err = e.b[:0], nil
	e.connection(c)
	return e.b, e.err
}

// key writes the name of an object's member, after a comma unless it is
// the first. Member names are plain ASCII identifiers.
func (e *jsonEnc) key(k string) {
	if e.b[len(e.b)-1] != '{' {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

// value writes v as encoding/json does: for what the direct writers do
// not cover.
func (e *jsonEnc) value(v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		raw = []byte("null")
	}
	e.b = append(e.b, raw...)
}

func (e *jsonEnc) null() { e.b = append(e.b, "null"...) }

func (e *jsonEnc) int(k string, v int) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, int64(v), 10)
}

func (e *jsonEnc) intOmit(k string, v int) {
	if v != 0 {
		e.int(k, v)
	}
}

func (e *jsonEnc) int64(k string, v int64) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *jsonEnc) int64Omit(k string, v int64) {
	if v != 0 {
		e.int64(k, v)
	}
}

func (e *jsonEnc) boolean(k string, v bool) {
	e.key(k)
	e.b = strconv.AppendBool(e.b, v)
}

func (e *jsonEnc) boolOmit(k string, v bool) {
	if v {
		e.boolean(k, v)
	}
}

// float writes f as encoding/json does within its 'f' range (zero, or
// 1e-6 to 1e21 in magnitude); the rest, NaN and infinities (an error)
// included, go through encoding/json.
func (e *jsonEnc) float(k string, f float64) {
	e.key(k)
	if a := math.Abs(f); a != 0 && !(a >= 1e-6 && a < 1e21) {
		e.value(f)
		return
	}
	e.b = strconv.AppendFloat(e.b, f, 'f', -1, 64)
}

func (e *jsonEnc) floatOmit(k string, f float64) {
	if f != 0 {
		e.float(k, f)
	}
}

func (e *jsonEnc) str(k, s string) {
	e.key(k)
	e.string(s)
}

func (e *jsonEnc) strOmit(k, s string) {
	if s != "" {
		e.str(k, s)
	}
}

// string writes s quoted as encoding/json does (HTML characters escaped):
// printable ASCII directly, anything else (control characters, UTF-8,
// invalid bytes) through encoding/json.
func (e *jsonEnc) string(s string) {
	mark := len(e.b)
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if jsonPlain[c] {
			continue
		}
		e.b = append(e.b, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			e.b = append(e.b, '\\', c)
		case '<', '>', '&':
			e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			e.b = e.b[:mark]
			e.value(s)
			return
		}
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

const hexDigits = "0123456789abcdef"

// digitPairs holds "00" to "99", two bytes each.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// jsonPlain tells the bytes encoding/json writes as they are in a string
// (escaping HTML): printable ASCII but for '"', '\\', '<', '>' and '&'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// strings writes a []string member without omitempty: null when nil.
func (e *jsonEnc) strings(k string, v []string) {
	e.key(k)
	if v == nil {
		e.null()
		return
	}
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.string(s)
	}
	e.b = append(e.b, ']')
}

func (e *jsonEnc) stringsOmit(k string, v []string) {
	if len(v) > 0 {
		e.strings(k, v)
	}
}

// time writes t as time.Time.MarshalJSON does (RFC 3339 with nanoseconds,
// trailing zeros cut), directly for a zero offset ("Z") and a year of 0 to
// 9999; other times, and the error of a year out of range, through
// encoding/json.
func (e *jsonEnc) time(k string, t time.Time) {
	e.key(k)
	if _, off := t.Zone(); off != 0 {
		e.value(t)
		return
	}
	u := t.UTC()
	if sec := u.Unix(); !e.secCached || sec != e.sec {
		y, mo, d := u.Date()
		if y < 0 || y > 9999 {
			e.value(t)
			return
		}
		h, mi, s := u.Clock()
		b := append(e.second[:0], byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
		b = append2(b, int(mo), '-')
		b = append2(b, d, 'T')
		b = append2(b, h, ':')
		b = append2(b, mi, ':')
		append2(b, s, 0)
		e.sec, e.secCached = sec, true
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, e.second[:]...)
	e.b = append(e.b, '.')
	if ns := u.Nanosecond(); ns != 0 {
		var frac [9]byte
		frac[0] = byte('0' + ns/1e8)
		for i, r := 7, ns%1e8; i > 0; i, r = i-2, r/100 {
			frac[i], frac[i+1] = digitPairs[r%100*2], digitPairs[r%100*2+1]
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		e.b = append(e.b, frac[:n]...)
	} else {
		e.b = e.b[:len(e.b)-1] // no fraction: drop the '.'
	}
	e.b = append(e.b, 'Z', '"')
}

// append2 appends v (0-99) as two digits, then sep (none if 0).
func append2(b []byte, v int, sep byte) []byte {
	b = append(b, byte('0'+v/10), byte('0'+v%10))
	if sep != 0 {
		b = append(b, sep)
	}
	return b
}

func (e *jsonEnc) timeOmitZero(k string, t time.Time) {
	if !t.IsZero() {
		e.time(k, t)
	}
}

// list writes a slice member without omitempty (null when nil), each
// element by write.
func list[T any](e *jsonEnc, k string, v []T, write func(*jsonEnc, *T)) {
	e.key(k)
	if v == nil {
		e.null()
		return
	}
	e.b = append(e.b, '[')
	for i := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		write(e, &v[i])
	}
	e.b = append(e.b, ']')
}

// listOmit writes a slice member with omitempty.
func listOmit[T any](e *jsonEnc, k string, v []T, write func(*jsonEnc, *T)) {
	if len(v) > 0 {
		list(e, k, v, write)
	}
}

func (e *jsonEnc) connection(c *Connection) {
	e.b = append(e.b, '{')
	e.int("stream", c.Stream)
	e.str("client", c.Client)
	e.str("server", c.Server)
	e.int("first_frame", c.FirstFrame)
	e.int("last_frame", c.LastFrame)
	e.time("start", c.Start)
	e.float("duration_ms", c.DurationMS)
	e.int("packets", c.Packets)
	e.int("input", c.Input)
	e.boolOmit("resumed", c.Resumed)
	e.boolOmit("evicted", c.Evicted)
	if p := c.Process; p != nil {
		e.key("process")
		e.b = append(e.b, '{')
		e.int("pid", p.PID)
		e.str("name", p.Name)
		e.str("path", p.Path)
		e.b = append(e.b, '}')
	}
	e.key("l4")
	e.l4(&c.L4)
	e.key("smtp")
	if c.SMTP == nil {
		e.null()
	} else {
		e.smtp(c.SMTP)
	}
	e.key("diagnosis")
	e.diagnosis(&c.Diagnosis)
	if len(c.Log) > 0 {
		e.key("log")
		e.value(c.Log)
	}
	if c.LogMatch != nil {
		e.key("log_match")
		e.value(c.LogMatch)
	}
	e.b = append(e.b, '}')
}

func (e *jsonEnc) l4(l *L4) {
	e.b = append(e.b, '{')
	e.int("retransmissions", l.Retransmissions)
	e.int("resets", l.Resets)
	e.int("zero_windows", l.ZeroWindows)
	e.str("verdict", l.Verdict)
	e.stringsOmit("reasons", l.Reasons)
	e.stringsOmit("notes", l.Notes)
	if len(l.Analysis) > 0 {
		e.key("analysis")
		e.analysis(l.Analysis)
	}
	listOmit(e, "conflicts", l.Conflicts, (*jsonEnc).conflict)
	e.intOmit("conflict_count", l.ConflictCount)
	e.key("handshake")
	e.handshake(&l.Handshake)
	e.key("client")
	e.side(&l.Client)
	e.key("server")
	e.side(&l.Server)
	e.b = append(e.b, '}')
}

// analysis writes the flags' map with its keys sorted, as encoding/json
// does.
func (e *jsonEnc) analysis(m map[string]FlagCount) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.b = append(e.b, '{')
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.string(k)
		e.b = append(e.b, ':', '{')
		fc := m[k]
		e.int("count", fc.Count)
		e.key("frames")
		if fc.Frames == nil {
			e.null()
		} else {
			e.b = append(e.b, '[')
			for j, f := range fc.Frames {
				if j > 0 {
					e.b = append(e.b, ',')
				}
				e.b = strconv.AppendInt(e.b, int64(f), 10)
			}
			e.b = append(e.b, ']')
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, '}')
}

func (e *jsonEnc) conflict(c *Conflict) {
	e.b = append(e.b, '{')
	e.str("by", c.By)
	e.int("original_frame", c.OriginalFrame)
	e.int("retransmission_frame", c.RetransmissionFrame)
	e.int64("offset", c.Offset)
	e.int("bytes", c.Bytes)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) handshake(h *Handshake) {
	e.b = append(e.b, '{')
	e.intOmit("syn_frame", h.SYNFrame)
	e.intOmit("synack_frame", h.SYNACKFrame)
	e.intOmit("ack_frame", h.ACKFrame)
	e.intOmit("syn_retries", h.SYNRetries)
	e.intOmit("refused_frame", h.RefusedFrame)
	e.floatOmit("initial_rtt_ms", h.InitialRTTMS)
	e.intOmit("client_mss", h.ClientMSS)
	e.intOmit("server_mss", h.ServerMSS)
	e.str("window_scaling", h.WindowScaling)
	e.boolOmit("mid_stream", h.MidStream)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) side(s *Side) {
	e.b = append(e.b, '{')
	e.int("segments", s.Segments)
	e.int64("bytes", s.Bytes)
	e.int("largest_segment", s.LargestSegment)
	e.intOmit("fin_frame", s.FINFrame)
	e.timeOmitZero("fin_time", s.FINTime)
	listOmit(e, "resets", s.Resets, (*jsonEnc).reset)
	e.floatOmit("zero_window_ms", s.ZeroWindowMS)
	if r := s.RTT; r != nil {
		e.key("rtt")
		e.b = append(e.b, '{')
		e.int("samples", r.Samples)
		e.float("min_ms", r.MinMS)
		e.float("median_ms", r.MedianMS)
		e.float("max_ms", r.MaxMS)
		e.b = append(e.b, '}')
	}
	e.int64Omit("unseen_bytes", s.UnseenBytes)
	e.int64Omit("missed_bytes", s.MissedBytes)
	e.int64Omit("truncated_bytes", s.TruncatedBytes)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) reset(r *Reset) {
	e.b = append(e.b, '{')
	e.int("frame", r.Frame)
	e.time("time", r.Time)
	e.int("ttl", r.TTL)
	e.boolOmit("probably_injected", r.Injected)
	e.boolOmit("odd_ttl", r.OddTTL)
	e.boolOmit("sender_continued", r.SenderContinued)
	e.boolOmit("data_in_flight", r.DataInFlight)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) smtp(s *SMTP) {
	e.b = append(e.b, '{')
	e.replyPtr("banner", s.Banner)
	e.strOmit("hello", s.Hello)
	if p := s.Preamble; p != nil {
		e.key("preamble")
		e.preamble(p)
	}
	e.stringsOmit("extensions", s.Extensions)
	e.key("tls")
	if s.TLS == nil {
		e.null()
	} else {
		e.tls(s.TLS)
	}
	e.boolOmit("mid_stream", s.MidStream)
	list(e, "commands", s.Commands, (*jsonEnc).command)
	list(e, "transactions", s.Transactions, (*jsonEnc).transaction)
	listOmit(e, "unmatched_replies", s.Unmatched, (*jsonEnc).reply)
	listOmit(e, "closes", s.Closes, (*jsonEnc).close)
	listOmit(e, "anomalies", s.Anomalies, (*jsonEnc).anomaly)
	e.str("verdict", s.Verdict)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) preamble(p *Preamble) {
	e.b = append(e.b, '{')
	e.str("kind", p.Kind)
	e.int("frame", p.Frame)
	e.int("client_bytes", p.ClientBytes)
	e.intOmit("server_bytes", p.ServerBytes)
	e.strOmit("target", p.Target)
	e.intOmit("status", p.Status)
	e.strOmit("source", p.Source)
	e.strOmit("destination", p.Destination)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) tls(t *TLS) {
	e.b = append(e.b, '{')
	e.str("how", t.How)
	e.int("frame", t.Frame)
	e.strOmit("version", t.Version)
	e.strOmit("server_name", t.ServerName)
	if t.Handshake != nil {
		e.key("handshake")
		e.value(t.Handshake)
	}
	if t.Decryption != nil {
		e.key("decryption")
		e.value(t.Decryption)
	}
	e.b = append(e.b, '}')
}

// replyPtr writes a *Reply member without omitempty: null when nil.
func (e *jsonEnc) replyPtr(k string, r *Reply) {
	e.key(k)
	if r == nil {
		e.null()
		return
	}
	e.reply(r)
}

func (e *jsonEnc) reply(r *Reply) {
	e.b = append(e.b, '{')
	e.int("code", r.Code)
	e.strOmit("enhanced", r.Enhanced)
	e.strOmit("text", r.Text)
	e.int("frame", r.Frame)
	e.time("time", r.Time)
	e.float("latency_ms", r.LatencyMS)
	e.boolOmit("partial", r.Partial)
	e.boolOmit("truncated", r.Truncated)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) command(c *Command) {
	e.b = append(e.b, '{')
	e.str("verb", c.Verb)
	e.int("frame", c.Frame)
	e.time("time", c.Time)
	e.replyPtr("reply", c.Reply)
	e.boolOmit("truncated", c.Truncated)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) transaction(t *Transaction) {
	e.b = append(e.b, '{')
	e.str("mail_from", t.MailFrom)
	e.boolOmit("mail_from_truncated", t.MailFromTruncated)
	e.strings("rcpt_to", t.RcptTo)
	listOmit(e, "rcpts", t.Rcpts, (*jsonEnc).recipient)
	e.str("method", t.Method)
	e.int64("size", t.Size)
	e.boolOmit("refused_attempt", t.RefusedAttempt)
	e.boolOmit("size_at_least", t.SizeAtLeast)
	e.int64Omit("size_param", t.SizeParam)
	e.strOmit("message_id", t.MessageID)
	e.int("mail_frame", t.MailFrame)
	e.intOmit("data_frame", t.DataFrame)
	e.int("eod_frame", t.EODFrame)
	e.timeOmitZero("eod_time", t.EODTime)
	e.replyPtr("reply", t.Reply)
	e.str("outcome", t.Outcome)
	e.strOmit("ended", t.Ended)
	e.intOmit("end_frame", t.EndFrame)
	e.timeOmitZero("end_time", t.EndTime)
	e.floatOmit("waited_ms", t.WaitedMS)
	e.boolOmit("incomplete", t.Incomplete)
	e.boolOmit("inferred", t.Inferred)
	e.int64Omit("size_min", t.SizeMin)
	e.int64Omit("size_max", t.SizeMax)
	e.intOmit("answer_frame", t.AnswerFrame)
	e.floatOmit("answer_ms", t.AnswerMS)
	e.key("diagnosis")
	e.diagnosis(&t.Diagnosis)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) recipient(r *Recipient) {
	e.b = append(e.b, '{')
	e.str("addr", r.Addr)
	e.boolOmit("truncated", r.Truncated)
	e.int("frame", r.Frame)
	e.replyPtr("reply", r.Reply)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) close(c *Close) {
	e.b = append(e.b, '{')
	e.str("kind", c.Kind)
	e.str("by", c.By)
	e.int("frame", c.Frame)
	e.time("time", c.Time)
	e.str("phase", c.Phase)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) anomaly(a *Anomaly) {
	e.b = append(e.b, '{')
	e.str("name", a.Name)
	e.int("frame", a.Frame)
	e.strOmit("detail", a.Detail)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) diagnosis(d *Diagnosis) {
	e.b = append(e.b, '{')
	e.str("layer", d.Layer)
	e.str("cause", string(d.Cause))
	e.str("summary", d.Summary)
	listOmit(e, "evidence", d.Evidence, (*jsonEnc).evidence)
	e.strOmit("filter", d.Filter)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) evidence(v *Evidence) {
	e.b = append(e.b, '{')
	e.int("frame", v.Frame)
	e.time("time", v.Time)
	e.str("what", v.What)
	e.b = append(e.b, '}')
}
