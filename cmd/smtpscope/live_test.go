package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/events"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/wiring"
)

// pacedSource replays a capture file the way a live interface delivers
// it: when the next frame is more than wiring.LiveReadTimeout ahead of the
// clock, Next times out and the clock moves on by wiring.LiveReadTimeout. After
// the last frame it keeps timing out for tail, then returns io.EOF.
type pacedSource struct {
	f    *capture.File
	tail time.Duration
	peek *capture.Frame
	data []byte
	now  time.Time
	last time.Time
	err  error
}

func openPaced(t *testing.T, path string, tail time.Duration) *pacedSource {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &pacedSource{f: f, tail: tail}
}

func (p *pacedSource) Next() (capture.Frame, error) {
	if p.peek == nil && p.err == nil {
		fr, err := p.f.Next()
		if err != nil {
			p.err = err
		} else {
			p.data = append(p.data[:0], fr.Data...)
			fr.Data = p.data
			p.peek = &fr
		}
	}
	if p.peek == nil {
		if p.err == io.EOF && p.now.Sub(p.last) < p.tail {
			p.now = p.now.Add(wiring.LiveReadTimeout)
			return capture.Frame{}, fmt.Errorf("paced: %w", capture.ErrTimeout)
		}
		return capture.Frame{}, p.err
	}
	if p.now.IsZero() {
		p.now = p.peek.Time
	}
	if p.peek.Time.Sub(p.now) > wiring.LiveReadTimeout {
		p.now = p.now.Add(wiring.LiveReadTimeout)
		return capture.Frame{}, fmt.Errorf("paced: %w", capture.ErrTimeout)
	}
	fr := *p.peek
	p.peek = nil
	if fr.Time.After(p.now) {
		p.now = fr.Time
	}
	p.last = fr.Time
	return fr, nil
}

func (p *pacedSource) Info() capture.Info { return p.f.Info() }

func (p *pacedSource) clock() time.Time { return p.now }

// liveEvent is one line of the JSON event stream.
type liveEvent struct {
	Type    string `json:"type"`
	Time    string `json:"time"`
	Kind    string `json:"kind"`
	Stream  int    `json:"stream"`
	Client  string `json:"client"`
	Server  string `json:"server"`
	Frame   int    `json:"frame"`
	Message int    `json:"message"`
	Summary string `json:"summary"`
	Reason  string `json:"reason"`
	// Decryption is an incident's TLS decryption.
	Decryption *report.TLSDecryption `json:"decryption"`
	liveSummaryEvent
}

