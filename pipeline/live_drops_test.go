package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// droppingFile is a paced capture file whose drop counters (as libpcap's
// pcap_stats) say that the kernel lost n packets once frame after has
// been read.
type droppingFile struct {
	pacedFile
	after, n, read int
}

func (d *droppingFile) Next() (capture.Frame, error) {
	fr, err := d.pacedFile.Next()
	if err == nil {
		d.read++
	}
	return fr, err
}

func (d *droppingFile) Stats() (capture.LiveStats, error) {
	if d.read >= d.after {
		return capture.LiveStats{Received: d.read + d.n, Dropped: d.n}, nil
	}
	return capture.LiveStats{Received: d.read}, nil
}

// liveOf runs Live over src and finishes its report.
func liveOf(t *testing.T, src LiveSource, clock func() time.Time, opts LiveOptions) (*report.Report, LiveResult, []report.Incident) {
	t.Helper()
	b := report.NewBuilder(report.Options{})
	var told []report.Incident
	opts.EODTimeout, opts.ConnectTimeout = 2*time.Second, 3*time.Second
	opts.Incident = func(in *report.Incident) { told = append(told, *in) }
	opts.Clock = clock
	res := Live(context.Background(), src, b, opts)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rep, err := b.Finish(res.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	return rep, res, told
}

// TestLiveKernelDrops checks that a connection open while the kernel
// dropped packets is capture-incomplete, in the report and in the
// incidents: a relay that never answers the end-of-data is eod-no-reply
// without drops, but the reply may be among the lost packets; a
// delivered message stays delivered.
func TestLiveKernelDrops(t *testing.T) {
	for _, tt := range []struct {
		capture string
		// cause is the first connection's without drops.
		cause report.Cause
	}{
		{"relay-stall", report.CauseEODNoReply},
		{"healthy", report.CauseOK},
	} {
		t.Run(tt.capture, func(t *testing.T) {
			var delivered int
			for _, drops := range []int{0, 3} {
				f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures", tt.capture+".pcapng"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				src := &droppingFile{pacedFile: pacedFile{File: f}, after: 8, n: drops}
				rep, res, told := liveOf(t, src, func() time.Time { return src.now }, LiveOptions{RingWait: true})
				if len(rep.Connections) == 0 {
					t.Fatal("no connection")
				}
				c := &rep.Connections[0]
				in := res.Inputs[0]
				if drops == 0 {
					if c.Diagnosis.Cause != tt.cause {
						t.Errorf("no drops: first connection %s, want %s", c.Diagnosis.Cause, tt.cause)
					}
					if in.Dropped == nil || *in.Dropped != (report.Dropped{}) {
						t.Errorf("no drops: input says %+v, want zero counts", in.Dropped)
					}
					delivered = rep.Totals.Delivered
					continue
				}
				// The first connection was open when the drop was seen.
				if c.Diagnosis.Cause != report.CauseCaptureIncomplete || !strings.Contains(c.Diagnosis.Summary, "kernel's capture buffer") {
					t.Errorf("first connection %s (%s), want capture-incomplete", c.Diagnosis.Cause, c.Diagnosis.Summary)
				}
				if rep.Failed() || rep.Totals.Failed != 0 {
					t.Errorf("connections that overlapped a drop made the report fail (%+v)", rep.Totals)
				}
				if rep.Totals.Delivered != delivered {
					t.Errorf("%d delivered with drops, %d without: a message seen delivered stays so", rep.Totals.Delivered, delivered)
				}
				if in.Dropped == nil || in.Dropped.Kernel != drops || in.Dropped.Connections == 0 || res.Dropped.Kernel != drops {
					t.Errorf("input dropped %+v, result %+v; want %d by the kernel and the connections", in.Dropped, res.Dropped, drops)
				}
				if w := strings.Join(in.Warnings, "\n"); !strings.Contains(w, "lost 3 packets before analysis") {
					t.Errorf("warnings %q say nothing of the drops", w)
				}
				for _, inc := range told {
					if inc.Kind != report.CauseCaptureIncomplete {
						t.Errorf("incident %s (%s) on a connection that overlapped a drop", inc.Kind, inc.Summary)
					}
				}
			}
		})
	}
}

// burstSource serves a capture file's frames as fast as asked, and closes
// served once it has served them all.
type burstSource struct {
	*capture.File
	data   []byte
	served chan struct{}
}

func (b *burstSource) Next() (capture.Frame, error) {
	fr, err := b.File.Next()
	if err != nil {
		close(b.served)
		return fr, err
	}
	b.data = append(b.data[:0], fr.Data...)
	fr.Data = b.data
	return fr, nil
}

// TestLiveRingDrops checks that the capture goroutine never waits on the
// analysis: with the analysis held up, frames that find the one-frame
// ring full are dropped and counted, every frame is either analysed or
// dropped, the analysed ones are numbered without gaps, and the
// connection they belonged to is capture-incomplete.
func TestLiveRingDrops(t *testing.T) {
	f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures", "relay-stall.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total := 0
	for {
		if _, err := f.Next(); err != nil {
			break
		}
		total++
	}
	f.Close()
	f, err = capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures", "relay-stall.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &burstSource{File: f, served: make(chan struct{})}
	var numbers []int
	rep, res, _ := liveOf(t, src, time.Now, LiveOptions{RingFrames: 1, Frame: func(fr *capture.Frame) error {
		if len(numbers) == 0 {
			<-src.served // hold the analysis until the capture has read everything
		}
		numbers = append(numbers, fr.Number)
		return nil
	}})
	if res.Dropped.Ring == 0 || res.Packets+res.Dropped.Ring != total {
		t.Fatalf("%d frames analysed, %d dropped by the ring; want some dropped and %d in all", res.Packets, res.Dropped.Ring, total)
	}
	for i, n := range numbers {
		if n != i+1 {
			t.Fatalf("analysed frames numbered %v, want 1, 2, 3, ...", numbers)
		}
	}
	if in := res.Inputs[0]; in.Dropped == nil || in.Dropped.Ring != res.Dropped.Ring || in.Dropped.Connections != 1 {
		t.Errorf("input dropped %+v, want %d by the ring and 1 connection", in.Dropped, res.Dropped.Ring)
	}
	if len(rep.Connections) != 1 || rep.Connections[0].Diagnosis.Cause != report.CauseCaptureIncomplete || rep.Failed() {
		t.Errorf("connections %+v: want one, capture-incomplete, nothing failed", rep.Connections)
	}
}

// quietAfter is a paced capture file that, once its frames are read, times
// out (a quiet link) until the clock has passed the last frame by quiet,
// then ends.
type quietAfter struct {
	pacedFile
	quiet time.Duration
	last  time.Time
}

func (q *quietAfter) Next() (capture.Frame, error) {
	fr, err := q.pacedFile.Next()
	if !errors.Is(err, io.EOF) {
		if err == nil {
			q.last = fr.Time
		}
		return fr, err
	}
	if q.now.Sub(q.last) >= q.quiet {
		return capture.Frame{}, io.EOF
	}
	q.now = q.now.Add(pacedReadTimeout)
	return capture.Frame{}, fmt.Errorf("quiet: %w", capture.ErrTimeout)
}

// TestLiveRetiresClosedConnections checks that on a quiet link a closed
// connection is retired (added to the report, no longer open) once it
// has been closed for reassembly's close linger, as analyze retires it,
// and not only when the capture stops.
func TestLiveRetiresClosedConnections(t *testing.T) {
	f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures", "healthy.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &quietAfter{pacedFile: pacedFile{File: f}, quiet: 20 * time.Second}
	// A connection retired by a tick is added to the report before that
	// tick's progress call, which tells the tick's time.
	var retired []time.Time
	open, pending := 0, 0
	b := report.NewBuilder(report.Options{})
	b.OnAdd(func(c *report.Connection) { pending++ })
	progress := func(p *Progress) {
		for ; pending > 0; pending-- {
			retired = append(retired, p.Time)
		}
	}
	res := Live(context.Background(), src, b, LiveOptions{RingWait: true, Clock: func() time.Time { return src.now },
		OpenChanged: func(n int) { open = n }, Interval: time.Millisecond, Progress: progress})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rep, err := b.Finish(res.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if len(rep.Connections) != 3 || len(retired) != 3 || open != 0 {
		t.Fatalf("%d connections, %d retired, %d open at the end", len(rep.Connections), len(retired), open)
	}
	for i, c := range rep.Connections {
		end := c.Start.Add(time.Duration(c.DurationMS * float64(time.Millisecond)))
		// Retired by a read timeout within a tick of the linger, long
		// before the 20 s of quiet end the capture.
		if at := retired[i].Sub(end); at < reassembly.DefaultCloseLinger || at > reassembly.DefaultCloseLinger+2*time.Second {
			t.Errorf("stream %d retired %s after its last packet, want the close linger %s", c.Stream, at, reassembly.DefaultCloseLinger)
		}
	}
}

// TestLiveDecryptsWithKeys checks that a live run given a TLS key log
// (Options.TLSKeys) decrypts as analyze does with the same keys: every
// scenario capture with a .keys file gives the same connections,
// diagnoses and outcomes both ways.
func TestLiveDecryptsWithKeys(t *testing.T) {
	keyFiles, _ := filepath.Glob(filepath.Join(repoRoot, "testdata/scenarios/captures", "*.keys"))
	if len(keyFiles) == 0 {
		t.Fatal("no .keys file in the scenario captures")
	}
	for _, kf := range keyFiles {
		name := strings.TrimSuffix(kf, ".keys") + ".pcapng"
		t.Run(filepath.Base(name), func(t *testing.T) {
			keys := func() *tlskeys.KeyLog {
				k := tlskeys.NewKeyLog()
				r, err := os.Open(kf)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if err := k.Read(kf, r); err != nil {
					t.Fatal(err)
				}
				return k
			}
			want, _, err := Files(context.Background(), []string{name}, nil, Options{TLSKeys: keys()})
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			f, err := capture.OpenFile(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &pacedFile{File: f}
			got, _, _ := liveOf(t, src, func() time.Time { return src.now }, LiveOptions{Options: Options{TLSKeys: keys()}, RingWait: true})
			gk, wk := keysOf(got), keysOf(want)
			if fmt.Sprint(gk) != fmt.Sprint(wk) {
				t.Errorf("live with keys:\n%+v\nanalyze with keys:\n%+v", gk, wk)
			}
		})
	}
}

// countingSource is a paced file that counts its reads (without a lock:
// the race detector tells a read after Live returned).
type countingSource struct {
	pacedFile
	reads int
}

func (c *countingSource) Next() (capture.Frame, error) {
	c.reads++
	return c.pacedFile.Next()
}

// TestLiveFrameError checks that an error of LiveOptions.Frame (a full
// disk under --write) ends the run with that error, keeps what was
// analysed, and that the source is not read once Live has returned.
func TestLiveFrameError(t *testing.T) {
	f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures", "healthy.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &countingSource{pacedFile: pacedFile{File: f}}
	full := errors.New("no space left on device")
	b := report.NewBuilder(report.Options{})
	res := Live(context.Background(), src, b, LiveOptions{Clock: func() time.Time { return src.now }, Frame: func(fr *capture.Frame) error {
		if fr.Number == 5 {
			return full
		}
		return nil
	}})
	if !errors.Is(res.Err, full) || res.Packets != 4 {
		t.Fatalf("Live = %v after %d packets, want the Frame error after 4", res.Err, res.Packets)
	}
	reads := src.reads
	time.Sleep(300 * time.Millisecond)
	if src.reads != reads {
		t.Errorf("the source was read %d more times after Live returned", src.reads-reads)
	}
}

// losingFile is a paced capture file whose kernel lost the frames in
// lose (numbered from 1 in the file): they are never served, and the
// drop counters (as libpcap's pcap_stats) count them once passed.
type losingFile struct {
	pacedFile
	lose       map[int]bool
	read, lost int
}

func (l *losingFile) Next() (capture.Frame, error) {
	for {
		fr, err := l.pacedFile.Next()
		if err != nil {
			return fr, err
		}
		if l.read++; !l.lose[l.read] {
			return fr, nil
		}
		l.lost++
	}
}

func (l *losingFile) Stats() (capture.LiveStats, error) {
	return capture.LiveStats{Received: l.read, Dropped: l.lost}, nil
}

// TestLiveDropsNeverDeliver replays the lab's eod-552 capture with the
// frames a 60 s soak's kernel dropped on one connection: the 552 that
// refused the 1.2 MB message and the client's QUIT after it. The
// server's 221 reaches live before the client's FIN shows the QUIT lost;
// live said the message was delivered, on the 221 (#14). A 221 answers
// only a QUIT: the message's outcome is unknown, and the first one (250
// in the capture) stays delivered.
func TestLiveDropsNeverDeliver(t *testing.T) {
	f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures/eod-552.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Frame 1213 is the 552, 1214 the QUIT (tshark -r eod-552.pcapng).
	src := &losingFile{pacedFile: pacedFile{File: f}, lose: map[int]bool{1213: true, 1214: true}}
	rep, res, told := liveOf(t, src, func() time.Time { return src.now }, LiveOptions{RingWait: true})
	if res.Dropped.Kernel != 2 || len(rep.Connections) != 1 || rep.Connections[0].SMTP == nil {
		t.Fatalf("dropped %+v, %d connections", res.Dropped, len(rep.Connections))
	}
	c := &rep.Connections[0]
	var got []string
	for _, x := range c.SMTP.Transactions {
		code := 0
		if x.Reply != nil {
			code = x.Reply.Code
		}
		got = append(got, fmt.Sprintf("%s %d", x.Outcome, code))
	}
	if want := []string{"delivered 250", "unknown 0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transactions %q, want %q", got, want)
	}
	if c.Diagnosis.Cause != report.CauseCaptureIncomplete || rep.Totals.Delivered != 1 || rep.Failed() {
		t.Errorf("cause %s, totals %+v, want capture-incomplete and 1 delivered", c.Diagnosis.Cause, rep.Totals)
	}
	// The server's FIN comes before the client's ACK that lets its 221,
	// queued behind the hole, through: the close must not be read as the
	// relay's silence (eod-no-reply) while the drop counters are not yet
	// polled.
	for _, inc := range told {
		if inc.Kind != report.CauseCaptureIncomplete {
			t.Errorf("incident %s frame %d (%s) on a connection that overlapped a drop", inc.Kind, inc.Frame, inc.Summary)
		}
	}
}

// TestLiveIncidentWaitsForDropCounters checks that an incident is not
// told before the source's drop counters were read after its frame: the
// kernel's count of packets lost just before it comes with the next poll
// (every statsEvery), and the incident is then capture-incomplete. The
// drop is counted only once the frame after the incident's has been read.
func TestLiveIncidentWaitsForDropCounters(t *testing.T) {
	for _, name := range []string{"banner-554", "eod-552", "tls-starttls-454"} {
		t.Run(name, func(t *testing.T) {
			open := func(after, n int) *droppingFile {
				f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/scenarios/captures", name+".pcapng"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return &droppingFile{pacedFile: pacedFile{File: f}, after: after, n: n}
			}
			src := open(0, 0)
			_, _, told := liveOf(t, src, func() time.Time { return src.now }, LiveOptions{RingWait: true})
			if len(told) == 0 || told[0].Kind == report.CauseCaptureIncomplete {
				t.Fatalf("without drops: incidents %+v, want a failure first", told)
			}
			t.Logf("without drops: %s at frame %d", told[0].Kind, told[0].Frame)
			src = open(told[0].Frame+1, 2)
			rep, res, told := liveOf(t, src, func() time.Time { return src.now }, LiveOptions{RingWait: true})
			if res.Dropped.Kernel != 2 {
				t.Fatalf("dropped %+v, want 2 by the kernel", res.Dropped)
			}
			if len(told) == 0 {
				t.Fatal("no incident told")
			}
			for _, in := range told {
				if in.Kind != report.CauseCaptureIncomplete {
					t.Errorf("incident %s at frame %d (%s) told before the drop counters were read after it", in.Kind, in.Frame, in.Summary)
				}
			}
			if c := rep.Connections[0]; c.Diagnosis.Cause != report.CauseCaptureIncomplete {
				t.Errorf("first connection %s, want capture-incomplete", c.Diagnosis.Cause)
			}
		})
	}
}
