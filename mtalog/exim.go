package mtalog

// Exim main log: not read yet. Detection is in place so that an Exim log
// is named as such in the error rather than called unknown.

import (
	"strings"
)

// isEximLine tells whether s looks like an Exim main log line:
// "2026-12-01 22:30:00 1tXyZa-000123-AB <= …" (message ID, then a flag).
func isEximLine(s string) bool {
	if len(s) < 20 || s[4] != '-' || s[10] != ' ' || s[13] != ':' {
		return false
	}
	f := strings.Fields(s)
	if len(f) < 4 {
		return false
	}
	switch f[3] {
	case "<=", "=>", "->", "==", "**", "*>", "Completed":
		return true
	}
	return false
}

type eximParser struct{ log *Log }

func newEximParser(log *Log, _ Options) *eximParser { return &eximParser{log: log} }

func (p *eximParser) line(int, string) {}

func (p *eximParser) finish() []Session { return nil }
