package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// A ladder (sequence) diagram of one connection: client and server as two
// lifelines, commands and replies as arrows in frame order, each with its
// frame number and its time since the stream's first frame.
//
// The vertical axis is compressed, because an SMTP session is bursts of
// sub-millisecond exchanges separated by long waits: inside a burst, rows
// are evenly spaced with a little extra room growing linearly with the
// gap; a silence of silenceMin or more becomes a labelled band whose
// height grows with the logarithm of its length, and the lifelines carry
// an axis-break mark there. The message body is one block.

// Ladder geometry, in SVG user units (pixels at 100 % zoom).
const (
	ladderWidth   = 900.0
	ladderTimeX   = 96.0  // right edge of the time column
	ladderFrameX  = 150.0 // right edge of the frame column
	ladderClientX = 215.0
	ladderServerX = 705.0
	ladderNoteX   = ladderServerX + 12
	ladderHeaderH = 40.0 // the boxes naming the lifelines
	ladderBoxW    = 210.0
	ladderTop     = 84.0 // the first row, below the headers and the column titles
	ladderRowGap  = 28.0 // distance between consecutive rows
	ladderBurst   = 36.0 // extra room for a gap just under silenceMin
	ladderBodyH   = 58.0 // height of a message body block
	ladderSlope   = 4.0  // how far an arrow drops over its length
	// maxLadderEvents bounds the rows of one diagram; the middle of a
	// longer session is elided, keeping its start and the failure.
	maxLadderEvents = 60
	// maxLabelRunes truncates arrow labels; the full text is the tooltip.
	maxLabelRunes = 72
)

// silenceMin is the gap from which the ladder draws a silence band.
const silenceMin = time.Second

// ladderDir is which way a row's arrow points.
type ladderDir int

const (
	toServer   ladderDir = iota // client to server
	toClient                    // server to client
	bothWays                    // the TCP handshake, on one row
	noArrow                     // a mark across both lifelines (capture ended, elided rows)
	logLineRow                  // an MTA log line, in the log column
)

// ladderEvent is one row before layout.
type ladderEvent struct {
	frame int
	time  time.Time // zero when the model has no time for the frame
	dir   ladderDir
	class string // CSS class: cmd, ok, warn, bad, eod, hs, fin, rst, mark
	label string
	note  string
	// awaits names what the server owes after this row ("" if nothing),
	// until replyFrame (0: never answered).
	awaits     string
	replyFrame int
	// elided marks the row standing for rows left out; no silence is
	// drawn across it.
	elided bool
	// log is the MTA log line of a logLineRow row, which comes before the
	// wire row of frame nextFrame.
	log       *LogLine
	nextFrame int
}

// ladderSpan is a message body: from the 354 reply (or DATA) to the
// end-of-data or the end of the connection.
type ladderSpan struct {
	from, to int // frames
	line1    string
	line2    string
	cut      bool
}

// ladderSVG is a laid-out ladder, ready for the template.
type ladderSVG struct {
	ID            string
	Title         string
	Width, Height float64
	ClientX       float64
	ServerX       float64
	MidX          float64
	ClientLabel   string
	ServerLabel   string
	LifeTop       float64
	LifeBottom    float64
	// Header boxes and column titles.
	HeaderH    float64
	ClientBoxX float64
	ServerBoxX float64
	BoxW       float64
	ColumnY    float64
	TimeX      float64
	FrameX     float64
	NoteX      float64
	BandX      float64
	BandW      float64
	Rows       []ladderRow
	Bands      []ladderBand
	Bodies     []ladderBody
	Breaks     []ladderBreak
	Elided     int
	// The MTA log column, when the connection has log lines: its left
	// edge, its title, its rows, and how many earlier lines were left out.
	LogX    float64
	LogHead string
	Logs    []ladderLogRow
	LogLeft int
}

// ladderRow is one drawn row.
type ladderRow struct {
	Y              float64
	Time, Frame    string
	Class          string
	Arrow          bool
	Both           bool
	X1, Y1, X2, Y2 float64
	Label          string
	Title          string
	LabelY         float64
	Note           string
	NoteY          float64
	// Highlight marks the end-of-data row with a stripe from HighY.
	Highlight bool
	HighY     float64
}

