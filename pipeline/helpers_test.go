package pipeline

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/internal/testcaptures"
	"github.com/smtpscope/smtpscope/report"
)

// testCaptures lists every capture in the repository's test data.
func testCaptures(t *testing.T) []string {
	t.Helper()
	return testcaptures.All(t, repoRoot)
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
