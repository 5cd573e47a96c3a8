package reassembly

import (
	"testing"
	"time"
)

// TestTrackerRetireLeavesGopacketPool checks that a connection leaves
// gopacket's connection pool when the Tracker retires it, however it
// ended: gopacket keeps a connection closed by FINs both ways (and one
// whose halves closed apart) until its idle flush, IdleTimeout later, so
// that a live capture of many short connections would hold one entry per
// connection ended in the last five minutes (#18).
func TestTrackerRetireLeavesGopacketPool(t *testing.T) {
	data := seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "EHLO x\r\n"}
	reply := seg{fromServer: true, seq: sISN + 1, ack: cISN + 9, flags: "PA", payload: "250 ok\r\n"}
	cases := []struct {
		name string
		end  []seg
	}{
		{"FIN both ways", []seg{
			{seq: cISN + 9, ack: sISN + 9, flags: "FA"},
			{fromServer: true, seq: sISN + 9, ack: cISN + 10, flags: "FA"},
			{seq: cISN + 10, ack: sISN + 10, flags: "A"}}},
		{"server FIN, client RST", []seg{
			{fromServer: true, seq: sISN + 9, ack: cISN + 9, flags: "FA"},
			{seq: cISN + 9, flags: "R"}}},
		{"client RST", []seg{{seq: cISN + 9, flags: "R"}}},
		{"no end (idle timeout)", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const conns = 20
			retired := 0
			tr := NewTracker(Options{Retire: func(*Conn) { retired++ },
				NewHandler: func(*Conn) Handler { return &eventLog{} }})
			n := 0
			for i := range conns {
				for _, s := range join(handshake, []seg{data, reply}, tc.end) {
					n++
					s.clientPort, s.after = uint16(41000+i), time.Duration(i)*time.Second
					if err := tr.Add(frameOf(t, n, s)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Capture time moves just past the last connection's linger
			// (or idle timeout): not far enough for gopacket's own flush
			// of closed connections, IdleTimeout after their last packet.
			wait := DefaultCloseLinger
			if tc.end == nil {
				wait = DefaultIdleTimeout
			}
			tr.Tick(t0.Add(conns*time.Second + wait + 2*time.Second))
			if retired != conns {
				t.Fatalf("%d connections retired, want %d", retired, conns)
			}
			if kept := tr.assembler.FlushAll(); kept != 0 {
				t.Errorf("gopacket's pool still holds %d of the %d retired connections", kept, conns)
			}
		})
	}
}