// liveSummaryEvent is the counts of a summary line.
type liveSummaryEvent struct {
	Packets   int `json:"packets"`
	Open      int `json:"open"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Awaiting  int `json:"awaiting"`
	Incidents int `json:"incidents"`
}

func parseEvents(t *testing.T, out []byte) []liveEvent {
	t.Helper()
	var evs []liveEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e liveEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

func incidentsOf(evs []liveEvent) []liveEvent {
	var in []liveEvent
	for _, e := range evs {
		if e.Type == "incident" {
			in = append(in, e)
		}
	}
	return in
}

// replay runs the live loop over a capture file paced as a live capture.
func replay(t *testing.T, path string, cfg liveConfig) (liveResult, []liveEvent) {
	t.Helper()
	return replaySource(t, openPaced(t, path, 15*time.Second), cfg)
}

// lateKeySource is a paced capture whose TLS key log gains its lines only
// once the live run has analysed the frames before frame at, as a key log
// the peer writes after the session's first protected records does: the
// run's key log goroutine reads them while the analysis waits for frame
// at, and the analysis takes them there.
type lateKeySource struct {
	*pacedSource
	at    int
	calls atomic.Int32
	// past is set once the frames before frame at were handed over; read
	// is closed once the key log goroutine has read the lines.
	past  atomic.Bool
	read  chan struct{}
	lines []byte
}

// replayLateKeys replays a capture whose key log, path without its
// extension + ".keys", comes late (lateKeySource).
func replayLateKeys(t *testing.T, path string, at int, cfg liveConfig) (liveResult, []liveEvent) {
	t.Helper()
	lines, err := os.ReadFile(strings.TrimSuffix(path, filepath.Ext(path)) + ".keys")
	if err != nil {
		t.Fatal(err)
	}
	src := &lateKeySource{pacedSource: openPaced(t, path, 15*time.Second), at: at, lines: lines, read: make(chan struct{})}
	cfg.tlsKeys, cfg.pollTLSKeys = tlskeys.NewKeyLog(), src.poll
	return replaySource(t, src, cfg)
}

func (s *lateKeySource) Next() (capture.Frame, error) {
	switch int(s.calls.Add(1)) {
	case s.at:
		// A read timeout hands the frames read so far to the analysis
		// (capture time stays where it is)...
		return capture.Frame{}, fmt.Errorf("late keys: %w", capture.ErrTimeout)
	case s.at + 1:
		// ...which analyses them; then the key log goroutine reads the
		// lines and hands them over, before frame at comes.
		time.Sleep(50 * time.Millisecond)
		s.past.Store(true)
		select {
		case <-s.read:
		case <-time.After(10 * time.Second):
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s.pacedSource.Next()
}

// poll is wiring.LiveConfig.PollTLSKeys: the lines, once the frames
// before frame at were handed over.
func (s *lateKeySource) poll(into *tlskeys.KeyLog) int {
	if !s.past.Load() {
		return 0
	}
	select {
	case <-s.read:
		return 0
	default:
	}
	into.Add("followed", s.lines)
	close(s.read)
	return into.Len()
}

// replaySource runs the live loop over a paced source.
func replaySource(t *testing.T, src interface {
	pipeline.LiveSource
	clock() time.Time
}, cfg liveConfig) (liveResult, []liveEvent) {
	t.Helper()
	var stream bytes.Buffer
	cfg.events = events.NewConsole(&stream, "json")
	cfg.clock = src.clock
	if cfg.ports == nil {
		cfg.ports = []uint16{25, 465, 587, 2525}
	}
	for _, d := range []*time.Duration{&cfg.eodTimeout, &cfg.connectTimeout, &cfg.idleTimeout} {
		if *d == 0 {
			*d = 2 * time.Second
		}
	}
	if cfg.idleTimeout < time.Minute {
		cfg.idleTimeout = time.Minute
	}
	res := runLiveLoop(context.Background(), src, cfg)
	return res, parseEvents(t, stream.Bytes())
}

func scenarioPath(name string) string {
	return filepath.Join(repoRoot, "testdata/scenarios/captures", name+".pcapng")
}

// analyzeJSON runs "smtpscope analyze --format json" on path.
func analyzeJSON(t *testing.T, path string) (int, analyzedReport) {
	t.Helper()
	var out, errOut bytes.Buffer
	status := run([]string{"analyze", "--format", "json", path}, nil, &out, &errOut)
	if status == exitError {
		t.Fatalf("analyze %s: exit 2: %s", path, errOut.String())
	}
	var rep analyzedReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("analyze %s: %v", path, err)
	}
	return status, rep
}

// analyzedReport is the part of the JSON report the live tests compare.
type analyzedReport struct {
	Inputs []struct {
		Packets  int      `json:"packets"`
		Warnings []string `json:"warnings"`
	} `json:"inputs"`
	Verdict     diagnosis     `json:"verdict"`
	Totals      report.Totals `json:"totals"`
	Connections []struct {
		Stream     int       `json:"stream"`
		Input      int       `json:"input"`
		FirstFrame int       `json:"first_frame"`
		Diagnosis  diagnosis `json:"diagnosis"`
		L4         struct {
			Handshake struct {
				SYNFrame     int `json:"syn_frame"`
				RefusedFrame int `json:"refused_frame"`
			} `json:"handshake"`
		} `json:"l4"`
		SMTP *struct {
			Banner       *struct{ Frame int } `json:"banner"`
			Transactions []struct {
				Outcome  string    `json:"outcome"`
				Size     int64     `json:"size"`
				EODFrame int       `json:"eod_frame"`
				EODTime  time.Time `json:"eod_time"`
				EndFrame int       `json:"end_frame"`
				WaitedMS float64   `json:"waited_ms"`
				Reply    *struct {
					Frame int `json:"frame"`
				} `json:"reply"`
			} `json:"transactions"`
		} `json:"smtp"`
	} `json:"connections"`
}

// frameOf finds, in the report of analyze, the frame an incident must
// name: where of message (1-based; 0: the connection) of stream.
func (r *analyzedReport) frameOf(t *testing.T, stream, message int, where string) int {
	t.Helper()
	for _, c := range r.Connections {
		if c.Stream != stream {
			continue
		}
		switch where {
		case "syn":
			return c.L4.Handshake.SYNFrame
		case "refused":
			return c.L4.Handshake.RefusedFrame
		case "banner":
			if c.SMTP != nil && c.SMTP.Banner != nil {
				return c.SMTP.Banner.Frame
			}
			return -1
		}
		if c.SMTP == nil || message < 1 || message > len(c.SMTP.Transactions) {
			return -1
		}
		tx := c.SMTP.Transactions[message-1]
		switch where {
		case "eod":
			return tx.EODFrame
		case "end":
			return tx.EndFrame
		case "reply":
			if tx.Reply != nil {
				return tx.Reply.Frame
			}
		}
		return -1
	}
	return -1
}

func reportJSON(t *testing.T, rep *report.Report) analyzedReport {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var out analyzedReport
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type wantIncident struct {
	kind    string
	stream  int
	message int
	// where names the frame in the report of analyze: syn, refused,
	// banner, or eod, end, reply of the message.
	where string
}

// TestLiveScenarios replays each fault-lab capture as a live capture and
// checks the incidents told on the way (each once, naming the frame the
// report of analyze gives as evidence), and that the final report agrees
// with "smtpscope analyze" on the same file.
func TestLiveScenarios(t *testing.T) {
	tests := []struct {
		scenario string
		want     []wantIncident
	}{
		{"healthy", nil},
		{"ipv6", nil},
		{"pipelining", nil},
		{"port-2525", nil},
		{"lossy", nil},
		{"zero-window", nil},
		{"banner-421", []wantIncident{{"deferred", 0, 0, "banner"}}},
		{"banner-554", []wantIncident{{"rejected", 0, 0, "banner"}}},
		{"connect-refused", []wantIncident{{"connect-refused", 0, 0, "refused"}}},
		{"connect-timeout", []wantIncident{{"connect-timeout", 0, 0, "syn"}}},
		{"eod-451", []wantIncident{{"deferred", 0, 2, "reply"}}},
		{"eod-552", []wantIncident{{"rejected", 0, 2, "reply"}}},
		{"relay-stall", []wantIncident{{"eod-timeout", 0, 2, "eod"}}},
		{"reset-mid-data", []wantIncident{{"reset-by-server", 0, 2, "end"}}},
		// The reply came after 6 s: past the 2 s --eod-timeout of the test.
		{"slow-reply", []wantIncident{{"eod-timeout", 0, 2, "eod"}}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			path := scenarioPath(tt.scenario)
			res, evs := replay(t, path, liveConfig{})
			if res.err != nil {
				t.Fatalf("live loop: %v", res.err)
			}
			status, want := analyzeJSON(t, path)

			got := incidentsOf(evs)
			if len(got) != len(tt.want) {
				t.Errorf("incidents = %+v, want %d", got, len(tt.want))
			}
			for i := range min(len(got), len(tt.want)) {
				g, w := got[i], tt.want[i]
				frame := want.frameOf(t, w.stream, w.message, w.where)
				if g.Kind != w.kind || g.Stream != w.stream || g.Message != w.message || g.Frame != frame || frame <= 0 {
					t.Errorf("incident %d = %s stream %d message %d frame %d; want %s stream %d message %d frame %d (%s)",
						i, g.Kind, g.Stream, g.Message, g.Frame, w.kind, w.stream, w.message, frame, w.where)
				}
			}
			if last := evs[len(evs)-1]; last.Type != "stop" || last.Reason != "source closed" {
				t.Errorf("last event = %+v, want the stop line", last)
			}

			live := reportJSON(t, res.report)
			if live.Verdict != want.Verdict {
				t.Errorf("live verdict %+v, analyze %+v", live.Verdict, want.Verdict)
			}
			if live.Totals != want.Totals {
				t.Errorf("live totals %+v, analyze %+v", live.Totals, want.Totals)
			}
			if got := map[bool]int{false: exitOK, true: exitFindings}[res.report.Failed()]; got != status {
				t.Errorf("live exit status %d, analyze %d", got, status)
			}
			if live.Inputs[0].Packets != want.Inputs[0].Packets {
				t.Errorf("live counted %d packets, analyze %d", live.Inputs[0].Packets, want.Inputs[0].Packets)
			}
		})
	}
}

// TestLiveEODTimeoutInTime checks that the end-of-data of the relay
// stall is told --eod-timeout after the dot, while the client still
// waits: long before it gives up 10 s later.
func TestLiveEODTimeoutInTime(t *testing.T) {
	path := scenarioPath("relay-stall")
	res, evs := replay(t, path, liveConfig{eodTimeout: 2 * time.Second})
	in := incidentsOf(evs)
	if len(in) != 1 {
		t.Fatalf("incidents = %+v, want one", in)
	}
	var eod, gaveUp time.Time
	for _, c := range res.report.Connections {
		for _, tx := range c.SMTP.Transactions {
			if tx.Outcome == "no-reply" {
				eod = tx.EODTime
				gaveUp = eod.Add(time.Duration(tx.WaitedMS * float64(time.Millisecond)))
			}
		}
	}
	told, err := time.Parse(time.RFC3339Nano, in[0].Time)
	if err != nil {
		t.Fatal(err)
	}
	// Event lines carry milliseconds: told may read up to 1 ms early.
	late := told.Sub(eod)
	if late < 2*time.Second-time.Millisecond || late > 2*time.Second+pipeline.SweepEvery+wiring.LiveReadTimeout {
		t.Errorf("incident told %s after the end-of-data, want 2 s (+ at most %s)", late, pipeline.SweepEvery+wiring.LiveReadTimeout)
	}
	if !told.Before(gaveUp) {
		t.Errorf("incident told at %s, not before the client gave up at %s", told, gaveUp)
	}
	if !strings.Contains(in[0].Summary, "unanswered for 2.0 s") {
		t.Errorf("summary %q does not say how long", in[0].Summary)
	}
}

// TestLiveEventText checks the text form of the event stream.
func TestLiveEventText(t *testing.T) {
	path := scenarioPath("relay-stall")
	_, want := analyzeJSON(t, path)
	tx := want.Connections[0].SMTP.Transactions[1]
	src := openPaced(t, path, 0)
	var stream bytes.Buffer
	cfg := liveConfig{ports: []uint16{25}, eodTimeout: 2 * time.Second, connectTimeout: time.Second, idleTimeout: time.Minute,
		interval: 3 * time.Second, events: events.NewConsole(&stream, "text"), clock: src.clock}
	cfg.events.Start(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "lo", wiring.SMTPFilter(cfg.ports), 262144, "out.pcapng")
	runLiveLoop(context.Background(), src, cfg)
	lines := strings.Split(strings.TrimSpace(stream.String()), "\n")
	if want := `2026-01-02T03:04:05.000Z START capturing on lo, filter "tcp and (port 25)", snaplen 262144, writing out.pcapng`; lines[0] != want {
		t.Errorf("start line %q, want %q", lines[0], want)
	}
	var incidents, summaries int
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("event line %q does not start with its time: %v", l, err)
		}
		switch f[1] {
		case "INCIDENT":
			incidents++
			want := fmt.Sprintf("eod-timeout stream 0 127.0.0.1:40001 → 127.0.0.1:25 frame %d message 2: The end-of-data has been unanswered for 2.0 s (%s bytes sent).",
				tx.EODFrame, report.Thousands(tx.Size))
			if got := strings.Join(f[2:], " "); got != want {
				t.Errorf("incident line %q, want %q after the time", got, want)
			}
		case "SUMMARY":
			summaries++
			if !strings.Contains(l, "connections 1 open, 0 ended;") {
				t.Errorf("summary line %q", l)
			}
		case "STOP":
			want := fmt.Sprintf("STOP source closed: %s packets over ", report.Thousands(int64(want.Inputs[0].Packets)))
			if !strings.Contains(l, want) || !strings.HasSuffix(l, "; 1 connections, 1 messages delivered, 1 failed; 1 incidents") {
				t.Errorf("stop line %q, want %q and the counts", l, want)
			}
		default:
			t.Errorf("unexpected event line %q", l)
		}
	}
	// 11 s of capture with a summary every 3 s.
	if incidents != 1 || summaries != 3 {
		t.Errorf("%d incidents, %d summaries; want 1 and 3:\n%s", incidents, summaries, stream.String())
	}
}

// TestLiveKeyLate replays the TLS 1.3 seed incident with a key log that
// comes after the session's first protected records (lateKeySource), as
// the live command wires it: the incident on the console and in the
// --events file, the connection's --events line and the report's TLS line
// say that the session's key came late and how many records waited for
// it; with the key log whole from the start, none says so.
func TestLiveKeyLate(t *testing.T) {
	for _, late := range []bool{true, false} {
		var sinkOut bytes.Buffer
		cfg := liveConfig{sink: events.NewWriter(&sinkOut)}
		at := 30
		if !late {
			at = 1 // the key log is read before the first packet is analysed
		}
		res, evs := replayLateKeys(t, scenarioPath("tls-stall-13"), at, cfg)
		if res.err != nil {
			t.Fatal(res.err)
		}
		defer res.report.Close()
		var conn *report.Connection
		for i := range res.report.Connections {
			if c := &res.report.Connections[i]; c.SMTP != nil && c.SMTP.TLS != nil {
				conn = c
			}
		}
		if conn == nil || conn.SMTP.TLS.Decryption == nil || conn.SMTP.TLS.Decryption.State != "decrypted" {
			t.Fatalf("late %v: no decrypted TLS connection in the report", late)
		}
		d := conn.SMTP.TLS.Decryption
		words := report.KeyLateWords(d)
		if (words != "") != late || (d.HeldForKey > 0) != late || !strings.Contains(report.TLSLine(conn.SMTP.TLS), words) {
			t.Errorf("late %v: decryption %+v, words %q, TLS line %q", late, d, words, report.TLSLine(conn.SMTP.TLS))
		}
		incidents := incidentsOf(evs)
		if len(incidents) == 0 {
			t.Fatalf("late %v: no incident", late)
		}
		for _, in := range incidents {
			if in.Decryption == nil || in.Decryption.HeldForKey != d.HeldForKey {
				t.Errorf("late %v: console incident %s: decryption %+v, want held_for_key %d", late, in.Kind, in.Decryption, d.HeldForKey)
			}
		}
		lines := 0
		for _, l := range strings.Split(strings.TrimSpace(sinkOut.String()), "\n") {
			var ev struct {
				SMTPScope struct {
					Stream     int `json:"stream"`
					Decryption *struct {
						State      string `json:"state"`
						HeldForKey int    `json:"held_for_key"`
					} `json:"decryption"`
				} `json:"smtpscope"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.SMTPScope.Stream != conn.Stream {
				continue
			}
			lines++
			if dd := ev.SMTPScope.Decryption; dd == nil || dd.State != "decrypted" || dd.HeldForKey != d.HeldForKey {
				t.Errorf("late %v: --events line %s: decryption %+v, want held_for_key %d", late, l, dd, d.HeldForKey)
			}
		}
		if lines < 2 {
			t.Errorf("late %v: %d --events lines of stream %d, want its incident and its connection", late, lines, conn.Stream)
		}
	}
}

