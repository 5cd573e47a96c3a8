package pipeline

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/smtpscope/smtpscope/report"
)

// TestWorkersGiveTheSameReport checks that sharding the analysis over
// several workers changes nothing: on every capture in testdata, the JSON
// and text reports with 2 and 3 workers equal those with one, byte for
// byte, and so do the failing connections --evidence would cut.
func TestWorkersGiveTheSameReport(t *testing.T) {
	files := testCaptures(t)
	render := func(t *testing.T, f string, workers int, redact bool) (string, []ConnRef, bool) {
		opts := Options{Workers: workers, Report: report.Options{Redact: redact}}
		rep, failed, err := Files(context.Background(), []string{f}, nil, opts)
		if err != nil {
			return err.Error(), nil, false
		}
		defer rep.Close()
		return renderReport(t, rep, "json", "text"), failed, true
	}
	analysed := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, tc := range []struct {
				workers int
				redact  bool
			}{{2, false}, {3, true}} {
				want, wantFailed, ok := render(t, f, 1, tc.redact)
				if ok && !tc.redact {
					analysed++
				}
				got, gotFailed, _ := render(t, f, tc.workers, tc.redact)
				if got != want {
					t.Errorf("--workers %d (redact %v): report differs from one worker's:\n%s", tc.workers, tc.redact, firstDiff(want, got))
				}
				if len(gotFailed) != len(wantFailed) {
					t.Errorf("--workers %d: %d failing connections, want %d", tc.workers, len(gotFailed), len(wantFailed))
				}
				for i := range min(len(gotFailed), len(wantFailed)) {
					if gotFailed[i] != wantFailed[i] {
						t.Errorf("--workers %d: failing connection %d is %+v, want %+v", tc.workers, i, gotFailed[i], wantFailed[i])
					}
				}
			}
		})
	}
	if analysed < 20 {
		t.Errorf("only %d captures were analysed", analysed)
	}
}

// TestWorkersMerge checks --workers with several inputs, merged and not.
func TestWorkersMerge(t *testing.T) {
	names := []string{filepath.Join(repoRoot, "testdata/captures/zeek__smtp.pcap"),
		filepath.Join(repoRoot, "testdata/scenarios/captures/healthy.pcapng"),
		filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng")}
	for _, merge := range []bool{false, true} {
		var want string
		for _, workers := range []int{1, 3} {
			rep, _, err := Files(context.Background(), names, nil, Options{ServerPorts: []uint16{25}, Merge: merge, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			got := renderReport(t, rep, "json")
			rep.Close()
			if workers == 1 {
				want = got
			} else if got != want {
				t.Errorf("merge %v: --workers %d report differs:\n%s", merge, workers, firstDiff(want, got))
			}
		}
	}
}
