package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/report/internal/codetable"
)

// TestCodesGenerated fails when codes_gen.go no longer matches what the
// generator makes of docs/SMTP-CODES.md: someone edited one without the
// other. Fix it with go generate ./report.
func TestCodesGenerated(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(codetable.Source)))
	if err != nil {
		t.Fatal(err)
	}
	want, err := codetable.Generate(doc)
	if err != nil {
		t.Fatalf("codetable.Generate(%s) = %v", codetable.Source, err)
	}
	got, err := os.ReadFile("codes_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("codes_gen.go is stale; run go generate ./report\nline %d:\n have %q\n want %q", i+1, g, w)
		}
	}
}

func TestCodeMeaning(t *testing.T) {
	tests := []struct {
		code     int
		enhanced string
		want     string
	}{
		// Exchange readings belong to the exact code, for an Exchange server.
		{421, "4.4.2", `bad connection (Exchange: "Connection dropped")`}, // Postfix's reading only for Postfix
		{451, "4.3.1", `mail system full (Exchange: "Insufficient system resources", back pressure)`},
		{421, "4.4.1", `no answer from host (Exchange: "Connection timed out")`},
		{550, "5.7.1", `delivery not authorized, message refused (Exchange: "Unable to relay / Client was not authenticated")`},
		{550, "5.1.8", `bad sender's system address (Exchange: "Access denied, bad outbound sender")`},
		{550, "4.4.7", `delivery time expired (Exchange: "Message delayed" / "QUEUE.Expired")`},
		{451, "4.7.320", "Microsoft 365: certificate validation failed"},
		// Other classes of the same subject.detail get the RFC 3463 meaning only.
		{554, "5.3.1", "mail system full"},
		{554, "5.4.2", "bad connection"},
		{554, "5.7.320", "transaction failed"},
		{552, "5.3.4", `message too big for system (Exchange: "Message size exceeds fixed maximum message size")`},
		{454, "4.7.0", "other security status"},
		{550, "5.1.1", "bad destination mailbox address"},
		{556, "5.1.10", "recipient address has null MX"},
		{534, "5.7.9", "authentication mechanism too weak"},
		{554, "5.6.0", "other or undefined media error"},
		{554, "5.6.3", "content/media: not supported, conversion required/prohibited/failed"},
		{530, "5.7.30", "REQUIRETLS support required"},
		// Without a known enhanced code the basic code speaks.
		{501, "", "syntax error in parameters or arguments"},
		{550, "", "mailbox unavailable"},
		{421, "", "service not available, closing transmission channel"},
		{451, "4.9.99", "requested action aborted: local error in processing"},
		{550, "garbage", "mailbox unavailable"},
		{554, ".", "transaction failed"},
		// Unknown everywhere.
		{599, "", ""},
		{599, "5.9.99", ""},
		{0, "", ""},
	}
	for _, tt := range tests {
		if got := codeMeaning(tt.code, tt.enhanced, exchange); got != tt.want {
			t.Errorf("codeMeaning(%d, %q, Exchange) = %q, want %q", tt.code, tt.enhanced, got, tt.want)
		}
	}
}

// exchange is the evidence of an Exchange server: its banner.
var exchange = vendors{"mx.contoso.com Microsoft ESMTP MAIL Service ready at Mon, 2 Dec 2026 10:00:00 +0000"}

// TestCodeMeaningVendorEvidence: a vendor's reading of a code is shown
// only where the banner or the reply's text shows that vendor; otherwise
// the RFC 3463 meaning stands alone (issue 20: a "554 5.7.1 Message
// contains virus" is not Exchange's "Unable to relay").
func TestCodeMeaningVendorEvidence(t *testing.T) {
	tests := []struct {
		code     int
		enhanced string
		seen     vendors
		want     string
	}{
		{554, "5.7.1", vendors{"Message contains virus: rejected", "mx.example.org ESMTP Exim 4.96"}, "delivery not authorized, message refused"},
		{554, "5.7.1", nil, "delivery not authorized, message refused"},
		{550, "5.7.1", vendors{"5.7.1 Unable to relay", "mail.contoso.com Microsoft ESMTP MAIL Service ready"},
			`delivery not authorized, message refused (Exchange: "Unable to relay / Client was not authenticated")`},
		{421, "4.4.2", vendors{"mx.example.org ESMTP Postfix (Debian/GNU)"}, `bad connection (Postfix: "lost connection" and "timed out")`},
		{421, "4.4.2", vendors{"mx.example.org ESMTP"}, "bad connection"},
		{451, "4.7.320", vendors{"BN8NAM11FT066.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready"},
			"Microsoft 365: certificate validation failed"},
		{451, "4.7.320", vendors{"mx.example.org ESMTP"}, "requested action aborted: local error in processing"},
	}
	for _, tt := range tests {
		if got := codeMeaning(tt.code, tt.enhanced, tt.seen); got != tt.want {
			t.Errorf("codeMeaning(%d, %q, %q) = %q, want %q", tt.code, tt.enhanced, tt.seen, got, tt.want)
		}
	}
}

// TestCodesWithoutBasicCode: a reply that lost its basic code but kept
// its enhanced one ("4.7.0 [IPTS04] ...", suricata-verify's smtperr) is
// shown by the code it has, never as a made-up "0", and its filter finds
// it by frame (tshark gives it no smtp.response.code).
func TestCodesWithoutBasicCode(t *testing.T) {
	for _, c := range []struct {
		code     int
		enhanced string
		want     string
		filter   string
	}{
		{451, "4.7.0", "451 4.7.0", "tcp.stream eq 1 && smtp.response.code == 451"},
		{250, "", "250", "tcp.stream eq 1 && smtp.response.code == 250"},
		{0, "4.7.0", "4.7.0", "tcp.stream eq 1 && frame.number == 122"},
		{0, "", "no code", "tcp.stream eq 1 && frame.number == 122"},
	} {
		if got := codes(c.code, c.enhanced); got != c.want {
			t.Errorf("codes(%d, %q) = %q, want %q", c.code, c.enhanced, got, c.want)
		}
		if got := replyFilter("tcp.stream eq 1", c.code, 122); got != c.filter {
			t.Errorf("replyFilter(%d) = %q, want %q", c.code, got, c.filter)
		}
	}
}