// TestLiveSummaryCounts checks the summary line while a message waits.
func TestLiveSummaryCounts(t *testing.T) {
	_, evs := replay(t, scenarioPath("relay-stall"), liveConfig{interval: 5 * time.Second})
	var sums []liveSummaryEvent
	for _, e := range evs {
		if e.Type == "summary" {
			sums = append(sums, e.liveSummaryEvent)
		}
	}
	if len(sums) == 0 {
		t.Fatal("no summary")
	}
	// The first summary comes 5 s into the capture: the first message was
	// delivered, the second waits.
	got := sums[0]
	if got.Packets <= 0 {
		t.Errorf("first summary counts %d packets", got.Packets)
	}
	got.Packets = 0
	if want := (liveSummaryEvent{Open: 1, Delivered: 1, Awaiting: 1, Incidents: 1}); got != want {
		t.Errorf("first summary %+v, want %+v", got, want)
	}
}

// TestLiveWrite checks that --write keeps the packets with the frame
// numbers the incidents name: the file analysed again gives the verdict
// of the live run.
func TestLiveWrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcapng")
	file, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	sink := capture.NewWriter(file, out, capture.WriterOptions{Interface: "lo", Filter: "tcp", Snaplen: 262144})
	res, evs := replay(t, scenarioPath("relay-stall"), liveConfig{packets: sink})
	if res.err != nil {
		t.Fatal(res.err)
	}
	status, again := analyzeJSON(t, out)
	if status != exitFindings || again.Verdict.Cause != "eod-no-reply" {
		t.Errorf("the written file analyses to exit %d, %+v; want 1, eod-no-reply", status, again.Verdict)
	}
	live := reportJSON(t, res.report)
	if live.Verdict != again.Verdict || live.Totals != again.Totals {
		t.Errorf("live report %+v %+v, written file %+v %+v", live.Verdict, live.Totals, again.Verdict, again.Totals)
	}
	in := incidentsOf(evs)
	tx := again.Connections[0].SMTP.Transactions[1]
	if len(in) != 1 || in[0].Frame != tx.EODFrame {
		t.Errorf("incidents %+v; the written file has the end-of-data in frame %d", in, tx.EODFrame)
	}
}

