package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/pipeline"
)

// cutCapture writes a copy of a capture with every frame cut to snaplen
// bytes (the original length kept), as `editcap -s` does.
func cutCapture(t *testing.T, src string, snaplen int) string {
	t.Helper()
	in, err := capture.OpenFile(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	name := filepath.Join(t.TempDir(), "cut.pcapng")
	out, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := pcapgo.NewNgWriter(out, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		fr, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data := fr.Data[:min(len(fr.Data), snaplen)]
		ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(data), Length: fr.Length}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestSnaplenCutIsNotAPartialReply checks the seed incident's capture cut
// to 96 bytes a frame: the server's 354 is cut in the last segment it sends
// before closing, which must read as a reply the capture cut (truncated),
// never as a reply the server left without CRLF (the partial-reply failure
// of some Exchange servers), and every byte the snaplen cut is a gap.
func TestSnaplenCutIsNotAPartialReply(t *testing.T) {
	name := cutCapture(t, filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng"), 96)
	rep, _, err := pipeline.Files(context.Background(), []string{name}, nil, pipeline.Options{ServerPorts: []uint16{25}})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	c := rep.Connections[0]
	for _, a := range c.SMTP.Anomalies {
		if a.Name == "partial-reply" {
			t.Errorf("anomaly %s in frame %d: %s", a.Name, a.Frame, a.Detail)
		}
	}
	cmds := c.SMTP.Commands
	last := cmds[len(cmds)-1]
	if last.Verb != "DATA" || last.Reply == nil || last.Reply.Code != 354 || last.Reply.Partial || !last.Reply.Truncated {
		t.Errorf("last command %s, reply %+v: want DATA answered by a truncated 354", last.Verb, last.Reply)
	}
	for _, side := range []struct {
		name        string
		missed, cut int64
	}{{"client", c.L4.Client.MissedBytes, c.L4.Client.TruncatedBytes}, {"server", c.L4.Server.MissedBytes, c.L4.Server.TruncatedBytes}} {
		if side.missed != side.cut {
			t.Errorf("%s: %d bytes missed by the decoder, %d cut by the snaplen", side.name, side.missed, side.cut)
		}
	}
	if d := rep.Verdict; d.Cause == "eod-partial-reply" || d.Cause == "eod-no-reply" {
		t.Errorf("verdict %s: %s", d.Cause, d.Summary)
	}
}
