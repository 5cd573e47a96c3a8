// Package tlsrecord reads the TLS record layer (RFC 8446 §5, RFC 5246 §6.2)
// of one TCP connection's two byte streams, without keys: it frames the
// records of each direction, reassembles the handshake messages sent in
// clear, and states what the handshake showed and where it ended.
//
// What it reads:
//   - records (content type, legacy version, length, the frame and capture
//     time of their first and last byte), across any split into segments,
//     and across capture gaps: a gap of known size inside a record keeps
//     the framing; any other gap loses it until a header with this side's
//     version right after the gap, or two chained record headers, are
//     found again;
//   - ClientHello (legacy version, supported_versions, cipher suites, SNI,
//     ALPN, random), ServerHello and HelloRetryRequest (chosen version and
//     suite, random), RFC 8446 §4.1;
//   - the server's Certificate chain where it is in clear (TLS ≤ 1.2),
//     parsed with crypto/x509: subject, issuer, SANs, validity, whether it
//     is self-signed, expired at capture time, or names a given host;
//   - alerts in clear (level, description), ChangeCipherSpec, each side's
//     Finished as seen from outside (the first record a side protects);
//   - where the handshake ended: completed, an alert, a FIN, an RST, a gap,
//     the end of the capture, or bytes that are not TLS.
//
// Each record is handed, with its raw bytes, to Options.Record, so that a
// decrypter (which needs ClientHello.Random, ServerHello.Random, the
// negotiated version and suite) and the inference of what the records
// carry can be plugged in without this package knowing of them.
//
// What it does not do: it decrypts nothing and knows no key; it knows
// nothing of SMTP or of any protocol carried inside TLS; it does not
// verify certificate chains against a trust store (only facts of each
// certificate); it does not read SSL 2.0 hellos.
//
// # State machines
//
// Two explicit states, each an iota type with one transition function:
//   - framing (stream.step), per direction: reading a header, reading a
//     body, or lost after a gap, resynchronising;
//   - the handshake (Conn.transition), per connection: idle, ClientHello
//     sent, HelloRetryRequest, negotiated, established, or ended by an
//     alert, a cut, or bytes that are not TLS.
//
// Every buffer is bounded by a named constant; hitting a bound, meeting
// bytes that do not parse, or losing the framing raises a named Condition,
// and reading goes on. Input never makes it panic.
package tlsrecord
