//go:build cgo

package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// liveNamespaceEnv marks the test binary run inside the namespace.
const liveNamespaceEnv = "SMTPSCOPE_LIVE_NETNS"

// TestLive runs TestLiveInNamespace inside a network namespace of its own,
// so that the capture sees only the loopback traffic the test sends.
func TestLive(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("live capture test needs root: it creates a network namespace (ip netns add) and captures on its loopback")
	}
	ip := needTool(t, "ip")
	ns := fmt.Sprintf("smtpscope-capture-test-%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	defer exec.Command(ip, "netns", "delete", ns).Run()
	if out, err := exec.Command(ip, "netns", "exec", ns, ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	cmd := exec.Command(ip, "netns", "exec", ns, os.Args[0], "-test.run=^TestLiveInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), liveNamespaceEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in namespace %s:\n%s", ns, out)
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestLiveInNamespace")) {
		t.Fatalf("TestLiveInNamespace failed: %v", err)
	}
}

// TestLiveInNamespace captures UDP datagrams it sends to 127.0.0.1 on the
// loopback of the namespace TestLive made.
func TestLiveInNamespace(t *testing.T) {
	if os.Getenv(liveNamespaceEnv) == "" {
		return // not a test of its own: TestLive runs it in its namespace
	}
	t.Run("burst", testLiveBurst)
	const port = 25025
	l, err := OpenLive(LiveOptions{Interface: "lo", Filter: fmt.Sprintf("udp and dst port %d", port), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// A receiver, so that no ICMP port-unreachable fails the sends.
	sink, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	conn, err := net.Dial("udp", sink.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 1; i <= 3; i++ {
		if _, err := fmt.Fprintf(conn, "smtpscope datagram %d", i); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := 1; n <= 3; {
		f, err := l.Next()
		if errors.Is(err, ErrTimeout) {
			if time.Now().After(deadline) {
				t.Fatalf("no frame %d before the deadline", n)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("smtpscope datagram %d", n)
		if f.Number != n || f.LinkType != layers.LinkTypeEthernet || !bytes.HasSuffix(f.Data, []byte(want)) || f.Length != len(f.Data) || time.Since(f.Time) > time.Minute {
			t.Errorf("frame = {No. %d, %v, len %d, %q, %v}, want No. %d ending %q", f.Number, f.LinkType, f.Length, f.Data, f.Time, n, want)
		}
		n++
	}
	if info := l.Info(); info.Packets != 3 || info.Name != "lo" || info.Format != "live" {
		t.Errorf("Info() = %+v", info)
	}

	// Nothing more is sent: Next times out, and can be called again.
	for range 2 {
		start := time.Now()
		if _, err := l.Next(); !errors.Is(err, ErrTimeout) || time.Since(start) > 5*time.Second {
			t.Errorf("Next on a quiet interface = %v after %v, want ErrTimeout after about 200ms", err, time.Since(start))
		}
	}
	l.Close()
	if _, err := l.Next(); err != io.EOF {
		t.Errorf("Next after Close = %v, want io.EOF", err)
	}

	// Without a timeout Next waits; Close from another goroutine ends it.
	quiet, err := OpenLive(LiveOptions{Interface: "lo", Filter: "udp and dst port 9"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := quiet.Next()
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	quiet.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("waiting Next ended by Close = %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Close did not end a waiting Next")
	}

	for _, tt := range []struct {
		opts LiveOptions
		text string
	}{
		{LiveOptions{Interface: "no-such-if0"}, "live capture on no-such-if0"},
		{LiveOptions{Interface: "lo", Filter: "tcp port"}, `filter "tcp port"`},
	} {
		if l, err := OpenLive(tt.opts); err == nil || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("OpenLive(%+v) = %v, want an error containing %q", tt.opts, err, tt.text)
			if l != nil {
				l.Close()
			}
		}
	}
}

// testLiveBurst sends a burst of datagrams while nothing reads the
// capture, as when the analysis is descheduled on a busy machine, and
// wants every one of them captured, none dropped. libpcap's default 2 MiB
// buffer in immediate mode held only 16 packets on a loopback (64 KiB
// MTU, so one 128 KiB ring block per packet): a live run then lost the
// end of a short SMTP session, and with it the close that retires the
// connection.
func testLiveBurst(t *testing.T) {
	const port, burst = 25026, 200
	l, err := OpenLive(LiveOptions{Interface: "lo", Filter: fmt.Sprintf("udp and dst port %d", port), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sink, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	conn, err := net.Dial("udp", sink.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range burst {
		if _, err := fmt.Fprintf(conn, "burst datagram %d", i); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		_, err := l.Next()
		if errors.Is(err, ErrTimeout) {
			break // the burst is read: the link is quiet again
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got != burst || st.Dropped != 0 {
		t.Errorf("a burst of %d datagrams: %d captured, %d dropped by the kernel (%+v); want all captured", burst, got, st.Dropped, st)
	}
}
