package report

import (
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

func tlsMark(frame int, sec float64) reassembly.Mark {
	return reassembly.Mark{Frame: frame, Time: at(sec)}
}

// handshake returns TLS facts with a ClientHello in frame 20 (offering up
// to TLS 1.3 to relay.example), changed by edit.
func handshake(edit func(f *tlsrecord.Facts)) *smtp.TLS {
	f := &tlsrecord.Facts{ClientHello: &tlsrecord.ClientHello{At: tlsMark(20, 1), LegacyVersion: tlsrecord.VersionTLS12,
		SupportedVersions: []uint16{tlsrecord.VersionTLS13, tlsrecord.VersionTLS12}, ServerName: "relay.example"},
		Ending: tlsrecord.EndOpen}
	edit(f)
	return &smtp.TLS{How: "starttls", Frame: 20, Version: "TLS 1.3", ServerName: "relay.example", Handshake: f}
}

func serverHello(v uint16) *tlsrecord.ServerHello {
	return &tlsrecord.ServerHello{At: tlsMark(21, 1.001), LegacyVersion: tlsrecord.VersionTLS12, SupportedVersion: v, CipherSuite: 0x1301}
}

func TestTLSRules(t *testing.T) {
	healthy := reassembly.Health{}
	base := func(edit func(s *smtp.Session)) *smtp.Session {
		s := &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001)}
		edit(s)
		return s
	}
	starttls := func(code int, then ...string) func(s *smtp.Session) {
		return func(s *smtp.Session) {
			s.Commands = append(s.Commands, smtp.Command{Verb: "EHLO", Frame: 6}, smtp.Command{Verb: "STARTTLS", Frame: 8, Time: at(0.01), Reply: smtpReply(code, "", 9, 0.011)})
			for _, v := range then {
				s.Commands = append(s.Commands, smtp.Command{Verb: v, Frame: 10})
			}
		}
	}
	tests := []struct {
		name    string
		session *smtp.Session
		layer   string
		cause   Cause
		failed  bool
		words   string // in the summary
	}{
		{"starttls 454, then plaintext", base(starttls(454, "MAIL")), LayerTLS, CauseStartTLSRefused, true, "went on in plaintext"},
		{"starttls 454, then QUIT", base(starttls(454, "QUIT")), LayerTLS, CauseStartTLSRefused, true, "gave up"},
		{"starttls 220", base(starttls(220)), LayerNone, CauseOK, false, ""},
		{"masked STARTTLS", base(func(s *smtp.Session) { s.Extensions = []string{"PIPELINING", "XXXXXXXA", "8BITMIME"} }),
			LayerTLS, CauseStartTLSStripped, true, "XXXXXXXA"},
		{"protocol_version", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.Alerts = []tlsrecord.Alert{{Dir: reassembly.ServerToClient, At: tlsMark(21, 1.001), Level: 2, Description: tlsrecord.AlertProtocolVersion}}
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndAlert, reassembly.ServerToClient, tlsMark(21, 1.001)
			})
		}), LayerTLS, CauseTLSVersionMismatch, true, "up to TLS 1.3"},
		{"bad_certificate in 1.2", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(0)
				f.Certificates = []tlsrecord.Certificate{{Subject: "CN=relay.example", SelfSigned: true}}
				f.Alerts = []tlsrecord.Alert{{Dir: reassembly.ClientToServer, At: tlsMark(23, 1.002), Level: 2, Description: tlsrecord.AlertBadCertificate}}
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndAlert, reassembly.ClientToServer, tlsMark(23, 1.002)
			})
		}), LayerTLS, CauseTLSCertRejected, true, "self-signed"},
		{"alert-sized record in 1.3", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(tlsrecord.VersionTLS13)
				f.Finished[reassembly.ServerToClient] = tlsMark(22, 1.0015)
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndProbableAlert, reassembly.ClientToServer, tlsMark(23, 1.002)
			})
		}), LayerTLS, CauseTLSCertRejected, true, "probably"},
		{"alert-sized record in 1.3, decrypted: unknown_ca", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(tlsrecord.VersionTLS13)
				f.Finished[reassembly.ServerToClient] = tlsMark(22, 1.0015)
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndProbableAlert, reassembly.ClientToServer, tlsMark(23, 1.002)
			})
			s.TLS.Decryption = &smtp.Decryption{State: smtp.DecryptionDecrypted,
				Alerts: []tlsrecord.Alert{{Dir: reassembly.ClientToServer, At: tlsMark(23, 1.002), Level: 2, Description: tlsrecord.AlertUnknownCA, Decrypted: true}}}
		}), LayerTLS, CauseTLSCertRejected, true, "rejected the server's certificate (alert unknown_ca, encrypted on the wire and read with the key log)"},
		{"alert-sized record in 1.3, decrypted: decrypt_error", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(tlsrecord.VersionTLS13)
				f.Finished[reassembly.ServerToClient] = tlsMark(22, 1.0015)
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndProbableAlert, reassembly.ClientToServer, tlsMark(23, 1.002)
			})
			s.TLS.Decryption = &smtp.Decryption{State: smtp.DecryptionDecrypted,
				Alerts: []tlsrecord.Alert{{Dir: reassembly.ClientToServer, At: tlsMark(23, 1.002), Level: 2, Description: tlsrecord.AlertDecryptError, Decrypted: true}}}
		}), LayerTLS, CauseTLSHandshakeFailed, true, "the client sent the alert decrypt_error, encrypted on the wire"},
		{"encrypted alert in 1.2, decrypted", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(0)
				f.Alerts = []tlsrecord.Alert{{Dir: reassembly.ServerToClient, At: tlsMark(25, 1.003), Protected: true}}
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndAlert, reassembly.ServerToClient, tlsMark(25, 1.003)
			})
			s.TLS.Decryption = &smtp.Decryption{State: smtp.DecryptionDecrypted,
				Alerts: []tlsrecord.Alert{{Dir: reassembly.ServerToClient, At: tlsMark(25, 1.003), Level: 2, Description: tlsrecord.AlertHandshakeFailure, Decrypted: true}}}
		}), LayerTLS, CauseTLSHandshakeFailed, true, "the server sent the alert handshake_failure, encrypted on the wire"},
		{"handshake_failure", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.Alerts = []tlsrecord.Alert{{Dir: reassembly.ServerToClient, At: tlsMark(21, 1.001), Level: 2, Description: tlsrecord.AlertHandshakeFailure}}
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndAlert, reassembly.ServerToClient, tlsMark(21, 1.001)
			})
		}), LayerTLS, CauseTLSHandshakeFailed, true, "handshake_failure"},
		{"hello never answered", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndRST, reassembly.ServerToClient, tlsMark(30, 5)
			})
		}), LayerTLS, CauseTLSHandshakeFailed, true, "never answered"},
		{"capture ends in the handshake", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.Ending, f.EndedAt = tlsrecord.EndCaptureEnd, tlsMark(21, 1.001)
			})
		}), LayerCapture, CauseCaptureIncomplete, false, "cannot be told"},
		{"completed", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(tlsrecord.VersionTLS13)
				f.Ending, f.EndedAt = tlsrecord.EndComplete, tlsMark(24, 1.004)
			})
		}), LayerNone, CauseOK, false, ""},
		{"inferred no-reply", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(tlsrecord.VersionTLS13)
				f.Ending, f.EndedAt = tlsrecord.EndComplete, tlsMark(24, 1.004)
			})
			s.TLS.Inferred = []smtp.Transaction{{SizeParam: -1, Size: 1310000, DataFrame: 40, DataTime: at(2), EndOfDataFrame: 120, EndOfDataTime: at(2.5),
				Outcome: smtp.OutcomeNoReply, Ended: smtp.EndClientClosed, EndFrame: 122, EndTime: at(22.6),
				Inferred: &smtp.Inference{Records: 83, Bytes: 1311000, SizeMin: 1309000, SizeMax: 1310000, NextLength: 24, Version: "TLS 1.3"}}}
		}), LayerL7, CauseEODNoReply, true, "client sent 1.31 MB in 83 records; no record from the server for 20.1 s; the client then sent a 24-byte record"},
		{"inferred answered", base(func(s *smtp.Session) {
			s.TLS = handshake(func(f *tlsrecord.Facts) {
				f.ServerHello = serverHello(tlsrecord.VersionTLS13)
				f.Ending, f.EndedAt = tlsrecord.EndComplete, tlsMark(24, 1.004)
			})
			s.TLS.Inferred = []smtp.Transaction{{SizeParam: -1, Size: 2100, DataFrame: 40, DataTime: at(2), EndOfDataFrame: 40, EndOfDataTime: at(2),
				Inferred: &smtp.Inference{Records: 1, Bytes: 2122, SizeMin: 2100, SizeMax: 2100, Answered: true, AnswerFrame: 42, AnswerTime: at(2.01), AnswerLength: 39}}}
		}), LayerNone, CauseOK, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build([]Input{{Name: "x.pcapng"}}, []Facts{{Conn: conn(), Health: healthy, Session: tt.session, SMTPPort: true}}, Options{})
			c := r.Connections[0]
			d := c.Diagnosis
			if d.Layer != tt.layer || d.Cause != tt.cause || !strings.Contains(d.Summary, tt.words) {
				t.Errorf("diagnosis = %s/%s (%s), want %s/%s with %q", d.Layer, d.Cause, d.Summary, tt.layer, tt.cause, tt.words)
			}
			if r.Failed() != tt.failed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.failed)
			}
			if tt.session.TLS != nil && tt.session.TLS.Inferred != nil {
				tx := c.SMTP.Transactions[len(c.SMTP.Transactions)-1]
				if !tx.Inferred || tx.SizeMin == 0 || tx.SizeMax < tx.SizeMin {
					t.Errorf("inferred transaction %+v", tx)
				}
			}
		})
	}
}

