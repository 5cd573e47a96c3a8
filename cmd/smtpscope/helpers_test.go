package main

import (
	"testing"

	"github.com/smtpscope/smtpscope/internal/testcaptures"
)

// testCaptures lists every capture in the repository's test data.
func testCaptures(t *testing.T) []string {
	t.Helper()
	return testcaptures.All(t, repoRoot)
}
