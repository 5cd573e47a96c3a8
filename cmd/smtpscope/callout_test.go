package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestPostfixCallout: a real Postfix verifies the recipient with the relay
// before it accepts it (testdata/scenarios/postfix/postfix-callout.sh,
// reject_unverified_recipient): its probe is MAIL, RCPT, RSET, QUIT and no
// DATA, a sender-verification callout. Nothing failed: the probe's
// envelope is withdrawn, and analyze exits 0 (#20; it was an aborted,
// failed transaction).
func TestPostfixCallout(t *testing.T) {
	in := filepath.Join(repoRoot, "testdata/scenarios/postfix/postfix-callout.pcapng")
	var out, errOut bytes.Buffer
	if st := run([]string{"analyze", "--format", "json", in}, nil, &out, &errOut); st != exitOK {
		t.Fatalf("exit %d, want %d: %s", st, exitOK, errOut.String())
	}
	var rep struct {
		Totals struct {
			Transactions, Delivered, Failed, Withdrawn int
		} `json:"totals"`
		Connections []struct {
			Server string `json:"server"`
			SMTP   *struct {
				Transactions []struct {
					Outcome  string `json:"outcome"`
					MailFrom string `json:"mail_from"`
				} `json:"transactions"`
			} `json:"smtp"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if tt := rep.Totals; tt.Transactions != 2 || tt.Delivered != 2 || tt.Failed != 0 || tt.Withdrawn != 1 {
		t.Errorf("totals %+v, want 2 transactions delivered and the probe withdrawn", tt)
	}
	probes := 0
	for _, c := range rep.Connections {
		if c.SMTP == nil {
			continue
		}
		for _, tx := range c.SMTP.Transactions {
			if tx.MailFrom == "double-bounce@mta.lab.test" {
				probes++
				if tx.Outcome != "withdrawn" || c.Server != "127.0.0.2:25" {
					t.Errorf("the probe to %s: %s, want withdrawn", c.Server, tx.Outcome)
				}
			}
		}
	}
	if probes != 1 {
		t.Errorf("%d verify probes, want 1", probes)
	}
}