func TestMaskedExtension(t *testing.T) {
	for kw, want := range map[string]bool{
		"XXXXXXXA": true, "XXXXXXXXXX": true, "XXXXA": true, "STARTTLS": false, "XXA": false,
		"8BITMIME": false, "SIZE 1000": false, "XXXXXXXA 10": true, "XXXXXXXa": false,
	} {
		if got := isMaskedExtension(kw); got != want {
			t.Errorf("isMaskedExtension(%q) = %v, want %v", kw, got, want)
		}
	}
}

func TestTLSLine(t *testing.T) {
	tls := tlsOf(handshake(func(f *tlsrecord.Facts) {
		f.ServerHello = &tlsrecord.ServerHello{At: tlsMark(21, 1.001), SupportedVersion: tlsrecord.VersionTLS13, CipherSuite: 0x1302}
		f.Ending, f.EndedAt = tlsrecord.EndComplete, tlsMark(24, 1.0041)
	}), &redactor{})
	want := "TLS 1.3 · TLS_AES_256_GCM_SHA384 · SNI relay.example · handshake 4.1 ms"
	if got := TLSLine(tls); got != want {
		t.Errorf("TLSLine = %q, want %q", got, want)
	}
}

// TestHTMLLadderHandshake checks that the ladder of a failed handshake
// draws the hellos, the alert and where the handshake ended.
func TestHTMLLadderHandshake(t *testing.T) {
	s := &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001)}
	s.TLS = handshake(func(f *tlsrecord.Facts) {
		f.ServerHello = serverHello(0)
		f.Alerts = []tlsrecord.Alert{{Dir: reassembly.ClientToServer, At: tlsMark(23, 1.002), Level: 2, Description: tlsrecord.AlertUnknownCA}}
		f.Ending, f.EndedBy, f.EndedAt = tlsrecord.EndAlert, reassembly.ClientToServer, tlsMark(23, 1.002)
	})
	r := Build([]Input{{Name: "x.pcapng"}}, []Facts{{Conn: conn(), Health: reassembly.Health{}, Session: s, SMTPPort: true}}, Options{})
	page := string(renderHTML(t, r))
	for _, want := range []string{"ClientHello (up to TLS 1.3)", "ServerHello TLS 1.2 TLS_AES_128_GCM_SHA256", "alert fatal unknown_ca", "TLS handshake ended: alert"} {
		if !strings.Contains(page, want) {
			t.Errorf("the ladder lacks %q", want)
		}
	}
}
