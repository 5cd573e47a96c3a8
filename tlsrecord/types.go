package tlsrecord

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// ContentType is a record's content type (RFC 8446 §5.1, RFC 6520 for
// heartbeat).
type ContentType uint8

// The record content types.
const (
	TypeChangeCipherSpec ContentType = 20
	TypeAlert            ContentType = 21
	TypeHandshake        ContentType = 22
	TypeApplicationData  ContentType = 23
	TypeHeartbeat        ContentType = 24
)

// String names the content type as RFC 8446 does.
func (t ContentType) String() string {
	switch t {
	case TypeChangeCipherSpec:
		return "change_cipher_spec"
	case TypeAlert:
		return "alert"
	case TypeHandshake:
		return "handshake"
	case TypeApplicationData:
		return "application_data"
	case TypeHeartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("content_type(%d)", uint8(t))
}

// Handshake message types (RFC 8446 §4, RFC 5246 §7.4) this package reads.
const (
	msgClientHello       = 1
	msgServerHello       = 2
	msgNewSessionTicket  = 4
	msgCertificate       = 11
	msgServerKeyExchange = 12
	msgServerHelloDone   = 14
	msgClientKeyExchange = 16
	msgFinished          = 20
)

// Protocol versions (RFC 8446 §4.2.1; RFC 6101 for SSL 3.0).
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// VersionName names a protocol version as reports show it ("TLS 1.3"),
// "" for 0.
func VersionName(v uint16) string {
	switch v {
	case 0:
		return ""
	case VersionSSL30:
		return "SSL 3.0"
	case VersionTLS10:
		return "TLS 1.0"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	}
	if IsGREASE(v) {
		return fmt.Sprintf("GREASE 0x%04x", v)
	}
	return fmt.Sprintf("0x%04x", v)
}

// SuiteName names a cipher suite by its IANA name
// ("TLS_AES_256_GCM_SHA384"), as crypto/tls knows it, else "0x%04X".
func SuiteName(id uint16) string { return tls.CipherSuiteName(id) }

// IsGREASE reports whether v is a GREASE value (RFC 8701 §2), which a
// client offers to keep servers tolerant and no server ever chooses.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// Record is one TLS record as seen from outside.
type Record struct {
	// Dir is the sender.
	Dir reassembly.Direction
	// Index counts the records of Dir from 0.
	Index int
	// Type and Version are the record header's content type and legacy
	// version. In TLS 1.3 every protected record says application_data.
	Type    ContentType
	Version uint16
	// Length is the fragment length the header states (RFC 8446 §5.1).
	Length int
	// Start and End locate the record's first and last byte.
	Start, End reassembly.Mark
	// Protected is true when the record is encrypted: in TLS 1.2 after its
	// sender's ChangeCipherSpec, in TLS 1.3 every application_data record.
	Protected bool
	// Partial is true when a capture gap took some of the record's bytes;
	// its raw bytes are then not available.
	Partial bool
}

// Overhead is the record header's size (RFC 8446 §5.1).
const Overhead = 5

// Alert is an alert record's content (RFC 8446 §6).
type Alert struct {
	Dir reassembly.Direction
	At  reassembly.Mark
	// Level is 1 (warning) or 2 (fatal); 0 when Protected.
	Level uint8
	// Description is the alert's code; meaningful only when not Protected.
	Description uint8
	// Protected is true for an encrypted alert record (a TLS 1.2 alert after
	// its sender's ChangeCipherSpec): that it is an alert is known, not
	// which.
	Protected bool
	// Decrypted is true for an alert read from a protected record that a
	// key log opened (package tlskeys): Level and Description are then
	// known although the alert was encrypted on the wire.
	Decrypted bool
}

// Fatal reports whether the alert ends the connection: a fatal level, or
// any alert but close_notify and user_canceled in TLS 1.3 (RFC 8446 §6.2).
func (a Alert) Fatal() bool { return a.Level == 2 }

// Name returns the alert description's name ("protocol_version"), or
// "encrypted" for a protected alert.
func (a Alert) Name() string {
	if a.Protected {
		return "encrypted"
	}
	return AlertName(a.Description)
}

// Alert descriptions (RFC 8446 §6, RFC 5246 §7.2) that causes refer to.
const (
	AlertCloseNotify            uint8 = 0
	AlertUnexpectedMessage      uint8 = 10
	AlertBadRecordMAC           uint8 = 20
	AlertHandshakeFailure       uint8 = 40
	AlertBadCertificate         uint8 = 42
	AlertUnsupportedCertificate uint8 = 43
	AlertCertificateRevoked     uint8 = 44
	AlertCertificateExpired     uint8 = 45
	AlertCertificateUnknown     uint8 = 46
	AlertIllegalParameter       uint8 = 47
	AlertUnknownCA              uint8 = 48
	AlertAccessDenied           uint8 = 49
	AlertDecodeError            uint8 = 50
	AlertDecryptError           uint8 = 51
	AlertProtocolVersion        uint8 = 70
	AlertInsufficientSecurity   uint8 = 71
	AlertInternalError          uint8 = 80
	AlertInappropriateFallback  uint8 = 86
	AlertUserCanceled           uint8 = 90
	AlertNoRenegotiation        uint8 = 100
	AlertMissingExtension       uint8 = 109
	AlertUnsupportedExtension   uint8 = 110
	AlertUnrecognizedName       uint8 = 112
	AlertBadCertificateStatus   uint8 = 113
	AlertUnknownPSKIdentity     uint8 = 115
	AlertCertificateRequired    uint8 = 116
	AlertNoApplicationProtocol  uint8 = 120
)

var alertNames = map[uint8]string{
	AlertCloseNotify: "close_notify", AlertUnexpectedMessage: "unexpected_message",
	AlertBadRecordMAC: "bad_record_mac", 21: "decryption_failed", 22: "record_overflow",
	30: "decompression_failure", AlertHandshakeFailure: "handshake_failure",
	41: "no_certificate", AlertBadCertificate: "bad_certificate",
	AlertUnsupportedCertificate: "unsupported_certificate", AlertCertificateRevoked: "certificate_revoked",
	AlertCertificateExpired: "certificate_expired", AlertCertificateUnknown: "certificate_unknown",
	AlertIllegalParameter: "illegal_parameter", AlertUnknownCA: "unknown_ca",
	AlertAccessDenied: "access_denied", AlertDecodeError: "decode_error",
	AlertDecryptError: "decrypt_error", 60: "export_restriction",
	AlertProtocolVersion: "protocol_version", AlertInsufficientSecurity: "insufficient_security",
	AlertInternalError: "internal_error", AlertInappropriateFallback: "inappropriate_fallback",
	AlertUserCanceled: "user_canceled", AlertNoRenegotiation: "no_renegotiation",
	AlertMissingExtension: "missing_extension", AlertUnsupportedExtension: "unsupported_extension",
	111: "certificate_unobtainable", AlertUnrecognizedName: "unrecognized_name",
	AlertBadCertificateStatus: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
	AlertUnknownPSKIdentity: "unknown_psk_identity", AlertCertificateRequired: "certificate_required",
	AlertNoApplicationProtocol: "no_application_protocol",
}

// AlertName names an alert description as RFC 8446 §6 does, else
// "alert(N)".
func AlertName(d uint8) string {
	if n, ok := alertNames[d]; ok {
		return n
	}
	return fmt.Sprintf("alert(%d)", d)
}

// IsCertificateAlert reports whether d is an alert a peer sends when it
// rejects the other's certificate (RFC 8446 §6.2).
func IsCertificateAlert(d uint8) bool {
	switch d {
	case AlertBadCertificate, AlertUnsupportedCertificate, AlertCertificateRevoked,
		AlertCertificateExpired, AlertCertificateUnknown, AlertUnknownCA,
		AlertBadCertificateStatus, AlertCertificateRequired:
		return true
	}
	return false
}

// ClientHello is what a ClientHello offered (RFC 8446 §4.1.2).
type ClientHello struct {
	At reassembly.Mark
	// LegacyVersion is client_version (0x0303 in TLS 1.3 hellos).
	LegacyVersion uint16
	// Random is the 32-byte ClientHello.random a key log is keyed by.
	Random [32]byte
	// SessionID is legacy_session_id.
	SessionID []byte
	// SupportedVersions lists the supported_versions extension (43) as
	// sent, GREASE included; nil if absent.
	SupportedVersions []uint16
	// CipherSuites lists the offered suites as sent, GREASE included.
	CipherSuites []uint16
	// ServerName is the SNI host_name (RFC 6066 §3), "" if absent.
	ServerName string
	// ALPN lists the offered application protocols (RFC 7301).
	ALPN []string
	// Extensions lists the extension types in order.
	Extensions []uint16
}

// MaxVersion is the highest version offered: the largest non-GREASE entry
// of supported_versions if present, else LegacyVersion.
func (h *ClientHello) MaxVersion() uint16 {
	v := h.LegacyVersion
	for _, sv := range h.SupportedVersions {
		if !IsGREASE(sv) && sv > v {
			v = sv
		}
	}
	return v
}

// Offers reports whether the hello offers version v.
func (h *ClientHello) Offers(v uint16) bool {
	if h.SupportedVersions != nil {
		for _, sv := range h.SupportedVersions {
			if sv == v {
				return true
			}
		}
		return false
	}
	// Without supported_versions a client offers every version up to
	// client_version (RFC 5246 Appendix E.1).
	return v <= h.LegacyVersion && v >= VersionSSL30
}

// ServerHello is a ServerHello or HelloRetryRequest (RFC 8446 §4.1.3-4).
type ServerHello struct {
	At reassembly.Mark
	// LegacyVersion is server_version (0x0303 in TLS 1.3).
	LegacyVersion uint16
	// SupportedVersion is the supported_versions extension's selected
	// version, 0 if absent.
	SupportedVersion uint16
	Random           [32]byte
	SessionID        []byte
	CipherSuite      uint16
	// ALPN is the protocol the server selected, "" if none.
	ALPN string
	// Extensions lists the extension types in order.
	Extensions []uint16
	// RetryRequest is true for a HelloRetryRequest: its random is
	// SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
	RetryRequest bool
}

// Version is the negotiated version: SupportedVersion if present, else
// LegacyVersion (RFC 8446 §4.2.1).
func (h *ServerHello) Version() uint16 {
	if h.SupportedVersion != 0 {
		return h.SupportedVersion
	}
	return h.LegacyVersion
}

// Certificate is what this package keeps of one X.509 certificate.
type Certificate struct {
	Subject, Issuer string
	// CommonName is the subject's CN, "" if none.
	CommonName string
	DNSNames   []string
	IPs        []string
	NotBefore  time.Time
	NotAfter   time.Time
	// SelfSigned is true when the issuer equals the subject and the
	// certificate's signature verifies with its own key.
	SelfSigned bool
	// ExpiredAtCapture is true when the capture time of the Certificate
	// message is after NotAfter; NotYetValid when it is before NotBefore.
	ExpiredAtCapture bool
	NotYetValid      bool
	// ParseError is crypto/x509's error for a certificate it could not
	// parse; the other fields are then empty.
	ParseError string

	x509 *x509.Certificate
}

// Names reports whether the certificate is valid for host, by
// crypto/x509's rules (SANs; RFC 6125 wildcards).
func (c *Certificate) Names(host string) bool {
	if c.ParseError != "" || host == "" {
		return false
	}
	return c.x509 != nil && c.x509.VerifyHostname(host) == nil
}

// Ending says how the handshake ended.
type Ending int

const (
	// EndOpen: the handshake had not ended when the facts were taken.
	EndOpen Ending = iota
	// EndComplete: both sides sent their Finished (seen from outside).
	EndComplete
	// EndAlert: an alert in clear, or a protected alert record during the
	// handshake, ended it.
	EndAlert
	// EndProbableAlert: in TLS 1.3, the client's first protected record
	// after the server's flight is too short to be a Finished and the size
	// of an alert, and the handshake went no further.
	EndProbableAlert
	// EndFIN and EndRST: a side closed or reset the connection.
	EndFIN
	EndRST
	// EndGap: a capture gap cut the handshake.
	EndGap
	// EndCaptureEnd: the capture (or the connection's data) ended.
	EndCaptureEnd
	// EndNotTLS: the first bytes of a side were not a TLS record.
	EndNotTLS
	// EndNotCaptured: the capture began after the handshake (implicit TLS,
	// Options.Implicit): protected records came before any hello.
	EndNotCaptured
)

var endingNames = [...]string{"open", "complete", "alert", "probable-alert", "fin", "rst", "gap", "capture-end", "not-tls", "not-captured"}

// String names the ending ("complete", "alert", "rst", ...).
func (e Ending) String() string {
	if int(e) < len(endingNames) {
		return endingNames[e]
	}
	return fmt.Sprintf("ending(%d)", int(e))
}

// Condition names something this package met that is not TLS as it should
// be, or a bound it hit.
type Condition string

// The conditions. Each is raised at most once per direction.
const (
	// CondNotARecord: bytes that cannot begin a TLS record where one must
	// begin.
	CondNotARecord Condition = "tls-not-a-record"
	// CondRecordTooLong: a record header states a length beyond
	// maxCiphertext.
	CondRecordTooLong Condition = "tls-record-too-long"
	// CondHandshakeTooLong: a handshake message longer than
	// maxHandshakeMessage; it is skipped.
	CondHandshakeTooLong Condition = "tls-handshake-too-long"
	// CondHandshakeUnparsable: a handshake message that does not parse.
	CondHandshakeUnparsable Condition = "tls-handshake-unparsable"
	// CondCertificateUnparsable: a certificate crypto/x509 cannot parse.
	CondCertificateUnparsable Condition = "tls-certificate-unparsable"
	// CondSyncLost: a capture gap took a record boundary; records are not
	// framed until CondResynchronised.
	CondSyncLost Condition = "tls-sync-lost"
	// CondResynchronised: after CondSyncLost, two chained record headers
	// were found again; the bytes before them were skipped.
	CondResynchronised Condition = "tls-resynchronised"
	// CondCertificateChainTooLong: more than maxCertificates certificates;
	// the rest are not kept.
	CondCertificateChainTooLong Condition = "tls-certificate-chain-too-long"
)

// Met is a Condition met at a place.
type Met struct {
	Condition Condition
	Dir       reassembly.Direction
	At        reassembly.Mark
}
