package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sharedCaptures is what capinfos (TShark 4.0.17) says of every file of
// the shared capture pool (MANIFEST.md there): format, packet count, and
// the times of the first and last frames, which in these files are also
// the earliest and latest.
var sharedCaptures = []struct {
	file        string
	format      string
	packets     int
	first, last string // epoch times as capinfos -S prints them
	truncated   bool
	// tsharkCannot is why TShark 4.0 refuses the file (it exits 2);
	// TestSharedCapturesMatchTshark checks that it still does.
	tsharkCannot string
}{
	{file: "PcapPlusPlus__Smtp.pcap", format: "pcap", packets: 8, first: "1254722768.219663", last: "1696923388.160599"},
	{file: "chrissanders__mail_receiver_server_3.pcapng", format: "pcapng", packets: 54, first: "1451416431.614938", last: "1451416443.918972"},
	{file: "chrissanders__mail_sender_client_1.pcapng", format: "pcapng", packets: 23, first: "1451416448.843729", last: "1451416448.917050"},
	{file: "chrissanders__mail_sender_server_2.pcapng", format: "pcapng", packets: 38, first: "1451416431.539639", last: "1451416431.625327"},
	{file: "chrissanders__stranded_clientside.cap", format: "pcap", packets: 2, first: "1271605577.391158", last: "1271605577.391504"},
	{file: "chrissanders__tcp_retransmissions.pcapng", format: "pcapng", packets: 6, first: "979489081.289000", last: "979489090.500000"},
	{file: "chrissanders__tcp_zerowindowdead.pcapng", format: "pcapng", packets: 8, first: "1236095716.488634", last: "1236095740.220187"},
	{file: "chrissanders__tcp_zerowindowrecovery.pcapng", format: "pcapng", packets: 7, first: "1276375699.407973", last: "1276375699.419011"},
	{file: "nDPI__emotet.pcap", format: "pcap", packets: 169, first: "1645830066.121611", last: "1650905518.385458"},
	{file: "nDPI__fuzz-2021-10-13.pcap", format: "pcap-ns", packets: 1, first: "980658802.1882137472", last: "980658802.1882137472", truncated: true},
	{file: "nDPI__smtp-starttls.pcap", format: "pcap", packets: 69, first: "1388017124.762850", last: "1524746968.663137"},
	{file: "nDPI__smtps.pcapng", format: "pcapng", packets: 4, first: "1614938504.972279", last: "1614938505.439757"},
	{file: "prot-od-netcaps__MS-ADOD_Example2_10_Win2016_X64_Win2016_X64_Domain_ObtainAListOfUserAccountsUsingTheLDAPProtocol.cap", format: "netmon2", packets: 41, first: "1473058986.592676300", last: "1473059000.863785300"},
	{file: "prot-od-netcaps__MS-AUTHSOD_Example2-1_Win2016_X64_Win2016_X64_Domain.cap", format: "netmon2", packets: 15, first: "1470649439.059683900", last: "1470649439.535613400"},
	{file: "suricata-verify__bug-3616-smtp-input.pcap", format: "pcap", packets: 60, first: "1254722767.492060", last: "1254722776.690444"},
	{file: "suricata-verify__mime-stream-depth-input.pcap", format: "pcap", packets: 2500, first: "1568828042.564656", last: "1568828045.782056"},
	{file: "suricata-verify__smtp-bdat-bad-tail-next-mail-input.pcap", format: "pcap", packets: 17, first: "1784676260.759352", last: "1784676260.808702"},
	{file: "suricata-verify__smtp-bdat-zero-last-next-mail-input.pcap", format: "pcap", packets: 27, first: "1783637227.457359", last: "1783637227.504919"},
	{file: "suricata-verify__smtp-long-command-input.pcap", format: "pcap", packets: 25, first: "1675233935.958829", last: "1675233968.101057"},
	{file: "suricata-verify__smtp-multi-mail.pcap", format: "pcap", packets: 39, first: "1782924043.717648", last: "1782924043.775869"},
	{file: "suricata-verify__smtp-pipelining-input.pcap", format: "pcap", packets: 18, first: "1544773457.768725", last: "1544773457.775268"},
	{file: "suricata-verify__smtp-quit-input.pcap", format: "pcap", packets: 7, first: "1692745385.242369", last: "1692745385.512254"},
	{file: "suricata-verify__smtp-rejected-ehlo-preserves-envelope-input.pcap", format: "pcap", packets: 23, first: "1786490428.403483", last: "1786490428.452606"},
	{file: "suricata-verify__smtp-startssl-input.pcap", format: "pcap", packets: 38, first: "1636654421.702930", last: "1636654421.805943"},
	{file: "suricata-verify__smtperr.pcap", format: "pcap", packets: 158, first: "1392836559.346753", last: "1587067620.733110"},
	// Link type 284 (DSA tag), which tshark 4.0 refuses; tcpdump -tt
	// reads 8 packets with these times.
	{file: "tcpdump__dsa.pcap", format: "pcap", packets: 8, first: "80499.544060", last: "80504.560415",
		tsharkCannot: "network type 284 unknown or unsupported"},
	{file: "tcpdump__empty.pcap", format: "pcap", packets: 0, first: "", last: ""},
	{file: "tcpdump__empty.pcapng", format: "pcapng", packets: 0, first: "", last: ""},
	{file: "tcpdump__mptcp-v1.pcap", format: "pcap", packets: 20, first: "1578930666.676845", last: "1578930666.677429"},
	{file: "tcpdump__pptp.pcap", format: "pcap", packets: 23, first: "954147395.148077", last: "954147396.347775"},
	{file: "tcpdump__tcp_rst_diag_payload-trunc.pcap", format: "pcap", packets: 1, first: "1776618244.220818", last: "1776618244.220818"},
	{file: "zeek__ipv6.pcap", format: "pcap", packets: 17, first: "1418793769.660674", last: "1418793781.076847"},
	{file: "zeek__rfc3030-bdat-example1.pcap", format: "pcap", packets: 28, first: "1702397979.965276", last: "1702397980.427055"},
	{file: "zeek__rfc3030-bdat-multipart-chunked.pcap", format: "pcap", packets: 184, first: "1702400711.777514", last: "1702400714.609664"},
	{file: "zeek__smtp-bdat-cmd-invalid.pcapng", format: "pcapng", packets: 66, first: "1705333298.367948", last: "1705333415.080240"},
	{file: "zeek__smtp-mail-transactions-invalid.pcap", format: "pcap", packets: 76, first: "1679930257.935537", last: "1679930261.500021"},
	{file: "zeek__smtp-multi-addr.pcap", format: "pcap", packets: 21, first: "1449610262.855497", last: "1449610324.073157"},
	{file: "zeek__smtp-one-side-only.pcap", format: "pcap", packets: 19, first: "1402446189.905880", last: "1402446190.051527"},
	{file: "zeek__smtp-starttls.pcap", format: "pcap", packets: 37, first: "1400168396.806011", last: "1400168404.468437"},
	{file: "zeek__smtp.pcap", format: "pcap", packets: 125, first: "1254722767.492060", last: "1437831800.217854"},
	// nDPI__fuzz-2021-10-13.pcap is a pcap 2.0 file cut in the middle of
	// its second record header; its nanosecond field exceeds 10^9, which
	// capinfos prints as is and Go carries into the seconds.
}

