package main

import (
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// captureExtensions are the endings of capture files in the test data;
// everything else there (tshark views, expectations, goldens, scripts,
// manifests) is not a capture.
var captureExtensions = []string{".pcap", ".pcapng", ".cap", ".gz", ".zst"}

// testCaptures lists every capture in the repository's test data: the
// public ones, the fault lab's, the capture package's fixtures (whole and
// cut short) and any at the top of testdata/.
func testCaptures(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"testdata/captures", "testdata/scenarios/captures", "capture/testdata", "capture/testdata/cut", "testdata"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, dir, "*"))
		for _, f := range m {
			if slices.Contains(captureExtensions, filepath.Ext(f)) {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	if len(files) < 80 {
		t.Fatalf("found %d captures; the glob is wrong", len(files))
	}
	return files
}
