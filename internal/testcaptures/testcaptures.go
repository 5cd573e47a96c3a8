// Package testcaptures lists the capture files in the repository's test
// data, for the tests of several packages that run over all of them. It is
// test support only: nothing in smtpscope itself imports it.
package testcaptures

import (
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// extensions are the endings of capture files in the test data; everything
// else there (tshark views, expectations, goldens, scripts, manifests) is
// not a capture.
var extensions = []string{".pcap", ".pcapng", ".cap", ".gz", ".zst"}

// dirs are where captures are, relative to the repository's root: the
// public ones, the fault lab's, the capture package's fixtures (whole and
// cut short) and any at the top of testdata/.
var dirs = []string{"testdata/captures", "testdata/scenarios/captures", "capture/testdata", "capture/testdata/cut", "testdata"}

// All returns every capture in the test data below root (the repository's
// root, relative to the calling test), sorted. It fails t when it finds
// fewer than 80, which means the globs no longer match the tree.
func All(t testing.TB, root string) []string {
	t.Helper()
	var files []string
	for _, dir := range dirs {
		m, _ := filepath.Glob(filepath.Join(root, dir, "*"))
		for _, f := range m {
			if slices.Contains(extensions, filepath.Ext(f)) {
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
