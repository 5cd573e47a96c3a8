package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/wiring"
)

// runHubs is "analyze --hub": each hub analysed on its own, then compared.
func runHubs(f *analyzeFlags, args []string, stdout, stderr io.Writer) int {
	hubs, ports, err := f.checkHubs(args)
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope analyze: %s\n", err)
		return exitError
	}
	return exitStatus(wiring.Hubs(context.Background(), wiring.HubOptions{
		Hubs: hubs, Pipeline: pipeline.Options{ServerPorts: ports, Merge: f.merge, Workers: f.workers,
			Report: report.Options{SlowReply: f.slowReply, Redact: f.redact}},
		Format: f.format, Output: f.output, Color: f.color, All: f.all,
	}, stdout, stderr))
}

// checkHubs parses the --hub flags and refuses what does not go with them.
func (f *analyzeFlags) checkHubs(args []string) ([]pipeline.Hub, []uint16, error) {
	switch {
	case len(args) > 0:
		return nil, nil, fmt.Errorf("with --hub, give every file in a --hub (not %s)", args[0])
	case len(f.hubs) < 2:
		return nil, nil, errors.New("--hub compares hubs: give at least two")
	case f.evidence != "" || len(f.logs.Patterns) > 0 || f.events != "" || len(f.tlsKeyLog) > 0:
		return nil, nil, errors.New("--evidence, --log, --events and --tls-keylog do not go with --hub (run analyze per hub for them)")
	case f.format != "text" && f.format != "json":
		return nil, nil, fmt.Errorf("--format %s: --hub writes text or json", f.format)
	case f.workers < 1 || f.workers > 256:
		return nil, nil, fmt.Errorf("--workers %d: want 1 to 256", f.workers)
	}
	var hubs []pipeline.Hub
	seen := map[string]bool{}
	for _, h := range f.hubs {
		name, files, ok := strings.Cut(h, "=")
		if !ok || name == "" || files == "" {
			return nil, nil, fmt.Errorf("--hub %q: want NAME=FILE[,FILE...]", h)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("--hub %s given twice", name)
		}
		seen[name] = true
		hubs = append(hubs, pipeline.Hub{Name: name, Files: strings.Split(files, ",")})
	}
	ports, err := withPorts("smtp-ports", pipeline.DefaultServerPorts, f.smtpPorts)
	return hubs, ports, err
}
