package pipeline

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// maxSYNOnlyFileBytes bounds what analyze keeps per open SYN-only
// connection: the Tracker's small record of it and its handler without an
// SMTP decoder (lazyDecoder): 1,138 bytes measured. With a decoder made
// at the SYN it was 2,634.
const maxSYNOnlyFileBytes = 1300

// TestAnalyzeSYNOnlyIsSmall plays a SYN flood through the Tracker as Run
// sets it up and measures the heap per open connection between two
// moments of the flood.
func TestAnalyzeSYNOnlyIsSmall(t *testing.T) {
	const flood = 4000
	f, err := capture.Open("flood", bytes.NewReader(floodCapture(t, synth.FloodSYN, flood, 4*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	newHandler, open := smtpHandler(nil, DefaultTLSPorts), 0
	tr := reassembly.NewTracker(reassembly.Options{ServerPorts: DefaultServerPorts, MaxConnections: 2 * flood,
		NewHandler: func(c *reassembly.Conn) reassembly.Handler {
			open++
			return newHandler(c)
		}, Retire: func(*reassembly.Conn) {}})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var from, to uint64
	var fromOpen, toOpen int
	for {
		fr, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Add(&fr); err != nil {
			t.Fatal(err)
		}
		switch {
		case fromOpen == 0 && open >= flood/4:
			from, fromOpen = heap(), open
		case open >= flood*3/4 && toOpen == 0:
			to, toOpen = heap(), open
		}
	}
	if toOpen == 0 {
		t.Fatalf("the flood opened too few connections (%d at the quarter)", fromOpen)
	}
	per := (float64(to) - float64(from)) / float64(toOpen-fromOpen)
	t.Logf("heap %.1f MB with %d open, %.1f MB with %d: %.0f bytes per SYN-only connection", float64(from)/(1<<20), fromOpen,
		float64(to)/(1<<20), toOpen, per)
	if per > maxSYNOnlyFileBytes {
		t.Errorf("%.0f bytes per open SYN-only connection, want at most %d", per, maxSYNOnlyFileBytes)
	}
	runtime.KeepAlive(tr)
}

// TestLazyDecoderEndsAsEager checks that a connection that ends before
// any byte, gap or control event gets the session an eager decoder would
// have given it, with the options fixed when it opened.
func TestLazyDecoderEndsAsEager(t *testing.T) {
	for _, port := range []uint16{25, 465} {
		c := &reassembly.Conn{Server: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)}
		c.Handler = smtpHandler(nil, DefaultTLSPorts)(c)
		if _, ok := c.Handler.(*lazyDecoder); !ok {
			t.Fatalf("port %d: handler %T before any event, want *lazyDecoder", port, c.Handler)
		}
		at := reassembly.Mark{Frame: 3, Time: time.Unix(1700000000, 0).UTC()}
		c.Handler.End(at)
		d, ok := c.Handler.(*smtp.Decoder)
		if !ok {
			t.Fatalf("port %d: handler %T after End, want *smtp.Decoder", port, c.Handler)
		}
		eager := smtp.NewDecoder(decoderOptions(c, nil, DefaultTLSPorts))
		eager.End(at)
		if got, want := d.Session(), eager.Session(); !reflect.DeepEqual(got, want) {
			t.Errorf("port %d: session after End = %+v, want %+v", port, got, want)
		}
	}
}
