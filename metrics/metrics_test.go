package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
)

const repoRoot = ".."

// scrape returns the metrics page.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMetricsOfCaptures feeds the connections of the fault lab's captures
// to the metrics and checks the counts a scrape shows.
func TestMetricsOfCaptures(t *testing.T) {
	m := New(Options{Version: "test", Dropped: func() (int, int) { return 7, 0 }})
	var names []string
	for _, s := range []string{"healthy", "relay-stall", "eod-552", "reset-mid-data", "tls-cert-rejected-12"} {
		names = append(names, filepath.Join(repoRoot, "testdata/scenarios/captures", s+".pcapng"))
	}
	rep, _, err := pipeline.Files(context.Background(), names, nil, pipeline.Options{Connection: m.Connection})
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	m.Incident(&report.Incident{Kind: report.CauseEODTimeout, Server: "127.0.0.1:25"})
	m.SetOpen(3)
	m.AddBytes(1500)
	m.AddRingDropped(2)
	m.AddRingDropped(3)
	page := scrape(t, m)
	for _, want := range []string{
		`smtpscope_transactions_total{outcome="no-reply",server="127.0.0.1:25"} 1`,
		`smtpscope_transactions_total{outcome="rejected",server="127.0.0.1:25"} 1`,
		`smtpscope_transaction_failures_total{cause="eod-no-reply",server="127.0.0.1:25"} 1`,
		`smtpscope_incidents_total{kind="eod-timeout",server="127.0.0.1:25"} 1`,
		`smtpscope_eod_reply_latency_seconds_count{server="127.0.0.1:25"}`,
		`smtpscope_connections_total{l4_verdict="healthy",server="127.0.0.1:25"}`,
		`smtpscope_tls_failures_total{cause="tls-cert-rejected",server="127.0.0.1:25"} 1`,
		`smtpscope_open_connections 3`,
		`smtpscope_analysed_bytes_total 1500`,
		`smtpscope_capture_dropped_packets_total{by="kernel"} 7`,
		`smtpscope_capture_dropped_packets_total{by="interface"} 0`,
		`smtpscope_capture_dropped_packets_total{by="ring"} 5`,
		`smtpscope_build_info{goversion="go`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(page)
	}
	checkMetrics(t, page)
}

// TestServerLabelBound checks that servers beyond MaxServers share the
// label "other".
func TestServerLabelBound(t *testing.T) {
	m := New(Options{MaxServers: 2})
	for _, s := range []string{"10.0.0.1:25", "10.0.0.2:25", "10.0.0.3:25", "10.0.0.4:25", "10.0.0.1:25"} {
		m.Connection(&report.Connection{Server: s, L4: report.L4{Verdict: "healthy"}})
	}
	page := scrape(t, m)
	for _, want := range []string{
		`smtpscope_connections_total{l4_verdict="healthy",server="10.0.0.1:25"} 2`,
		`smtpscope_connections_total{l4_verdict="healthy",server="10.0.0.2:25"} 1`,
		`smtpscope_connections_total{l4_verdict="healthy",server="other"} 2`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("scrape lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "10.0.0.3") {
		t.Errorf("a server beyond the bound has its own label")
	}
}

// promtool finds promtool (Debian package prometheus, installed by
// scripts/setup.sh); CI counts a skip as a failure, so its absence fails.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run scripts/setup.sh (Debian package prometheus)")
	}
	return p
}

// checkMetrics runs promtool check metrics (the naming practice's lint)
// on a scrape.
func checkMetrics(t *testing.T, page string) {
	t.Helper()
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestAlertRules checks deploy/prometheus/smtpscope.rules.yml with
// promtool check rules, and runs its unit tests.
func TestAlertRules(t *testing.T) {
	dir := filepath.Join(repoRoot, "deploy", "prometheus")
	if _, err := os.Stat(filepath.Join(dir, "smtpscope.rules.yml")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check", "rules", "smtpscope.rules.yml"},
		{"test", "rules", "smtpscope.rules.test.yml"},
	} {
		cmd := exec.Command(promtool(t), args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
