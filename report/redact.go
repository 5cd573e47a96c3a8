package report

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// redactor replaces mail addresses and host names with stable tokens so
// that a redacted report still shows which messages share a sender.
type redactor struct{ on bool }

func newRedactor(on bool) *redactor { return &redactor{on: on} }

func token(s string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(s)))
	return hex.EncodeToString(sum[:4])
}

// mail redacts an address (local part and domain separately).
func (r *redactor) mail(s string) string {
	if !r.on || s == "" {
		return s
	}
	t := strings.Trim(s, "<>")
	if t == "" {
		return s // the null reverse-path <> is not personal
	}
	local, domain, ok := strings.Cut(t, "@")
	if !ok {
		return "redacted-" + token(t)
	}
	return "user-" + token(local) + "@domain-" + token(domain)
}

// host redacts a HELO name.
func (r *redactor) host(s string) string {
	if !r.on || s == "" {
		return s
	}
	return "host-" + token(s)
}