// TestLiveWriteEmpty checks that a run without packets leaves a valid,
// empty capture file.
func TestLiveWriteEmpty(t *testing.T) {
	out := filepath.Join(t.TempDir(), "empty.pcapng")
	file, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	cfg := liveConfig{ports: []uint16{25}, eodTimeout: time.Second, connectTimeout: time.Second, idleTimeout: time.Minute,
		events: events.NewConsole(&stream, "json"), clock: time.Now,
		packets: capture.NewWriter(file, out, capture.WriterOptions{Interface: "lo", Snaplen: 65535})}
	res := runLiveLoop(context.Background(), emptySource{}, cfg)
	if res.err != nil || res.report.Failed() {
		t.Fatalf("empty run: %v, failed %v", res.err, res.report.Failed())
	}
	f, err := capture.OpenFile(out)
	if err != nil {
		t.Fatalf("written file: %v", err)
	}
	defer f.Close()
	if _, err := f.Next(); err != io.EOF {
		t.Errorf("written file: Next = %v, want io.EOF", err)
	}
}

// emptySource is a live source that is closed at once.
type emptySource struct{}

func (emptySource) Next() (capture.Frame, error) { return capture.Frame{}, io.EOF }
func (emptySource) Info() capture.Info           { return capture.Info{Name: "lo", Format: "live"} }