// ladderBand is a silence drawn as a band across both lifelines.
type ladderBand struct {
	Y, H, MidY float64
	Label      string
	Class      string // server (a reply is owed) or idle
	SilentX    float64
	Duration   string
}

// ladderBody is a message body block.
type ladderBody struct {
	X, Y, W, H   float64
	Line1, Line2 string
	Line1Y       float64
	Line2Y       float64
	Cut          bool
}

// ladderBreak is an axis-break mark on a lifeline.
type ladderBreak struct {
	X, Y float64
}

// newLadder lays out the ladder of connection c; id prefixes the SVG's
// element ids, which must be unique in the document.
func newLadder(c *Connection, id string) *ladderSVG {
	events, spans := ladderEvents(c)
	events, spans, elided := elide(c, events, spans)
	events, logLeft := withLogRows(c, events)
	l := &ladderSVG{ID: id, Width: ladderWidth, ClientX: ladderClientX, ServerX: ladderServerX,
		MidX: (ladderClientX + ladderServerX) / 2, ClientLabel: shown(c.Client), ServerLabel: shown(c.Server),
		LifeTop: 6 + ladderHeaderH, Elided: elided, HeaderH: ladderHeaderH, BoxW: ladderBoxW,
		ClientBoxX: ladderClientX - ladderBoxW/2, ServerBoxX: ladderServerX - ladderBoxW/2, ColumnY: ladderTop - 20,
		TimeX: ladderTimeX, FrameX: ladderFrameX, NoteX: ladderNoteX,
		BandX: ladderFrameX + 14, BandW: ladderWidth - ladderFrameX - 24,
		Title: shown(fmt.Sprintf("Ladder diagram of stream %d, %s → %s", c.Stream, c.Client, c.Server))}

	if len(c.Log) > 0 {
		l.Width, l.LogX, l.LogHead, l.LogLeft = ladderLogX+ladderLogW+8, ladderLogX, logColumnHead(c), logLeft
		l.BandW = ladderLogX - 10 - l.BandX
	}
	roles := logRoles(c)
	spanEnd := map[int]*ladderSpan{}
	spanStart := map[int]bool{}
	for i := range spans {
		spanEnd[spans[i].to] = &spans[i]
		spanStart[spans[i].from] = true
	}
	y := ladderTop
	var last time.Time // time of the latest earlier row with one
	prevFrame := 0     // frame of the latest earlier wire row
	for i := range events {
		e := &events[i]
		if i > 0 {
			prevY := y
			gap := logGap(e, last, events[i-1].elided)
			switch sp := spanEnd[e.frame]; {
			case e.dir != logLineRow && sp != nil && spanStart[prevFrame]:
				y += ladderRowGap + ladderBodyH
				line1 := sp.line1
				if gap > 0 {
					line1 += " in " + dur(gap)
				}
				if sp.cut {
					line1 += " · cut off, no end-of-data"
				}
				l.Bodies = append(l.Bodies, ladderBody{X: ladderClientX + 10, Y: prevY + 12,
					W: ladderServerX - ladderClientX - 20, H: ladderBodyH - 6, Line1: line1, Line2: sp.line2,
					Line1Y: prevY + 12 + (ladderBodyH-6)/2 - 3, Line2Y: prevY + 12 + (ladderBodyH-6)/2 + 14, Cut: sp.cut})
			case gap >= silenceMin:
				h := silenceHeight(gap)
				band := ladderBand{Y: prevY + 14, H: h, MidY: prevY + 14 + h/2, Duration: dur(gap)}
				at := e.frame
				if e.dir == logLineRow {
					at = e.nextFrame
				}
				switch owed := owedReply(events[:i], at); owed {
				case "":
					band.Class, band.SilentX = "idle", ladderClientX
					band.Label = fmt.Sprintf("%s without an SMTP command from the client", dur(gap))
				case "greeting":
					band.Class, band.SilentX = "server", ladderServerX
					band.Label = fmt.Sprintf("%s without the server's greeting", dur(gap))
				default:
					band.Class, band.SilentX = "server", ladderServerX
					band.Label = fmt.Sprintf("%s without a reply from the server to %s", dur(gap), owed)
				}
				l.Bands = append(l.Bands, band)
				l.Breaks = append(l.Breaks, ladderBreak{X: ladderClientX, Y: band.Y + 10}, ladderBreak{X: ladderServerX, Y: band.Y + 10})
				y += ladderRowGap + h + 8
			default:
				y += ladderRowGap + ladderBurst*float64(gap)/float64(silenceMin)
			}
		}
		if !e.time.IsZero() {
			last = e.time
		}
		if e.dir == logLineRow {
			r, extra := logRowOf(c, e, y, roles)
			l.Logs = append(l.Logs, r)
			y += extra
			continue
		}
		prevFrame = e.frame
		l.Rows = append(l.Rows, ladderRowOf(c, e, y))
	}
	l.LifeBottom = y + 24
	l.Height = l.LifeBottom + 14
	return l
}

