package tlskeys

import (
	"testing"
)

// FuzzDecrypter feeds arbitrary bytes, cut into records where their
// headers say, to decrypters of each kind of protection: no input panics,
// and a record decrypts only into a plaintext no longer than the record.
func FuzzDecrypter(f *testing.F) {
	for _, seed := range [][]string{
		{clearHandshake, rfc8448ClientFinished, rfc8448ClientData, rfc8448ClientAlert},
		{clearHandshake, rfc8448ServerFlight, rfc8448NewSessionTicket, rfc8448ServerData},
		{clearHandshake, "14 03 03 00 01 01", "16 03 03 00 28" + " 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26 27"},
	} {
		var b []byte
		for _, r := range seed {
			b = append(b, unhex(f, r)...)
		}
		f.Add(uint8(0), b)
		f.Add(uint8(1), b)
		f.Add(uint8(3), b)
	}
	r8448 := mustRandom(f, rfc8448ClientRandom)
	keys := rfc8448KeyLog(f)
	keys.Add("tls12", []byte("CLIENT_RANDOM "+r8448.String()+" "+testMaster48+"\n"))
	sessions := []Session{
		{Version: VersionTLS13, Suite: TLS_AES_128_GCM_SHA256},
		{Version: VersionTLS12, Suite: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{Version: VersionTLS12, Suite: TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
		{Version: VersionTLS12, Suite: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
		{Version: VersionTLS12, Suite: TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, EncryptThenMAC: true},
		{Version: VersionTLS10, Suite: TLS_RSA_WITH_3DES_EDE_CBC_SHA},
	}
	f.Fuzz(func(t *testing.T, which uint8, stream []byte) {
		s := sessions[int(which)%len(sessions)]
		s.ClientRandom = r8448
		d, err := NewDecrypter(keys, s, Direction(which>>7))
		if err != nil {
			t.Fatal(err)
		}
		for len(stream) >= HeaderLength {
			n := min(len(stream), HeaderLength+(int(stream[3])<<8|int(stream[4])))
			rec, err := d.Decrypt(stream[:n])
			if err == nil && len(rec.Data) > n {
				t.Fatalf("a %d-byte record decrypted to %d bytes", n, len(rec.Data))
			}
			stream = stream[n:]
		}
	})
}