// failingSource fails after its frames, as an interface going down.
type failingSource struct{ *pacedSource }

var errInterfaceDown = errors.New("lo: interface went down")

func (s failingSource) Next() (capture.Frame, error) {
	fr, err := s.pacedSource.Next()
	if err == io.EOF {
		return fr, errInterfaceDown
	}
	return fr, err
}

// TestLiveSourceFails checks that a capture error still gives the report
// of what was captured, with a warning, and the error.
func TestLiveSourceFails(t *testing.T) {
	src := failingSource{openPaced(t, scenarioPath("relay-stall"), 0)}
	var stream bytes.Buffer
	cfg := liveConfig{ports: []uint16{25}, eodTimeout: 2 * time.Second, connectTimeout: time.Second, idleTimeout: time.Minute,
		events: events.NewConsole(&stream, "json"), clock: src.clock}
	res := runLiveLoop(context.Background(), src, cfg)
	if !errors.Is(res.err, errInterfaceDown) {
		t.Errorf("err = %v, want %v", res.err, errInterfaceDown)
	}
	if res.report.Verdict.Cause != report.CauseEODNoReply {
		t.Errorf("verdict %+v, want eod-no-reply", res.report.Verdict)
	}
	if w := res.report.Inputs[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "interface went down") {
		t.Errorf("warnings %q, want the capture error", w)
	}
	evs := parseEvents(t, stream.Bytes())
	if last := evs[len(evs)-1]; last.Type != "stop" || last.Reason != "capture failed" {
		t.Errorf("last event %+v, want stop: capture failed", last)
	}
}