// silenceHeight is a band's height: 44 for one second, 25 more for every
// factor of ten, at most 140.
func silenceHeight(gap time.Duration) float64 {
	h := 44 + 25*math.Log10(float64(gap)/float64(silenceMin))
	return math.Min(math.Max(h, 44), 140)
}

// owedReply names the requests before frame that the server had not
// answered yet, oldest first, or "".
func owedReply(before []ladderEvent, frame int) string {
	var owed []string
	for _, e := range before {
		if e.awaits != "" && (e.replyFrame == 0 || e.replyFrame >= frame) && !slices.Contains(owed, e.awaits) {
			owed = append(owed, e.awaits)
		}
	}
	switch len(owed) {
	case 0:
		return ""
	case 1:
		return owed[0]
	}
	return strings.Join(owed[:len(owed)-1], ", ") + " and " + owed[len(owed)-1]
}

func ladderRowOf(c *Connection, e *ladderEvent, y float64) ladderRow {
	r := ladderRow{Y: y, Time: ladderTime(c.Start, e.time), Class: e.class, Title: shown(e.label), LabelY: y - 7,
		Note: e.note, NoteY: y + 4, Highlight: e.class == "eod", HighY: y - 21}
	if e.frame > 0 {
		r.Frame = fmt.Sprint(e.frame)
	}
	r.Label = truncateRunes(r.Title, maxLabelRunes)
	switch e.dir {
	case toServer:
		r.Arrow, r.X1, r.Y1, r.X2, r.Y2 = true, ladderClientX, y-ladderSlope/2, ladderServerX-2, y+ladderSlope/2
	case toClient:
		r.Arrow, r.X1, r.Y1, r.X2, r.Y2 = true, ladderServerX, y-ladderSlope/2, ladderClientX+2, y+ladderSlope/2
	case bothWays:
		r.Arrow, r.Both, r.X1, r.Y1, r.X2, r.Y2 = true, true, ladderClientX+2, y, ladderServerX-2, y
	default:
		r.X1, r.Y1, r.X2, r.Y2 = ladderClientX-30, y, ladderServerX+30, y
	}
	return r
}

