package tlskeys

import (
	"bytes"
	"errors"
	"testing"
)

// Records of RFC 8448 §3 ("Simple 1-RTT Handshake", TLS_AES_128_GCM_SHA256),
// transcribed from the "complete record" lines of the steps named. An AEAD
// tag cannot pass on a mistyped byte, so a transcription error fails the
// test rather than hiding in it.
const (
	// {client}  construct a ClientHello handshake message: the random.
	rfc8448ClientRandom = "cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18 a2 ef 62 83 02 4d ec e7"

	// {server}  send handshake record (the second: EncryptedExtensions,
	// Certificate, CertificateVerify, Finished under the server's
	// handshake keys), 679 octets.
	rfc8448ServerFlight = `17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07
    cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3 5e df 78 69 fc f4 0a
    a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b 40 68 90
    51 23 ea 78 b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa
    dc 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b d9 ae fb 0e 57 f2 71 58
    5b 8e a9 bb 35 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57
    a6 b9 d7 47 76 09 ae e6 e1 22 a4 cf 51 42 73 25 25 0c 7d 0e 50 92
    89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e d6 5b 0e 3c dd 0c ba e8 bf 2d
    0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba a4 fc d6 10 92
    8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7
    3b 70 a2 55 9c 09 ea d6 86 94 5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d
    e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19 05 79 b3 68 45 96
    c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63
    d3 e6 88 61 1e a5 e2 2f 44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96
    8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a ad 6d 26 f5 9e ca ba
    9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce 34 31 17
    b6 59 62 22 45 31 7b 49 ee da 0c 62 58 f1 00 d7 d9 61 ff b1 38 64
    7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e 1b 7a 6c 71 78 af
    36 87 90 18 e3 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b
    f3 02 44 da 8c 87 c8 43 f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b
    16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4 61 e6 6f 99 88 2b d8 9f
    c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa 80 f8 5d f8 81
    ed be 5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48
    a1 81 d6 b6 fa 4f 9d 62 d5 13 af bb 99 2f 2b 99 2f 67 f8 af e6 7f
    76 91 3f a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59
    77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1
    9e d2 e3 1c 0b 3b 66 76 30 38 eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2
    3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84 5e 27
    55 92 c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d
    da 49 f4 b4 40 a3 0c b5 d2 af 93 98 28 fd 4a e3 79 4e 44 f9 4d f5
    a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e 75 0e dc 53
    37 0d 2b`

	// {client}  send handshake record: the client's Finished under its
	// handshake keys, 58 octets; its payload (36 octets) follows.
	rfc8448ClientFinished = `17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44
    a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc 44 d8 7f 38 f8 03
    38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46`
	rfc8448ClientFinishedPayload = `14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a c1 fc
    eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27 b6 42 f2 ed d5 ce 61`

	// {server}  send handshake record: the NewSessionTicket, the first
	// record under the server's application keys, 227 octets.
	rfc8448NewSessionTicket = `17 03 03 00 de 3a 6b 8f 90 41 4a 97 d6 95 9c 34
    87 68 0d e5 13 4a 2b 24 0e 6c ff ac 11 6e 95 d4 1d 6a f8 f6 b5 80
    dc f3 d1 1d 63 c7 58 db 28 9a 01 59 40 25 2f 55 71 3e 06 1d c1 3e
    07 88 91 a3 8e fb cf 57 53 ad 8e f1 70 ad 3c 73 53 d1 6d 9d a7 73
    b9 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0 9c 30 ba 1e 62 97 2a c4
    6f 75 f7 b9 81 be 63 43 9b 29 99 ce 13 06 46 15 13 98 91 d5 e4 c5
    b4 06 f1 6e 3f c1 81 a7 7c a4 75 84 00 25 db 2f 0a 77 f8 1b 5a b0
    5b 94 c0 13 46 75 5f 69 23 2c 86 51 9d 86 cb ee ac 87 aa c3 47 d1
    43 f9 60 5d 64 f6 50 db 4d 02 3e 70 e9 52 ca 49 fe 51 37 12 1c 74
    bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81 53
    55 6b 3b 6c 67 79 b3 7b f1 59 85 68 4f`

	// {client}  send application_data record and {server}  send
	// application_data record, 72 octets each; both carry the payload
	// 00 01 02 ... 31 (50 octets).
	rfc8448ClientData = `17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe
    82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4
    6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd
    1e 3d ea e6 3a ee bb 21 69 49 15 e4`
	rfc8448ServerData = `17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad
    36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90
    e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2
    ab f3 32 54 0d d0 32 e1 67 c2 95 5d`

	// {client}  send alert record and {server}  send alert record:
	// close_notify (payload 01 00), 24 octets each.
	rfc8448ClientAlert = "17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3"
	rfc8448ServerAlert = "17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9"

	// A stand-in for the ClientHello and ServerHello records, which are
	// in clear: the Decrypter passes them through without parsing them.
	clearHandshake = "16 03 03 00 04 01 00 00 00"
)

