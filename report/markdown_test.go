package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func renderMarkdown(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, ViewOptions{}); err != nil {
		t.Fatalf("WriteMarkdown: %v", err)
	}
	return b.String()
}

func TestWriteMarkdownGolden(t *testing.T) {
	for _, tt := range renderCases() {
		t.Run(tt.name, func(t *testing.T) {
			out := renderMarkdown(t, tt.report)
			golden(t, tt.name+".md", []byte(out))
			checkMarkdown(t, out)
		})
	}
}

// codeSpan matches a CommonMark code span: a backtick run, then anything
// up to a run of the same length.
var codeSpan = regexp.MustCompile("(`+)")

// stripCodeSpans removes the code spans from a line, returning the prose
// around them, or ok=false if a span is not closed.
func stripCodeSpans(line string) (prose string, ok bool) {
	var b strings.Builder
	for {
		loc := codeSpan.FindStringIndex(line)
		if loc == nil {
			b.WriteString(line)
			return b.String(), true
		}
		if loc[0] > 0 && line[loc[0]-1] == '\\' {
			b.WriteString(line[:loc[1]])
			line = line[loc[1]:]
			continue
		}
		b.WriteString(line[:loc[0]])
		fence := line[loc[0]:loc[1]]
		rest := line[loc[1]:]
		// The closing run must be exactly as long as the opening one.
		closed := false
		for i := 0; i < len(rest); {
			m := codeSpan.FindStringIndex(rest[i:])
			if m == nil {
				break
			}
			if m[1]-m[0] == len(fence) {
				line = rest[i+m[1]:]
				closed = true
				break
			}
			i += m[1]
		}
		if !closed {
			return "", false
		}
		b.WriteString("CODE")
	}
}

// checkMarkdown holds output to the escaping WriteMarkdown promises:
// code spans close on their line, prose has no unescaped markup or
// syntax characters from data, and table rows have their column count.
func checkMarkdown(t *testing.T, md string) {
	t.Helper()
	cols := 0
	for n, line := range strings.Split(md, "\n") {
		prose, ok := stripCodeSpans(strings.TrimPrefix(line, "> "))
		if !ok {
			t.Errorf("line %d has an unclosed code span: %q", n+1, line)
			continue
		}
		for i := 0; i < len(prose); i++ {
			switch prose[i] {
			case '\\':
				i++ // an escape
			case '*':
				if strings.HasPrefix(prose[i:], "**") {
					i++ // the writer's own bold
					continue
				}
				t.Errorf("line %d has an unescaped '*' outside code: %q", n+1, line)
			case '<', '>', '`', '[', ']', '_', '$', '@':
				t.Errorf("line %d has an unescaped %q outside code: %q", n+1, prose[i], line)
			}
		}
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		// Cells are separated by pipes without a backslash before them.
		cells := len(regexp.MustCompile(`(^|[^\\])\|`).FindAllString(line, -1)) - 1
		if cols == 0 {
			cols = cells
		} else if cells != cols {
			t.Errorf("line %d has %d cells, the table has %d: %q", n+1, cells, cols, line)
		}
	}
}

func TestWriteMarkdownEscapes(t *testing.T) {
	md := renderMarkdown(t, hostile())
	checkMarkdown(t, md)
	// Outside code spans checkMarkdown finds markup; inside, it is inert.
	for _, bad := range []string{"\r", "\u202e", "\n## not a heading"} {
		if strings.Contains(md, bad) {
			t.Errorf("output contains raw %q", bad)
		}
	}
	for _, want := range []string{`\u202e`, `\r\n`, "\\<script\\>"} {
		if !strings.Contains(md, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(md, "\x1b[") {
		t.Error("output has ANSI colour codes")
	}
}

func TestMarkdownCode(t *testing.T) {
	tests := []struct {
		in   string
		cell bool
		want string
	}{
		{"tcp.stream eq 1", false, "`tcp.stream eq 1`"},
		{"a`b", false, "``a`b``"},
		{"`x`", false, "`` `x` ``"},
		{"a``b`c", false, "```a``b`c```"},
		{"a|b", false, "`a|b`"},
		{"a|b", true, "`a\\|b`"},
		{"x\r\ny", false, "`x\\r\\ny`"},
		{"\u202eabc", false, "`\\u202eabc`"},
		{" padded ", false, "`  padded  `"},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := mdCode(tt.in, tt.cell); got != tt.want {
			t.Errorf("mdCode(%q, %v) = %q, want %q", tt.in, tt.cell, got, tt.want)
		}
	}
}

func TestMarkdownText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"client sent the end-of-data \".\"", "client sent the end-of-data \".\""},
		{"<b>*x*</b>", `\<b\>\*x\*\</b\>`},
		{"a|b", `a\|b`},
		{"@team #12 $x$", `\@team \#12 \$x\$`},
		{"line\nbreak", `line\nbreak`},
		{"[x](y)", `\[x\](y)`},
	}
	for _, tt := range tests {
		if got := mdText(tt.in); got != tt.want {
			t.Errorf("mdText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteMarkdownBounded(t *testing.T) {
	md := renderMarkdown(t, huge(2000, 50))
	if n := strings.Count(md, "\n### "); n != maxGroupShown {
		t.Errorf("%d connection sections, want %d", n, maxGroupShown)
	}
	if !strings.Contains(md, "… and 1,995 more: `--all` or the JSON.") {
		t.Error("the group does not say how many were left out")
	}
	checkMarkdown(t, md)
}
