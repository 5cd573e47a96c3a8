package tlsrecord_test

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// A client's ClientHello that the server answers with a protocol_version
// alert: the handshake ended by an alert, in clear.
func ExampleConn() {
	hello := []byte{
		22, 3, 1, 0, 45, // record: handshake, 45 bytes
		1, 0, 0, 41, // ClientHello, 41 bytes
		3, 3, // legacy_version TLS 1.2
	}
	hello = append(hello, make([]byte, 32)...)          // random
	hello = append(hello, 0, 0, 2, 0x13, 0x01, 1, 0)    // no session id, TLS_AES_128_GCM_SHA256, null compression
	alert := []byte{21, 3, 3, 0, 2, 2, 70}              // fatal protocol_version
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) // capture times
	c := tlsrecord.NewConn(tlsrecord.Options{})
	c.Data(reassembly.ClientToServer, hello, reassembly.ConstMarker{Frame: 4, Time: t0})
	c.Data(reassembly.ServerToClient, alert, reassembly.ConstMarker{Frame: 5, Time: t0.Add(3 * time.Millisecond)})
	c.End(reassembly.Mark{Frame: 6, Time: t0.Add(4 * time.Millisecond)})
	f := c.Facts()
	fmt.Println(tlsrecord.VersionName(f.ClientHello.MaxVersion()), tlsrecord.SuiteName(f.ClientHello.CipherSuites[0]))
	fmt.Println(f.Ending, "by", f.EndedBy, "in frame", f.EndedAt.Frame, "after", f.Duration(), "-", f.Alerts[0].Name())
	// Output:
	// TLS 1.2 TLS_AES_128_GCM_SHA256
	// alert by server in frame 5 after 3ms - protocol_version
}