// TestLiveContextEnds checks that the loop stops when its context ends
// (SIGINT, SIGTERM, --duration) and says why.
func TestLiveContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(wiring.ErrDurationReached)
	var stream bytes.Buffer
	cfg := liveConfig{ports: []uint16{25}, eodTimeout: time.Second, connectTimeout: time.Second, idleTimeout: time.Minute,
		events: events.NewConsole(&stream, "json"), clock: time.Now}
	res := runLiveLoop(ctx, openPaced(t, scenarioPath("relay-stall"), 0), cfg)
	if res.err != nil {
		t.Fatal(res.err)
	}
	evs := parseEvents(t, stream.Bytes())
	if last := evs[len(evs)-1]; last.Type != "stop" || last.Reason != "duration reached" || last.Packets != 0 {
		t.Errorf("last event %+v, want stop: duration reached, before any packet", last)
	}
}

// TestLiveBoundedList plays a synthetic capture of many sessions with
// failures through the live loop with small listing bounds: the report
// lists no more than the bounds, and its totals and exit status still
// match "smtpscope analyze" over the same file.
func TestLiveBoundedList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "synth.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.New(synth.Options{Seed: 3, Sessions: 300, Problems: 0.3, Concurrency: 20}).Run(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	res, evs := replay(t, path, liveConfig{listFailed: 7, listHealthy: 5, idleTimeout: 3 * time.Minute})
	live := reportJSON(t, res.report)
	status, want := analyzeJSON(t, path)
	if n := len(live.Connections); n > 12 {
		t.Errorf("the report lists %d connections, want at most 7 + 5", n)
	}
	if live.Totals != want.Totals {
		t.Errorf("live totals %+v, analyze %+v", live.Totals, want.Totals)
	}
	if live.Verdict.Cause == "ok" || status != exitFindings || !res.report.Failed() {
		t.Errorf("live verdict %+v failed %v; analyze exit %d", live.Verdict, res.report.Failed(), status)
	}
	if w := live.Inputs[0].Warnings; len(w) == 0 || !strings.Contains(w[0], "counted in the totals but not listed") {
		t.Errorf("warnings %q, want the unlisted connections", w)
	}
	if len(incidentsOf(evs)) == 0 {
		t.Error("no incident told")
	}
}

func TestLiveFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml"}, `unknown --format "xml"`},
		{[]string{"--eod-timeout", "0s"}, "--eod-timeout must be positive"},
		{[]string{"--duration", "-1s"}, "--duration must be positive"},
		{[]string{"--snaplen", "0"}, "--snaplen must be positive"},
		{[]string{"--buffer-size", "0"}, "--buffer-size must be between 1 and 2047 MiB, not 0"},
		{[]string{"--buffer-size", "2048"}, "--buffer-size must be between 1 and 2047 MiB, not 2048"},
		{[]string{"--smtp-ports", "70000"}, "70000 is not a TCP port"},
		{[]string{"capture.pcap"}, `unexpected argument "capture.pcap"`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"--evidence", "/tmp/x", "--redact"}, "--evidence with --redact"},
		{[]string{"--evidence-max-bytes", "1G"}, "--evidence-max-bytes needs --evidence DIR"},
		{[]string{"--evidence-max-bytes", "lots"}, `"lots" is not a size`},
		{[]string{"--max-connections", "-1"}, "--max-connections -1: want 0 (no cap) or more"},
		{[]string{"--max-buffered", "0"}, "--max-buffered 0: want 1 to 1048576 MiB"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if status := run(append([]string{"live"}, tt.args...), nil, &out, &errOut); status != exitError {
			t.Errorf("live %q: exit %d, want %d", tt.args, status, exitError)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("live %q: stderr %q, want %q in it", tt.args, errOut.String(), tt.want)
		}
	}
	var out, errOut bytes.Buffer
	if status := run([]string{"live", "--help"}, nil, &out, &errOut); status != exitOK || !strings.Contains(errOut.String(), "--eod-timeout") {
		t.Errorf("live --help: exit %d, %q", status, errOut.String())
	}
	for _, want := range []string{"--max-connections N", "follow at most N connections at once", "(default 5000)", "--max-buffered MIB", "(default 8)"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("live --help lacks %q", want)
		}
	}
}

