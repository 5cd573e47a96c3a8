package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/smtp"
)

// pipelineOptions are the analysis settings the flags produce.
type pipelineOptions struct {
	serverPorts []uint16
	redact      bool
}

// analyzeFiles runs capture → reassembly → smtp → report over each named
// input ("-" = stdin) and returns one report. An input that cannot be read
// at all is an error; one that breaks off part-way is analysed up to the
// break and carries a warning.
func analyzeFiles(names []string, stdin io.Reader, opts pipelineOptions) (*report.Report, error) {
	var inputs []report.Input
	var facts []report.Facts
	for i, name := range names {
		in, fs, err := analyzeFile(i, name, stdin, opts)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
		facts = append(facts, fs...)
	}
	return report.Build(inputs, facts, report.Options{Redact: opts.redact}), nil
}

func open(name string, stdin io.Reader) (*capture.File, error) {
	if name == "-" {
		return capture.Open("-", stdin)
	}
	return capture.OpenFile(name)
}

func analyzeFile(index int, name string, stdin io.Reader, opts pipelineOptions) (report.Input, []report.Facts, error) {
	f, err := open(name, stdin)
	if err != nil {
		return report.Input{}, nil, err
	}
	defer f.Close()
	tr := reassembly.NewTracker(reassembly.Options{
		ServerPorts: opts.serverPorts,
		NewHandler:  func(*reassembly.Conn) reassembly.Handler { return smtp.NewDecoder(smtp.Options{}) },
	})
	in := report.Input{Name: name}
	var linkErr error
	for {
		fr, err := f.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if f.Info().Packets == 0 && !errors.Is(err, capture.ErrTruncated) {
				return in, nil, err
			}
			in.Warnings = append(in.Warnings, fmt.Sprintf("%v; the report covers the %d frames before it", err, f.Info().Packets))
			break
		}
		fr.Input = index
		if in.Start.IsZero() || fr.Time.Before(in.Start) {
			in.Start = fr.Time
		}
		if fr.Time.After(in.End) {
			in.End = fr.Time
		}
		if err := tr.Add(&fr); err != nil && linkErr == nil {
			linkErr = err
		}
	}
	tr.Close()
	info := f.Info()
	in.Format, in.Packets, in.Truncated = info.Format, info.Packets, info.Truncated
	st := tr.Stats()
	if st.UnsupportedLink > 0 {
		if st.UnsupportedLink == st.Frames {
			return in, nil, fmt.Errorf("%s: %w", name, linkErr)
		}
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d frames skipped: %v", st.UnsupportedLink, linkErr))
	}
	if st.Recovered > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d reassembly faults recovered; affected connections are cut short", st.Recovered))
	}
	var facts []report.Facts
	for _, c := range tr.Conns() {
		fc := report.Facts{Conn: c, Health: c.Health(), SMTPPort: slices.Contains(opts.serverPorts, c.Server.Port())}
		if d, ok := c.Handler.(*smtp.Decoder); ok {
			fc.Session = d.Session()
		}
		facts = append(facts, fc)
	}
	return in, facts, nil
}
