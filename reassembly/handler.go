package reassembly

import "time"

// Direction tells which peer sent a run of bytes.
type Direction int

const (
	// ClientToServer is data sent by the peer that opened the connection.
	ClientToServer Direction = iota
	// ServerToClient is data sent by the peer that accepted it.
	ServerToClient
)

// String returns "client" or "server", naming the sender.
func (d Direction) String() string {
	if d == ClientToServer {
		return "client"
	}
	return "server"
}

// Mark locates a byte or an event in the capture: the frame that carried it
// and that frame's capture time.
type Mark struct {
	// Frame is the 1-based frame number (Wireshark's frame.number); 0
	// means none.
	Frame int
	// Time is the frame's capture time.
	Time time.Time
}

// Marker gives the Mark of the byte at offset within the data of one Data
// call. It is only valid during that call.
type Marker interface {
	Mark(offset int) Mark
}

// Acker is implemented by the Markers the Tracker hands to Data. Acked
// tells how much of the other direction's stream the sender of the byte at
// offset had received when it sent it: the acknowledgment number of the
// segment that carried the byte, as an offset in the stream the Handler
// was given (its first byte is 0; bytes a Gap reported count). The offset
// is modulo 2^32, as TCP sequence numbers are: compare two of them by
// their difference as an int32. ok is false when the segment had no ACK
// flag or the other direction had not begun.
//
// A TCP receiver acknowledges in every segment it sends all it has
// received in order, so the server's acknowledgment on a reply shows which
// of the client's bytes it had when it answered: a reply cannot answer a
// command whose last byte lies beyond it (RFC 9293 §3.4).
type Acker interface {
	Acked(offset int) (n uint32, ok bool)
}

// ConstMarker is a Marker that gives the same Mark for every offset: all the
// bytes came in one frame. Tests use it to feed handlers plain byte slices.
type ConstMarker Mark

// Mark returns m for every offset.
func (m ConstMarker) Mark(int) Mark { return Mark(m) }

// EventKind is a TCP control event.
type EventKind int

const (
	// EventFIN is a segment with FIN set.
	EventFIN EventKind = iota
	// EventRST is a segment with RST set.
	EventRST
)

// Handler receives one connection's reassembled byte streams. Calls come in
// capture order for in-order traffic; data that waited for an out-of-order
// segment arrives when the hole is filled, with its original Marks.
//
// The smtp package implements Handler; reassembly never knows what the bytes
// mean.
type Handler interface {
	// Data delivers contiguous stream bytes sent in dir. data is only valid
	// during the call; at gives the frame and time of each byte.
	Data(dir Direction, data []byte, at Marker)
	// Gap reports that n bytes sent in dir are missing from the capture just
	// before the next Data in that direction (n < 0: unknown amount).
	Gap(dir Direction, n int, at Mark)
	// Control reports a FIN or RST sent in dir, in packet order, after any
	// data the same segment carried.
	Control(kind EventKind, dir Direction, at Mark)
	// End is called once, when no more calls will follow: the connection
	// closed, idled out, or the capture ended. at is the connection's last
	// packet.
	End(at Mark)
}