// TestSharedCaptures reads every file of the shared capture pool and
// checks its packet count, first and last times and how it ends. A file
// added to the pool fails the test until it is added to sharedCaptures.
func TestSharedCaptures(t *testing.T) {
	dir := sharedPool(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range sharedCaptures {
		known[c.file] = true
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") && e.Name() != "MANIFEST.md" && !known[e.Name()] {
			t.Errorf("%s is not in sharedCaptures", e.Name())
		}
	}
	for _, c := range sharedCaptures {
		t.Run(c.file, func(t *testing.T) {
			f, err := OpenFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			frames, err := readAll(f)
			if c.truncated != errors.Is(err, ErrTruncated) || (!c.truncated && err != io.EOF) {
				t.Errorf("after %d frames: %v, want truncated = %v", len(frames), err, c.truncated)
			}
			info := f.Info()
			if len(frames) != c.packets || info.Packets != c.packets || info.Format != c.format || info.Truncated != c.truncated {
				t.Errorf("%d frames, Info() = %+v; want %d packets, format %s", len(frames), info, c.packets, c.format)
			}
			for i, fr := range frames {
				if fr.Number != i+1 {
					t.Errorf("frame %d has Number %d", i+1, fr.Number)
				}
			}
			if len(frames) == 0 {
				return
			}
			if first := parseEpoch(t, c.first); !frames[0].Time.Equal(first) {
				t.Errorf("first frame at %s, want %s", frames[0].Time.Format(time.RFC3339Nano), first.Format(time.RFC3339Nano))
			}
			if last := parseEpoch(t, c.last); !frames[len(frames)-1].Time.Equal(last) {
				t.Errorf("last frame at %s, want %s", frames[len(frames)-1].Time.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))
			}
		})
	}
}

// TestSharedCapturesMatchTshark compares every frame of every pool file
// with tshark's frame.number, frame.time_epoch, frame.len and
// frame.cap_len. For the files tshark cannot read it checks that tshark
// still refuses them, for the reason noted in sharedCaptures (what
// smtpscope reads of them is checked against capinfos' counts and times by
// TestSharedCaptures).
func TestSharedCapturesMatchTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark once per file; skipped with -short")
	}
	dir := sharedPool(t)
	tshark := needTool(t, "tshark")
	for _, c := range sharedCaptures {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			cmd := exec.Command(tshark, "-r", path, "-T", "fields",
				"-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if c.tsharkCannot != "" {
				if err == nil || !strings.Contains(stderr.String(), c.tsharkCannot) {
					t.Fatalf("tshark was expected to refuse the file (%s); got err %v, stderr %q: compare its frames and drop tsharkCannot", c.tsharkCannot, err, stderr.String())
				}
				t.Logf("tshark refuses it, as expected: %s", c.tsharkCannot)
				return
			}
			if err != nil && len(out) == 0 && c.packets > 0 {
				// tshark stops at damage (as in a fuzzed file) after
				// printing the frames before it; nothing at all is a new
				// refusal.
				t.Fatalf("tshark cannot read it: %v: %s", err, stderr.String())
			}
			f, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			frames, _ := readAll(f)
			sc := bufio.NewScanner(bytes.NewReader(out))
			n := 0
			for ; sc.Scan(); n++ {
				w := strings.Split(sc.Text(), "\t")
				if n >= len(frames) || len(w) != 4 {
					t.Fatalf("tshark line %q has no frame here", sc.Text())
				}
				g := frames[n]
				number, _ := strconv.Atoi(w[0])
				length, _ := strconv.Atoi(w[2])
				caplen, _ := strconv.Atoi(w[3])
				if g.Number != number || !g.Time.Equal(parseEpoch(t, w[1])) || g.Length != length || len(g.Data) != caplen {
					t.Errorf("frame %d = (no. %d, %s, len %d, caplen %d), tshark says %q", n+1, g.Number, g.Time.Format(time.RFC3339Nano), g.Length, len(g.Data), sc.Text())
				}
			}
			if n != len(frames) {
				t.Errorf("%d frames, tshark shows %d", len(frames), n)
			}
		})
	}
}
