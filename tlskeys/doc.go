// Package tlskeys decrypts TLS records with the secrets of an NSS key log,
// the file that SSLKEYLOGFILE, Go's tls.Config.KeyLogWriter, Python's
// SSLContext.keylog_filename and `openssl s_client -keylogfile` write.
//
// It knows key logs, key schedules and record protection:
//
//   - [KeyLog] reads key log lines (CLIENT_RANDOM for TLS 1.0–1.2;
//     CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET,
//     CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0 for TLS 1.3) into a
//     store keyed by the ClientHello random. A bad line is reported with its
//     number and reason and skipped; unknown labels are counted.
//   - [ExpandLabel], [TrafficKeys] and [NextTrafficSecret] are the TLS 1.3
//     key schedule steps record protection needs (RFC 8446 §7.1, §7.3,
//     §7.2); [PRF] and [KeyBlock] are the TLS 1.2 PRF and key expansion
//     (RFC 5246 §5, §6.3), and TLS 1.0/1.1's MD5/SHA-1 PRF (RFC 2246 §5).
//   - [Decrypter] removes the protection of one direction of one
//     connection: fed every record of that direction in order, it knows
//     which records are still in clear, when encryption starts (the
//     ChangeCipherSpec in TLS ≤ 1.2, the first application_data record in
//     TLS 1.3), when TLS 1.3 moves from handshake to application keys (the
//     Finished message in the decrypted handshake stream) and when a
//     KeyUpdate changes them. Suites: TLS 1.3 AES-128-GCM, AES-256-GCM and
//     ChaCha20-Poly1305; TLS 1.2 AES-GCM and ChaCha20-Poly1305; TLS 1.0–1.2
//     AES-CBC and 3DES-CBC with HMAC-SHA1/SHA256/SHA384, MAC-then-encrypt
//     or encrypt_then_mac (RFC 7366). After a capture gap, [Decrypter.Lost]
//     lets it find the next record's sequence number again.
//   - [Connection] holds both directions of one connection and its
//     [Status]: decrypted, partly decrypted, failed or no keys, with the
//     reason, as facts for a report.
//
// A record reader (tlsrecord) plugs in like this, as lab_test.go does on
// real captures: once both Hellos are known, Start a [Connection] with the
// [Session] they give (ServerHello's version and suite, both randoms,
// encrypt_then_mac if ServerHello echoed extension 22); from then on hand
// it every whole record of each direction, in order, with its header;
// call Lost for a direction on every capture gap in it and every record a
// gap cut; read the plaintext of records whose Type is ApplicationData as
// the stream that continues after STARTTLS. Records before the ServerHello
// are in clear and may be skipped.
//
// Failures are named by sentinel errors ([ErrNoKey], [ErrMissingSecret],
// [ErrBadRecordMAC], [ErrUnknownSuite], [ErrUnsupportedVersion],
// [ErrMalformedRecord], [ErrRenegotiation]) wrapped with context, so that a
// caller can report the reason and fall back to what it can infer without
// keys. No input makes the package panic.
//
// It does not find records in a byte stream, parse handshakes beyond the
// message boundaries it needs to switch keys, know anything of SMTP or TCP,
// decrypt TLS 1.3 0-RTT early data, follow a TLS 1.2 renegotiation, or
// derive a master secret from a private key: the key log must hold the
// secrets. Cryptographic primitives come from the standard library
// (crypto/hkdf, crypto/hmac, crypto/cipher, crypto/aes, crypto/des) and
// golang.org/x/crypto/chacha20poly1305; this package only composes them as
// the RFCs say.
//
// Key material is never printed: [Secret] formats as a redaction under
// every fmt verb, and errors never quote a key log line's secret.
package tlskeys
