package pipeline

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/report"
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

// renderReport writes rep in each of the formats (json, text, markdown,
// html), one after another.
func renderReport(t *testing.T, rep *report.Report, formats ...string) string {
	t.Helper()
	var b bytes.Buffer
	for _, format := range formats {
		var err error
		switch format {
		case "json":
			err = rep.WriteJSON(&b)
		case "text":
			err = rep.WriteText(&b, report.TextOptions{})
		case "markdown":
			err = rep.WriteMarkdown(&b, report.ViewOptions{})
		case "html":
			err = rep.WriteHTML(&b, report.ViewOptions{})
		default:
			t.Fatalf("unknown format %q", format)
		}
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
	}
	return b.String()
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}

// repoRoot is the repository's top directory, from this package's.
const repoRoot = ".."
