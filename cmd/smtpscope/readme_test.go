package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeSample keeps the README honest: its sample output must be
// what the command it names prints today.
func TestReadmeSample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const cmdLine = "bin/smtpscope analyze --color never testdata/scenarios/captures/relay-stall.pcapng"
	text := string(readme)
	if !strings.Contains(text, "`"+cmdLine+"`") {
		t.Fatalf("README no longer names the command %q", cmdLine)
	}
	_, after, ok := strings.Cut(text, "## What you see")
	if !ok {
		t.Fatal("README has no \"What you see\" section")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("no code block in \"What you see\"")
	}
	sample, _, _ := strings.Cut(block, "```")
	rel := "testdata/scenarios/captures/relay-stall.pcapng"
	var out, errOut bytes.Buffer
	run([]string{"analyze", "--color", "never", filepath.Join(repoRoot, rel)}, nil, &out, &errOut)
	got := strings.ReplaceAll(out.String(), filepath.Join(repoRoot, rel), rel)
	if got != sample {
		t.Errorf("README sample is stale; replace it with:\n%s", got)
	}
}
