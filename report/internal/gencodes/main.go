// Command gencodes writes report/codes_gen.go, the reply-code and enhanced
// status code tables, from docs/SMTP-CODES.md. Run it from the report
// directory through go generate:
//
//	go generate ./report
//
// Edit the document, never the output; report's tests fail when the two
// disagree.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/smtpscope/smtpscope/report/internal/codetable"
)

// Paths are relative to the report directory, where go generate runs.
var (
	docPath = filepath.Join("..", filepath.FromSlash(codetable.Source))
	outPath = "codes_gen.go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gencodes:", err)
		os.Exit(1)
	}
}

func run() error {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	src, err := codetable.Generate(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", docPath, err)
	}
	return os.WriteFile(outPath, src, 0o644)
}