// ladderTime is a row's time since the stream's first frame, to 0.1 ms.
func ladderTime(start, t time.Time) string {
	if t.IsZero() || start.IsZero() {
		return ""
	}
	return fmt.Sprintf("+%.4f s", t.Sub(start).Seconds())
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ladderRows gathers a diagram's rows: add puts a row in, or merges it
// into the row already there for the same frame and direction.
type ladderRows struct {
	ev    []ladderEvent
	at    map[[2]int]int // (frame, dir) → index in ev
	times map[int]time.Time
}

// has reports whether a row for frame and dir is already there.
func (b *ladderRows) has(frame int, dir ladderDir) bool {
	_, ok := b.at[[2]int{frame, int(dir)}]
	return ok
}

// add puts e in, with the frame's time when e has none; pipelined commands
// or replies in one segment share a row.
func (b *ladderRows) add(e ladderEvent) *ladderEvent {
	if e.time.IsZero() {
		e.time = b.times[e.frame]
	}
	if k, ok := b.at[[2]int{e.frame, int(e.dir)}]; ok && e.frame != 0 {
		mergeRow(&b.ev[k], e)
		return &b.ev[k]
	}
	b.at[[2]int{e.frame, int(e.dir)}] = len(b.ev)
	b.ev = append(b.ev, e)
	return &b.ev[len(b.ev)-1]
}

// mergeRow folds e into prev, a row of the same frame and direction: the
// labels joined, the more severe class, the first owed reply and note.
func mergeRow(prev *ladderEvent, e ladderEvent) {
	if !strings.Contains(prev.label, e.label) {
		prev.label += " · " + e.label
	}
	if e.class == "eod" || severityOfClass(e.class) > severityOfClass(prev.class) {
		prev.class = e.class
	}
	if e.awaits != "" && prev.awaits == "" {
		prev.awaits, prev.replyFrame = e.awaits, e.replyFrame
	}
	if prev.note == "" {
		prev.note = e.note
	}
}

// ladderEvents collects the rows of c's diagram in frame order, and its
// message bodies.
func ladderEvents(c *Connection) ([]ladderEvent, []ladderSpan) {
	b := &ladderRows{at: map[[2]int]int{}, times: frameTimes(c)}
	tcpHandshakeRows(c, b)
	var spans []ladderSpan
	if s := c.SMTP; s != nil {
		spans = smtpRows(c, s, b)
	}
	teardownRows(c, b)
	ev := b.ev
	sort.SliceStable(ev, func(a, b int) bool {
		if ev[a].frame != ev[b].frame {
			return ev[a].frame < ev[b].frame
		}
		return ev[a].dir < ev[b].dir
	})
	return ev, spans
}

// tcpHandshakeRows adds the TCP handshake: one row when it completed, a
// row per packet when it did not.
func tcpHandshakeRows(c *Connection, b *ladderRows) {
	s := c.SMTP
	h := &c.L4.Handshake
	switch {
	case h.SYNFrame != 0 && h.SYNACKFrame != 0 && h.RefusedFrame == 0:
		note := ""
		if h.InitialRTTMS > 0 {
			note = "RTT " + msText(h.InitialRTTMS)
		}
		label := fmt.Sprintf("TCP handshake: SYN %d, SYN-ACK %d", h.SYNFrame, h.SYNACKFrame)
		if h.ACKFrame != 0 {
			label += fmt.Sprintf(", ACK %d", h.ACKFrame)
		}
		e := ladderEvent{frame: h.SYNFrame, dir: bothWays, class: "hs", label: label, note: note}
		if s != nil && s.Banner != nil {
			e.awaits, e.replyFrame = "greeting", s.Banner.Frame
		} else if s == nil {
			e.awaits = "greeting"
		}
		b.add(e)
	case h.SYNFrame != 0:
		b.add(ladderEvent{frame: h.SYNFrame, dir: toServer, class: "hs", label: "SYN",
			awaits: "the SYN", replyFrame: max(h.SYNACKFrame, h.RefusedFrame)})
		// A connection of nothing but SYNs ends with the last one, whose
		// time is the connection's end.
		if h.SYNRetries > 0 && h.SYNACKFrame == 0 && c.L4.Server.Segments == 0 && c.LastFrame > h.SYNFrame {
			b.add(ladderEvent{frame: c.LastFrame, dir: toServer, class: "hs",
				label: fmt.Sprintf("SYN again: sent %d times in all, never answered", h.SYNRetries+1)})
		}
		if h.SYNACKFrame != 0 {
			b.add(ladderEvent{frame: h.SYNACKFrame, dir: toClient, class: "hs", label: "SYN-ACK"})
		}
		if h.RefusedFrame != 0 {
			b.add(ladderEvent{frame: h.RefusedFrame, dir: toClient, class: "rst", label: "RST: connection refused"})
		}
	}
}

// smtpRows adds the greeting, the commands and their replies, the TLS
// boundary and handshake, and the transactions; it returns the message
// bodies.
func smtpRows(c *Connection, s *SMTP, b *ladderRows) []ladderSpan {
	if r := s.Banner; r != nil {
		b.add(ladderEvent{frame: r.Frame, time: r.Time, dir: toClient, class: replyClass(r), label: replyLine(r)})
	}
	args := commandArgs(s)
	for i := range s.Commands {
		cmd := &s.Commands[i]
		label := cmd.Verb
		if a := args[commandKey{cmd.Frame, cmd.Verb}]; a != "" {
			label += " " + a
		}
		e := ladderEvent{frame: cmd.Frame, time: cmd.Time, dir: toServer, class: "cmd", label: label, awaits: cmd.Verb}
		if r := cmd.Reply; r != nil {
			e.replyFrame = r.Frame
		}
		b.add(e)
		if r := cmd.Reply; r != nil {
			b.add(ladderEvent{frame: r.Frame, time: r.Time, dir: toClient, class: replyClass(r), label: replyLine(r),
				note: msText(r.LatencyMS)})
		}
	}
	if s.TLS != nil && s.TLS.Frame != 0 {
		b.add(ladderEvent{frame: s.TLS.Frame, dir: noArrow, class: "mark", label: "encrypted from here on (" + s.TLS.How + " TLS)"})
	}
	if s.TLS != nil && s.TLS.Handshake != nil {
		handshakeEvents(s.TLS.Handshake, b.add)
	}
	var spans []ladderSpan
	for i := range s.Transactions {
		spans = append(spans, txEvents(c, &s.Transactions[i], b.add)...)
	}
	return spans
}

// teardownRows adds the FINs and resets the transactions did not already
// show.
func teardownRows(c *Connection, b *ladderRows) {
	fin := func(frame int, dir ladderDir, who string) {
		if frame == 0 || b.has(frame, dir) {
			return
		}
		b.add(ladderEvent{frame: frame, dir: dir, class: "fin", label: "FIN: " + who + " closed its side"})
	}
	fin(c.L4.Client.FINFrame, toServer, "client")
	fin(c.L4.Server.FINFrame, toClient, "server")
	for _, side := range []struct {
		resets []Reset
		dir    ladderDir
		who    string
	}{{c.L4.Client.Resets, toServer, "client"}, {c.L4.Server.Resets, toClient, "server"}} {
		for _, r := range side.resets {
			if b.has(r.Frame, side.dir) || r.Frame == c.L4.Handshake.RefusedFrame {
				continue
			}
			label := "RST from the " + side.who
			if r.Injected {
				label += " (probably injected)"
			}
			b.add(ladderEvent{frame: r.Frame, dir: side.dir, class: "rst", label: label})
		}
	}
}

// txEvents adds a transaction's end-of-data, its reply and how it ended,
// and returns its message body.
func txEvents(c *Connection, tx *Transaction, add func(ladderEvent) *ladderEvent) []ladderSpan {
	var spans []ladderSpan
	if tx.EODFrame != 0 {
		label := fmt.Sprintf("\".\" end-of-data · %s-byte message", Thousands(tx.Size))
		switch {
		case tx.Method == "BDAT":
			label = fmt.Sprintf("end of the BDAT LAST chunk (end-of-data) · %s-byte message", Thousands(tx.Size))
		case tx.Inferred:
			label = fmt.Sprintf("last TLS record of the body (inferred end-of-data) · %s", inferredSize(tx))
		}
		e := ladderEvent{frame: tx.EODFrame, time: tx.EODTime, dir: toServer, class: "eod", label: label, awaits: "end-of-data"}
		if tx.Reply != nil {
			e.replyFrame = tx.Reply.Frame
		}
		if tx.Inferred && tx.AnswerFrame != 0 {
			e.replyFrame = tx.AnswerFrame
		}
		add(e)
		if tx.Inferred && tx.AnswerFrame != 0 {
			add(ladderEvent{frame: tx.AnswerFrame, time: tx.EODTime.Add(msDuration(tx.AnswerMS)), dir: toClient, class: "hs",
				label: "server answered: one encrypted record (250 or 5xx: cannot tell)", note: msText(tx.AnswerMS)})
		}
		if r := tx.Reply; r != nil {
			add(ladderEvent{frame: r.Frame, time: r.Time, dir: toClient, class: replyClass(r), label: replyLine(r),
				note: msText(r.LatencyMS)})
		}
	}
	if tx.Ended != "" && tx.EndFrame != 0 {
		var end time.Time
		if !tx.EODTime.IsZero() && tx.WaitedMS > 0 {
			end = tx.EODTime.Add(msDuration(tx.WaitedMS))
		}
		what := map[string]struct {
			dir   ladderDir
			class string
			label string
		}{
			"client-closed": {toServer, "fin", "client gave up and closed the session"},
			"server-closed": {toClient, "fin", "server closed the connection"},
			"client-reset":  {toServer, "rst", "RST: client reset the connection"},
			"server-reset":  {toClient, "rst", "RST: server reset the connection"},
			"capture-ended": {noArrow, "mark", "capture ended"},
		}[tx.Ended]
		if what.label == "" {
			what.dir, what.class, what.label = noArrow, "mark", tx.Ended
		}
		add(ladderEvent{frame: tx.EndFrame, time: end, dir: what.dir, class: what.class, label: what.label})
	}
	if tx.Inferred && tx.DataFrame != 0 && tx.EODFrame > tx.DataFrame {
		add(ladderEvent{frame: tx.DataFrame, dir: toServer, class: "cmd", label: "first TLS record of a message-sized client flight"})
		spans = append(spans, ladderSpan{from: tx.DataFrame, to: tx.EODFrame,
			line1: "message body (inferred from TLS records) · " + inferredSize(tx), line2: bodyHealth(c, tx.DataFrame, tx.EODFrame)})
	}
	if tx.Method == "DATA" && tx.DataFrame != 0 {
		sp := ladderSpan{from: tx.DataFrame, to: tx.EODFrame}
		if r := dataReply(c.SMTP, tx.DataFrame); r != nil && r.Code == 354 {
			sp.from = r.Frame
		}
		if sp.to == 0 {
			sp.to, sp.cut = tx.EndFrame, true
		}
		if sp.to != 0 && sp.to > sp.from {
			sp.line1 = fmt.Sprintf("message body · %s bytes", tx.SizeWords())
			sp.line2 = bodyHealth(c, sp.from, sp.to)
			spans = append(spans, sp)
		}
	}
	return spans
}

// bodyHealth states the connection's TCP health under a body block, with
// the tcp.analysis flags whose first frames fall inside the body.
func bodyHealth(c *Connection, from, to int) string {
	l := &c.L4
	s := "TCP " + shown(l.Verdict) + " on this connection: " + tcpCounts(l)
	names := make([]string, 0, len(l.Analysis))
	for name := range l.Analysis {
		names = append(names, name)
	}
	sort.Strings(names)
	var inside []string
	for _, name := range names {
		switch name {
		case "window_update", "keep_alive", "keep_alive_ack":
			continue // routine, not a sign of trouble
		}
		for _, f := range l.Analysis[name].Frames {
			if f > from && f < to {
				inside = append(inside, fmt.Sprintf("%s from frame %d", name, f))
				break
			}
		}
	}
	if len(inside) > 0 {
		s += " · in the body: " + strings.Join(inside, ", ")
	}
	return s
}

// dataReply is the reply to the DATA command in frame.
func dataReply(s *SMTP, frame int) *Reply {
	for i := range s.Commands {
		if s.Commands[i].Frame == frame && s.Commands[i].Verb == "DATA" {
			return s.Commands[i].Reply
		}
	}
	return nil
}

// commandKey identifies a command: pipelined commands share a frame.
type commandKey struct {
	frame int
	verb  string
}

// commandArgs gives MAIL and RCPT commands their address, from the
// transactions, so that arrows say "MAIL from a" and "RCPT to b".
func commandArgs(s *SMTP) map[commandKey]string {
	args := map[commandKey]string{}
	for _, tx := range s.Transactions {
		if tx.MailFrame != 0 && tx.MailFrom != "" {
			args[commandKey{tx.MailFrame, "MAIL"}] = "from " + tx.MailFrom
		}
		for _, r := range tx.Rcpts {
			k := commandKey{r.Frame, "RCPT"}
			if a, ok := args[k]; ok {
				args[k] = a + ", " + r.Addr
			} else if r.Frame != 0 {
				args[k] = "to " + r.Addr
			}
		}
	}
	return args
}

// frameTimes gathers every frame time the model knows for c.
func frameTimes(c *Connection) map[int]time.Time {
	t := map[int]time.Time{}
	put := func(frame int, at time.Time) {
		if frame != 0 && !at.IsZero() {
			t[frame] = at
		}
	}
	put(c.FirstFrame, c.Start)
	put(c.LastFrame, connEnd(c))
	evidence := func(d *Diagnosis) {
		for _, e := range d.Evidence {
			put(e.Frame, e.Time)
		}
	}
	evidence(&c.Diagnosis)
	if s := c.SMTP; s != nil {
		if s.Banner != nil {
			put(s.Banner.Frame, s.Banner.Time)
		}
		for _, cmd := range s.Commands {
			put(cmd.Frame, cmd.Time)
			if cmd.Reply != nil {
				put(cmd.Reply.Frame, cmd.Reply.Time)
			}
		}
		for i := range s.Transactions {
			tx := &s.Transactions[i]
			put(tx.EODFrame, tx.EODTime)
			if tx.Reply != nil {
				put(tx.Reply.Frame, tx.Reply.Time)
			}
			evidence(&tx.Diagnosis)
		}
	}
	return t
}

func replyClass(r *Reply) string {
	switch r.Class() {
	case 5:
		return "bad"
	case 4:
		return "warn"
	}
	return "ok"
}

func severityOfClass(class string) int {
	return map[string]int{"ok": 1, "cmd": 1, "warn": 2, "bad": 3, "eod": 4}[class]
}

// elide keeps a long session's diagram bounded: its first rows and the
// rows from the first failed transaction on (its head and tail if that
// is still too long), with one row saying what was left out.
func elide(c *Connection, ev []ladderEvent, spans []ladderSpan) ([]ladderEvent, []ladderSpan, int) {
	if len(ev) <= maxLadderEvents {
		return ev, spans, 0
	}
	const head = 6
	focus := 0
	if s := c.SMTP; s != nil {
		for _, tx := range s.Transactions {
			if tx.Diagnosis.Cause != CauseOK {
				focus = tx.MailFrame
				break
			}
		}
	}
	if focus == 0 {
		for _, e := range c.Diagnosis.Evidence {
			if e.Frame != 0 {
				focus = e.Frame
				break
			}
		}
	}
	first := sort.Search(len(ev), func(i int) bool { return ev[i].frame >= focus })
	first = max(first, head)
	out := append([]ladderEvent{}, ev[:head]...)
	dropped := 0
	if first > head {
		out = append(out, elisionMark(ev[head:first]))
		dropped += first - head
	}
	keep := ev[first:]
	if room := maxLadderEvents - len(out); len(keep) > room {
		tail := (room - 1) / 2
		headOfKeep := room - 1 - tail
		out = append(out, keep[:headOfKeep]...)
		out = append(out, elisionMark(keep[headOfKeep:len(keep)-tail]))
		dropped += len(keep) - headOfKeep - tail
		keep = keep[len(keep)-tail:]
	}
	out = append(out, keep...)
	kept := map[int]bool{}
	for _, e := range out {
		kept[e.frame] = true
	}
	var ks []ladderSpan
	for _, sp := range spans {
		if kept[sp.from] && kept[sp.to] {
			ks = append(ks, sp)
		}
	}
	return out, ks, dropped
}

// elisionMark is the row standing for the rows left out.
func elisionMark(out []ladderEvent) ladderEvent {
	return ladderEvent{dir: noArrow, class: "mark", elided: true,
		label: fmt.Sprintf("… %d rows not drawn (frames %d–%d) …", len(out), out[0].frame, out[len(out)-1].frame)}
}

// handshakeEvents draws the TLS handshake as the records showed it: the
// hellos, the alerts in clear, and where it ended.
func handshakeEvents(h *TLSHandshake, add func(ladderEvent) *ladderEvent) {
	if h.ClientHelloFrame != 0 {
		label := "ClientHello"
		if h.Offered != "" {
			label += " (up to " + h.Offered + ")"
		}
		add(ladderEvent{frame: h.ClientHelloFrame, dir: toServer, class: "hs", label: label})
	}
	if h.ServerHelloFrame != 0 {
		add(ladderEvent{frame: h.ServerHelloFrame, dir: toClient, class: "hs", label: strings.TrimSpace("ServerHello " + h.Negotiated + " " + h.CipherSuite)})
	}
	for _, a := range h.Alerts {
		dir := toServer
		if a.By == "server" {
			dir = toClient
		}
		label := strings.TrimSpace("alert " + a.Level + " " + a.Description)
		if a.Decrypted {
			label += " (decrypted)"
		}
		add(ladderEvent{frame: a.Frame, dir: dir, class: "bad", label: label})
	}
	switch h.Ending {
	case "open":
	case "complete":
		add(ladderEvent{frame: h.EndFrame, dir: noArrow, class: "mark", label: "TLS handshake complete (" + durMS(h.HandshakeMS) + ")"})
	default:
		add(ladderEvent{frame: h.EndFrame, dir: noArrow, class: "mark", label: "TLS handshake ended: " + h.Ending})
	}
}
