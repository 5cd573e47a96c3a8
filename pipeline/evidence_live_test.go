package pipeline

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
)

// evidencePacket is what the evidence tests compare of one packet.
type evidencePacket struct {
	frame  int
	at     time.Time
	length int
	data   string
}

// readEvidence returns a pcapng file's packets and its section comment.
func readEvidence(t *testing.T, path string) ([]evidencePacket, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []evidencePacket
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		var n int
		if len(opts.Comments) == 1 {
			fmt.Sscanf(opts.Comments[0], "frame %d of", &n)
		}
		out = append(out, evidencePacket{frame: n, at: ci.Timestamp, length: ci.Length, data: string(data)})
	}
	return out, r.SectionInfo().Comment
}

// liveWithEvidence replays a capture as live traffic with a LiveEvidence
// writing to dir, and returns the report.
func liveWithEvidence(t *testing.T, name, dir string, maxHeld int64, check func(*LiveEvidence)) (*report.Report, *LiveEvidence) {
	t.Helper()
	ev, err := NewLiveEvidence(EvidenceOptions{Dir: dir}, "live capture on lo", maxHeld)
	if err != nil {
		t.Fatal(err)
	}
	f, err := capture.OpenFile(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &pacedFile{File: f}
	rep, _, err := LiveReport(context.Background(), src, nil, LiveOptions{
		EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second,
		Clock: func() time.Time { return src.now }, RingWait: true,
		Options: Options{Connection: ev.Connection},
		Frame: func(fr *capture.Frame) error {
			ev.Frame(fr)
			if check != nil {
				check(ev)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep, ev
}

// TestLiveEvidenceAgreesWithAnalyze: live --evidence writes, for each
// failing connection of lab and public captures replayed as live
// traffic, the packets analyze --evidence cuts from the file (the same
// frame numbers, times, lengths and bytes), all of them for a connection
// of up to LiveEvidenceHead+LiveEvidenceTail frames, else its first and
// last ones with the rest counted in the file's comment.
func TestLiveEvidenceAgreesWithAnalyze(t *testing.T) {
	compared, elided := 0, 0
	for _, rel := range []string{
		"testdata/scenarios/captures/relay-stall.pcapng", "testdata/scenarios/captures/eod-552.pcapng",
		"testdata/scenarios/captures/reset-mid-data.pcapng", "testdata/scenarios/captures/connect-refused.pcapng",
		"testdata/scenarios/captures/banner-421.pcapng", "testdata/scenarios/captures/rcpt-reject.pcapng",
		"testdata/captures/suricata-verify__smtperr.pcap", "testdata/scenarios/captures/tls-stall-12.pcapng",
		"testdata/scenarios/captures/pmtu-blackhole.pcapng",
	} {
		name := filepath.Join(repoRoot, rel)
		t.Run(filepath.Base(name), func(t *testing.T) {
			want, failed, err := Files(context.Background(), []string{name}, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want.Close()
			if len(failed) == 0 {
				t.Fatal("no failing connection")
			}
			fileDir, liveDir := t.TempDir(), t.TempDir()
			if _, err := WriteEvidence([]string{name}, false, failed, EvidenceOptions{Dir: fileDir}); err != nil {
				t.Fatal(err)
			}
			got, ev := liveWithEvidence(t, name, liveDir, 0, nil)
			got.Close()
			if res, err := ev.Result(); err != nil || len(res.Written) != len(failed) {
				t.Fatalf("live wrote %d files (%v), analyze %d", len(res.Written), err, len(failed))
			}
			if ev.Held() != 0 || len(ev.conns) != 0 {
				t.Errorf("after the run %d bytes of %d connections are held", ev.Held(), len(ev.conns))
			}
			for _, f := range failed {
				wantPk, _ := readEvidence(t, filepath.Join(fileDir, fmt.Sprintf("stream-%d.pcapng", f.Stream)))
				paths, _ := filepath.Glob(filepath.Join(liveDir, fmt.Sprintf("stream-%d-*.pcapng", f.Stream)))
				if len(paths) != 1 {
					t.Fatalf("stream %d: live files %v", f.Stream, paths)
				}
				gotPk, comment := readEvidence(t, paths[0])
				keep := wantPk
				if n := len(wantPk); n > LiveEvidenceHead+LiveEvidenceTail {
					keep = append(wantPk[:LiveEvidenceHead:LiveEvidenceHead], wantPk[n-LiveEvidenceTail:]...)
					left := n - LiveEvidenceHead - LiveEvidenceTail
					if !strings.Contains(comment, strconv.Itoa(left)+" frames between frame "+strconv.Itoa(wantPk[LiveEvidenceHead].frame)) {
						t.Errorf("stream %d: comment %q does not tell the %d frames left out", f.Stream, comment, left)
					}
					elided++
				}
				if len(gotPk) != len(keep) {
					t.Fatalf("stream %d: live wrote %d packets, want %d", f.Stream, len(gotPk), len(keep))
				}
				for i := range keep {
					if gotPk[i] != keep[i] {
						t.Fatalf("stream %d packet %d: live frame %d at %v, want frame %d at %v (or other bytes)",
							f.Stream, i, gotPk[i].frame, gotPk[i].at, keep[i].frame, keep[i].at)
					}
				}
				compared++
			}
		})
	}
	if compared < 8 || elided == 0 {
		t.Errorf("%d files compared, %d with frames left out", compared, elided)
	}
}

// TestLiveEvidenceBounded: with dozens of connections open at once, the
// bytes held never exceed the bound, and nothing is held once every
// connection has ended.
func TestLiveEvidenceBounded(t *testing.T) {
	in := writeSynth(t, 60)
	const maxHeld = 256 << 10
	most := int64(0)
	rep, ev := liveWithEvidence(t, in, t.TempDir(), maxHeld, func(e *LiveEvidence) {
		most = max(most, e.Held())
		if e.Held() > maxHeld {
			t.Fatalf("%d bytes held, bound %d", e.Held(), maxHeld)
		}
	})
	defer rep.Close()
	res, err := ev.Result()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Held() != 0 || len(ev.conns) != 0 {
		t.Errorf("after the run %d bytes of %d connections are held", ev.Held(), len(ev.conns))
	}
	if most < maxHeld/2 || len(res.Written) == 0 {
		t.Errorf("at most %d bytes held, %d files: the bound was not tested", most, len(res.Written))
	}
	t.Logf("%d files, at most %d bytes held", len(res.Written), most)
}

// FuzzLiveEvidence feeds LiveEvidence frames of arbitrary bytes (on the
// link types a capture gives) and connections ending at arbitrary
// frames: it never panics, never holds more than its bound, and holds
// nothing once every flow's connection has ended.
func FuzzLiveEvidence(f *testing.F) {
	for _, rel := range []string{"testdata/scenarios/captures/relay-stall.pcapng", "testdata/captures/suricata-verify__smtperr.pcap"} {
		cf, err := capture.OpenFile(filepath.Join(repoRoot, rel))
		if err != nil {
			f.Fatal(err)
		}
		var seed []byte
		for i := 0; i < 12; i++ {
			fr, err := cf.Next()
			if err != nil {
				break
			}
			seed = append(seed, byte(len(fr.Data)>>8), byte(len(fr.Data)))
			seed = append(seed, fr.Data...)
		}
		cf.Close()
		f.Add(seed, uint8(3))
	}
	f.Fuzz(runFuzzLive)
}

// runFuzzLive is FuzzLiveEvidence's body.
func runFuzzLive(t *testing.T, in []byte, every uint8) {
	const maxHeld = 8 << 10
	e, err := NewLiveEvidence(EvidenceOptions{Dir: t.TempDir()}, "fuzz", maxHeld)
	if err != nil {
		t.Fatal(err)
	}
	ends := reassembly.NewEndpoints() // its own: the decoder may keep state
	first := map[[2]netip.AddrPort]int{}
	n := 0
	for len(in) >= 2 {
		size := int(in[0])<<8 | int(in[1])
		in = in[2:]
		size = min(size, len(in))
		n++
		fr := capture.Frame{Number: n, Time: time.Unix(int64(n), 0), Data: in[:size], Length: size, LinkType: layers.LinkTypeEthernet}
		in = in[size:]
		e.Frame(&fr)
		if e.Held() > maxHeld {
			t.Fatalf("%d bytes held, bound %d", e.Held(), maxHeld)
		}
		a, b, ok := ends.Of(&fr)
		if !ok {
			continue
		}
		key := flowKey(a, b)
		if _, ok := first[key]; !ok {
			first[key] = n
		}
		if every > 0 && n%int(every) == 0 {
			e.Connection(&report.Connection{Client: a.String(), Server: b.String(), FirstFrame: first[key], LastFrame: n,
				L4: report.L4{Verdict: "broken"}})
			delete(first, key)
		}
	}
	for key, from := range first {
		e.Connection(&report.Connection{Client: key[0].String(), Server: key[1].String(), FirstFrame: from, LastFrame: n})
	}
	if e.Held() != 0 {
		t.Errorf("%d bytes held after every connection ended", e.Held())
	}
	if _, err := e.Result(); err != nil {
		t.Error(err)
	}
}
