package main

import (
	"context"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/events"
	"github.com/smtpscope/smtpscope/metrics"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/wiring"
)

// liveConfig is wiring.LiveConfig as the live tests write it.
type liveConfig struct {
	ports, tlsPorts            []uint16
	eodTimeout, connectTimeout time.Duration
	idleTimeout                time.Duration
	interval                   time.Duration
	report                     report.Options
	events                     *events.Console
	sink                       *events.Writer
	metrics                    *metrics.Metrics
	packets                    *capture.Writer
	evidence                   *pipeline.LiveEvidence
	clock                      func() time.Time
	listFailed, listHealthy    int
	maxConnections             int
	tlsKeys                    *tlskeys.KeyLog
	pollTLSKeys                func(*tlskeys.KeyLog) int
}

// liveResult is the end of a run: the report, and the error that cut the
// capture short, if any.
type liveResult struct {
	report *report.Report
	err    error
}

// runLiveLoop runs wiring.RunLive, the live loop of "smtpscope live".
func runLiveLoop(ctx context.Context, src pipeline.LiveSource, cfg liveConfig) liveResult {
	rep, err := wiring.RunLive(ctx, src, wiring.LiveConfig{
		Ports: cfg.ports, TLSPorts: cfg.tlsPorts, EODTimeout: cfg.eodTimeout, ConnectTimeout: cfg.connectTimeout, IdleTimeout: cfg.idleTimeout,
		Interval: cfg.interval, Report: cfg.report, Events: cfg.events, Sink: cfg.sink, Metrics: cfg.metrics,
		Packets: cfg.packets, Evidence: cfg.evidence, Clock: cfg.clock, ListFailed: cfg.listFailed, ListHealthy: cfg.listHealthy,
		MaxConnections: cfg.maxConnections, TLSKeys: cfg.tlsKeys, PollTLSKeys: cfg.pollTLSKeys,
	})
	return liveResult{report: rep, err: err}
}
