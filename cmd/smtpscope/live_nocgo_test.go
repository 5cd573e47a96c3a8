//go:build !cgo

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLiveWithoutCgo checks, in a build without cgo, that live fails at
// once with exit status 2 and says it needs cgo.
func TestLiveWithoutCgo(t *testing.T) {
	var out, errOut bytes.Buffer
	if status := run([]string{"live", "-i", "lo", "--duration", "1s"}, nil, &out, &errOut); status != exitError {
		t.Errorf("live without cgo: exit %d, want %d", status, exitError)
	}
	if want := "live capture needs a build with cgo and libpcap"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q, want %q in it", errOut.String(), want)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
}
