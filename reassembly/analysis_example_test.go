package reassembly_test

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// An Analyzer takes one connection's segments in capture order and returns
// tshark's tcp.analysis flags for each; Health sums them up.
func ExampleAnalyzer() {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	c, s := reassembly.ClientToServer, reassembly.ServerToClient
	segs := []reassembly.Segment{
		{Frame: 1, Time: at(0), Dir: c, Seq: 100, SYN: true, Window: 64240, MSS: 1460, WindowScale: 7, TTL: 64},
		{Frame: 2, Time: at(30), Dir: s, Seq: 900, Ack: 101, SYN: true, ACK: true, Window: 65160, MSS: 1460, WindowScale: 7, TTL: 57},
		{Frame: 3, Time: at(60), Dir: c, Seq: 101, Ack: 901, ACK: true, Window: 502, WindowScale: -1, TTL: 64},
		{Frame: 4, Time: at(61), Dir: c, Seq: 101, Ack: 901, ACK: true, Len: 1448, Window: 502, WindowScale: -1, TTL: 64},
		{Frame: 5, Time: at(62), Dir: c, Seq: 1549, Ack: 901, ACK: true, Len: 1448, Window: 502, WindowScale: -1, TTL: 64},
		{Frame: 6, Time: at(95), Dir: s, Seq: 901, Ack: 1549, ACK: true, Window: 0, WindowScale: -1, TTL: 57},
		{Frame: 7, Time: at(400), Dir: c, Seq: 1549, Ack: 901, ACK: true, Len: 1448, Window: 502, WindowScale: -1, TTL: 64},
		{Frame: 8, Time: at(1500), Dir: s, Seq: 901, Ack: 2997, ACK: true, Window: 200, WindowScale: -1, TTL: 57},
	}
	var a reassembly.Analyzer
	for i := range segs {
		if f := a.Observe(&segs[i]); f != 0 {
			fmt.Printf("frame %d: %s\n", segs[i].Frame, f)
		}
	}
	h := a.Health()
	fmt.Println("initial RTT:", h.Handshake.InitialRTT, "scaling:", h.Handshake.Scaling)
	fmt.Println("handshake:", h.Handshake.State, "retransmissions:", h.Retransmission.Count, "first in frame", h.Retransmission.Frames[0])
	fmt.Println("server zero window:", h.Sides[reassembly.ServerToClient].ZeroWindowTime)
	// Output:
	// frame 6: zero_window
	// frame 7: retransmission
	// initial RTT: 60ms scaling: on
	// handshake: answered retransmissions: 1 first in frame 7
	// server zero window: 1.405s
}