// TestLiveMaxConnections plays a SYN flood past the live loop's
// connection cap: the report counts the evictions per server, as analyze
// does with the same cap.
func TestLiveMaxConnections(t *testing.T) {
	const capConns, flood = 40, 300
	path := filepath.Join(t.TempDir(), "flood.pcap")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(file)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteFlood(w, synth.FloodOptions{Kind: synth.FloodSYN, Connections: flood, Duration: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	src := openPaced(t, path, time.Second)
	res := runLiveLoop(context.Background(), src, liveConfig{ports: []uint16{25}, eodTimeout: 2 * time.Second,
		connectTimeout: 3 * time.Second, idleTimeout: time.Minute, events: events.NewConsole(io.Discard, "text"),
		clock: src.clock, maxConnections: capConns})
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.report.Close()
	in := res.report.Inputs[0]
	if in.Reassembly == nil || in.Reassembly.Evicted != flood-capConns {
		t.Errorf("reassembly %+v, want %d evicted", in.Reassembly, flood-capConns)
	}
	want := fmt.Sprintf("%d SYN-only connections to %s evicted under a SYN flood", flood-capConns, synth.FloodServer)
	if !strings.HasPrefix(strings.Join(in.Warnings, "\n"), want) {
		t.Errorf("warnings %q, want %q first", in.Warnings, want)
	}
}

// TestLiveNeedsCgo builds smtpscope without cgo and checks that live
// says it needs cgo, with exit status 2.
func TestLiveNeedsCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build a binary without cgo")
	}
	bin := filepath.Join(t.TempDir(), "smtpscope-nocgo")
	build := exec.Command(gotool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "live", "-i", "lo", "--duration", "1s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError {
		t.Fatalf("live without cgo: %v, want exit status %d", err, exitError)
	}
	if want := "live capture needs a build with cgo and libpcap"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want %q in it", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}

// BenchmarkLiveLoop measures the live per-packet path (pipeline, incident
// rules, sweeps) over the relay-stall capture, paced as a live capture.
func BenchmarkLiveLoop(b *testing.B) {
	path := scenarioPath("relay-stall")
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		f, err := capture.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		src := &pacedSource{f: f}
		cfg := liveConfig{ports: []uint16{25}, eodTimeout: 2 * time.Second, connectTimeout: 3 * time.Second,
			idleTimeout: time.Minute, interval: time.Second, events: events.NewConsole(io.Discard, "text"), clock: src.clock}
		res := runLiveLoop(context.Background(), src, cfg)
		frames = res.report.Inputs[0].Packets
		f.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}
