package tlskeys_test

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/smtpscope/smtpscope/tlskeys"
)

// Decrypt the client's records of RFC 8448 §3 with the key log its client
// would have written.
func Example() {
	keys := tlskeys.NewKeyLog()
	keys.Add("SSLKEYLOGFILE", []byte(`# RFC 8448 section 3
CLIENT_HANDSHAKE_TRAFFIC_SECRET cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7 b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21
CLIENT_TRAFFIC_SECRET_0 cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7 9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5
`))
	var random tlskeys.Random
	hex.Decode(random[:], []byte("cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7"))
	d, err := tlskeys.NewDecrypter(keys, tlskeys.Session{
		Version:      tlskeys.VersionTLS13,
		Suite:        tlskeys.TLS_AES_128_GCM_SHA256,
		ClientRandom: random,
	}, tlskeys.ClientToServer)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, record := range []string{
		"1603030004 01000000", // ClientHello (a stand-in: records in clear pass through)
		"1703030035 75ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546",                             // Finished
		"1703030043 a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4", // application data
	} {
		b, _ := hex.DecodeString(strings.ReplaceAll(record, " ", ""))
		rec, err := d.Decrypt(b)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("type %d, %s epoch, seq %d, %d bytes\n", rec.Type, rec.Epoch, rec.Seq, len(rec.Data))
	}
	fmt.Println(keys.Len(), "client random;", "secret prints as", keys.String())
	// Output:
	// type 22, clear epoch, seq 0, 4 bytes
	// type 22, handshake epoch, seq 0, 36 bytes
	// type 23, application epoch, seq 0, 50 bytes
	// 1 client random; secret prints as key log: 1 client randoms, 2 secrets, 0 bad lines
}