// rfc8448KeyLog is the key log an implementation would have written for
// the RFC 8448 §3 handshake: its four traffic secrets (rfc8448Keys).
func rfc8448KeyLog(t testing.TB) *KeyLog {
	t.Helper()
	r := mustRandom(t, rfc8448ClientRandom)
	k := NewKeyLog()
	lines := ""
	for i, label := range []string{"SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0", "CLIENT_TRAFFIC_SECRET_0"} {
		lines += label + " " + r.String() + " " + hexString(unhex(t, rfc8448Keys[i].secret)) + "\n"
	}
	k.Add("rfc8448", []byte(lines))
	if k.BadLines() != 0 {
		t.Fatalf("key log: %v", k.Problems())
	}
	return k
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

var rfc8448Payload = func() []byte {
	b := make([]byte, 50)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

type wantRecord struct {
	typ   ContentType
	epoch Epoch
	seq   uint64
	data  []byte // nil: not checked
	first byte   // the first plaintext byte when data is nil
}

func TestDecrypterRFC8448(t *testing.T) {
	keys := rfc8448KeyLog(t)
	session := Session{Version: VersionTLS13, Suite: TLS_AES_128_GCM_SHA256, ClientRandom: mustRandom(t, rfc8448ClientRandom)}
	tests := []struct {
		dir     Direction
		records []string
		want    []wantRecord
	}{
		{ClientToServer,
			[]string{clearHandshake, rfc8448ClientFinished, rfc8448ClientData, rfc8448ClientAlert},
			[]wantRecord{
				{Handshake, EpochClear, 0, unhex(t, clearHandshake)[5:], 0},
				{Handshake, EpochHandshake, 0, unhex(t, rfc8448ClientFinishedPayload), 0},
				{ApplicationData, EpochApplication, 0, rfc8448Payload, 0},
				{Alert, EpochApplication, 1, []byte{1, 0}, 0},
			}},
		{ServerToClient,
			[]string{clearHandshake, rfc8448ServerFlight, rfc8448NewSessionTicket, rfc8448ServerData, rfc8448ServerAlert},
			[]wantRecord{
				{Handshake, EpochClear, 0, unhex(t, clearHandshake)[5:], 0},
				// EncryptedExtensions (8) first; the Finished at the end
				// switches to the application keys.
				{Handshake, EpochHandshake, 0, nil, 8},
				// NewSessionTicket (4) at application sequence 0, so
				// the data record is at 1: the nonce XOR is exercised.
				{Handshake, EpochApplication, 0, nil, 4},
				{ApplicationData, EpochApplication, 1, rfc8448Payload, 0},
				{Alert, EpochApplication, 2, []byte{1, 0}, 0},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.dir.String(), func(t *testing.T) {
			d, err := NewDecrypter(keys, session, tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range tt.records {
				got, err := d.Decrypt(unhex(t, rec))
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				w := tt.want[i]
				if got.Type != w.typ || got.Epoch != w.epoch || got.Seq != w.seq {
					t.Errorf("record %d: type %d epoch %s seq %d, want %d %s %d", i, got.Type, got.Epoch, got.Seq, w.typ, w.epoch, w.seq)
				}
				if w.data != nil && !bytes.Equal(got.Data, w.data) {
					t.Errorf("record %d: plaintext %x, want %x", i, got.Data, w.data)
				}
				if w.data == nil && (len(got.Data) == 0 || got.Data[0] != w.first) {
					t.Errorf("record %d: plaintext starts %x, want %02x", i, got.Data[:min(4, len(got.Data))], w.first)
				}
			}
		})
	}
}

// TestDecrypterRFC8448MissingHandshakeSecrets: a key log with only the
// application secrets still decrypts the application data; the handshake
// records fail with ErrMissingSecret.
func TestDecrypterRFC8448MissingHandshakeSecrets(t *testing.T) {
	r := mustRandom(t, rfc8448ClientRandom)
	k := NewKeyLog()
	k.Add("k", []byte("SERVER_TRAFFIC_SECRET_0 "+r.String()+" "+hexString(unhex(t, rfc8448Keys[2].secret))))
	d, err := NewDecrypter(k, Session{Version: VersionTLS13, Suite: TLS_AES_128_GCM_SHA256, ClientRandom: r}, ServerToClient)
	if err != nil {
		t.Fatal(err)
	}
	d.Decrypt(unhex(t, clearHandshake))
	if _, err := d.Decrypt(unhex(t, rfc8448ServerFlight)); !errors.Is(err, ErrMissingSecret) {
		t.Errorf("the handshake flight: %v, want ErrMissingSecret", err)
	}
	got, err := d.Decrypt(unhex(t, rfc8448NewSessionTicket))
	if err != nil || got.Epoch != EpochApplication || got.Seq != 0 || got.Type != Handshake {
		t.Fatalf("NewSessionTicket: %+v, %v", got, err)
	}
	got, err = d.Decrypt(unhex(t, rfc8448ServerData))
	if err != nil || !bytes.Equal(got.Data, rfc8448Payload) || got.Seq != 1 {
		t.Errorf("data: seq %d %x, %v", got.Seq, got.Data, err)
	}
}

func TestDecrypterErrors(t *testing.T) {
	keys := rfc8448KeyLog(t)
	good := Session{Version: VersionTLS13, Suite: TLS_AES_128_GCM_SHA256, ClientRandom: mustRandom(t, rfc8448ClientRandom)}
	other := good
	other.ClientRandom[0] ^= 1
	tls12 := good
	tls12.Version, tls12.Suite = VersionTLS12, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	wrongSuite := good
	wrongSuite.Suite = TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	unknown := good
	unknown.Suite = 0x00ff
	ssl3 := good
	ssl3.Version = 0x0300
	gcm11 := tls12
	gcm11.Version = VersionTLS11
	sha384 := good
	sha384.Suite = TLS_AES_256_GCM_SHA384
	for _, tt := range []struct {
		name    string
		session Session
		want    error
	}{
		{"no key for the client random", other, ErrNoKey},
		{"TLS 1.2 session with TLS 1.3 secrets", tls12, ErrMissingSecret},
		{"a TLS 1.2 suite in TLS 1.3", wrongSuite, ErrUnknownSuite},
		{"unknown suite", unknown, ErrUnknownSuite},
		{"SSL 3.0", ssl3, ErrUnsupportedVersion},
		{"GCM in TLS 1.1", gcm11, ErrUnknownSuite},
		{"32-byte secrets for a SHA-384 suite", sha384, ErrMissingSecret},
	} {
		if _, err := NewDecrypter(keys, tt.session, ClientToServer); !errors.Is(err, tt.want) {
			t.Errorf("%s: NewDecrypter = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Record-level failures: a flipped bit, a cut record, a header that
	// lies about the length. Each fails alone; the next record is still
	// decrypted at its own sequence number.
	flip := unhex(t, rfc8448ClientData)
	flip[20] ^= 0x40
	for _, tt := range []struct {
		name   string
		record []byte
		want   error
	}{
		{"bad record MAC", flip, ErrBadRecordMAC},
		{"truncated record", unhex(t, rfc8448ClientData)[:40], ErrMalformedRecord},
		{"shorter than a header", []byte{23, 3, 3}, ErrMalformedRecord},
		{"shorter than a tag", []byte{23, 3, 3, 0, 3, 1, 2, 3}, ErrMalformedRecord},
	} {
		d, _ := NewDecrypter(keys, good, ClientToServer)
		for _, r := range []string{clearHandshake, rfc8448ClientFinished} {
			if _, err := d.Decrypt(unhex(t, r)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Decrypt(tt.record); !errors.Is(err, tt.want) {
			t.Errorf("%s: Decrypt = %v, want %v", tt.name, err, tt.want)
		}
	}
	// A damaged record consumes its sequence number: the alert after the
	// flipped data record still opens.
	d, _ := NewDecrypter(keys, good, ClientToServer)
	for _, r := range []string{clearHandshake, rfc8448ClientFinished} {
		d.Decrypt(unhex(t, r))
	}
	d.Decrypt(flip)
	if got, err := d.Decrypt(unhex(t, rfc8448ClientAlert)); err != nil || got.Type != Alert {
		t.Errorf("the record after a bad one: %+v, %v", got, err)
	}
}
