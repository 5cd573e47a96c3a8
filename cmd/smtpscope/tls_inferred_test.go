package main

import (
	"html"
	"path/filepath"
	"strings"
	"testing"
)

// TestInferredMarkedInEveryFormat: a transaction inferred from TLS records
// (no key) says so wherever it is shown — the text line, the Markdown and
// HTML message titles and body facts, the one-line list of the other
// messages — and never reads as a plaintext transaction ("none sent",
// "via DATA"). The plaintext seed incident shows no such mark.
func TestInferredMarkedInEveryFormat(t *testing.T) {
	const mark = "inferred from TLS records"
	for _, name := range []string{"tls-stall-12", "tls-stall-13", "tls-implicit-stall"} {
		path := filepath.Join(repoRoot, scenarioCaptures, name+".pcapng")
		t.Run(name, func(t *testing.T) {
			text := analyzeOutput(t, "--color", "never", path)
			if !strings.Contains(text, mark+": NO-REPLY") || !strings.Contains(text, mark+": UNKNOWN") {
				t.Errorf("text report does not mark both inferred messages:\n%s", text)
			}
			for _, format := range []string{"markdown", "html"} {
				out := analyzeOutput(t, "--format", format, path)
				if format == "html" {
					out = html.UnescapeString(out)
				}
				for _, want := range []string{
					"Message 2 of 2 (" + mark + "): no reply after end-of-data", // the failed message's title
					"Message 1 of 2 (" + mark + "): ",                           // the answered one, listed
					"inferred from the sizes of the client's TLS records",       // its body fact
				} {
					if !strings.Contains(out, want) {
						t.Errorf("%s report lacks %q", format, want)
					}
				}
				if strings.Contains(out, "none sent") {
					t.Errorf("%s report says an inferred body was %q", format, "none sent")
				}
			}
		})
	}
	plain := filepath.Join(repoRoot, scenarioCaptures, "relay-stall.pcapng")
	for _, format := range []string{"text", "markdown", "html"} {
		if out := analyzeOutput(t, "--format", format, plain); strings.Contains(out, mark) {
			t.Errorf("plaintext seed incident, %s report: marked %q", format, mark)
		}
	}
}
