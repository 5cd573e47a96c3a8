package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// hubOf makes a hub from messages given as (server, size, outcome, cause).
func hubOf(name string, msgs ...HubMessage) Hub {
	return Hub{Name: name, Inputs: []string{name + ".pcap"}, Messages: func(yield func(HubMessage) bool) error {
		for _, m := range msgs {
			if !yield(m) {
				return nil
			}
		}
		return nil
	}}
}

func delivered(server string, size int64) HubMessage {
	return HubMessage{Server: server, Size: size, Outcome: outcomeDelivered, Cause: CauseOK}
}

func failedMsg(server string, size int64, outcome string, cause Cause) HubMessage {
	return HubMessage{Server: server, Size: size, Outcome: outcome, Cause: cause}
}

func TestCompareHubs(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name    string
		hubs    []Hub
		kind    string // "" for no pattern
		failing []string
		healthy []string
		words   []string // in the summary
		check   func(t *testing.T, p FleetPattern)
	}{
		{
			name: "the seed incident: only hub B fails large messages, A and C deliver them",
			hubs: []Hub{
				hubOf("A", delivered("10.1.0.25:25", 2000), delivered("10.1.0.25:25", 3*mb)),
				hubOf("B", delivered("10.2.0.25:25", 2000), failedMsg("10.2.0.25:25", 2*mb, outcomeNoReply, CauseEODNoReply),
					failedMsg("10.2.0.25:25", 5*mb, outcomeNoReply, CauseEODNoReply)),
				hubOf("C", delivered("10.3.0.25:25", 1500*1024), delivered("10.3.0.25:25", 100)),
			},
			kind: "hub-size", failing: []string{"B"}, healthy: []string{"A", "C"},
			words: []string{"only hub B fails messages: 2 failed messages, every one at least 2,097,152 bytes",
				"no reply after end-of-data ×2", "10.2.0.25:25 ×2", "it delivered only smaller ones: 1 message of at most 2,000 bytes",
				"hubs A and C delivered messages as big (largest: A 3,145,728, C 1,536,000 bytes) and failed none: only hub B fails messages of that size"},
			check: func(t *testing.T, p FleetPattern) {
				if p.Threshold != 2*mb || p.FailingDeliveredMax != 2000 || p.HealthyLargest != 3*mb || p.FailedMessages != 2 || p.HealthyDelivered != 4 {
					t.Errorf("support %+v", p)
				}
			},
		},
		{
			name: "the healthy hubs delivered bigger messages than the failing hub, not as big as its failures",
			hubs: []Hub{
				hubOf("A", delivered("s:25", 1000*1000)),
				hubOf("B", delivered("s:25", 2000), failedMsg("s:25", 2*mb, outcomeNoReply, CauseEODNoReply)),
			},
			kind: "hub-size", failing: []string{"B"}, healthy: []string{"A"},
			words: []string{"hub A delivered bigger messages than any hub B delivered, though none as big as the smallest failure (largest: A 1,000,000 bytes), and failed none"},
		},
		{
			name: "failures of every size: only the hub, not the size",
			hubs: []Hub{
				hubOf("A", delivered("s:25", 100), delivered("s:25", 3*mb)),
				hubOf("B", failedMsg("s:25", 100, outcomeRejected, CauseRejected), delivered("s:25", 5000)),
			},
			kind: "hub", failing: []string{"B"}, healthy: []string{"A"},
			words: []string{"only hub B fails messages (1 failed message; refused by the server (5xx) ×1; to s:25 ×1); hub A delivered all its 2 messages (A 2) and failed none: the failure is at hub B (its relay, its path), not in the mail"},
		},
		{
			name: "the healthy hubs delivered nothing bigger than the failing hub did: only the hub",
			hubs: []Hub{
				hubOf("A", delivered("s:25", 100)),
				hubOf("B", delivered("s:25", 200), failedMsg("s:25", 3*mb, outcomeNoReply, CauseEODNoReply)),
			},
			kind: "hub", failing: []string{"B"}, healthy: []string{"A"},
		},
		{
			name: "a failed message of unknown size: no size claim",
			hubs: []Hub{
				hubOf("A", delivered("s:25", 3*mb)),
				hubOf("B", failedMsg("s:25", 0, outcomeAborted, CauseAbortedByClient)),
			},
			kind: "hub", failing: []string{"B"}, healthy: []string{"A"},
		},
		{
			name: "two failing hubs, one delivered what the other failed: no size claim",
			hubs: []Hub{
				hubOf("A", delivered("s:25", 9*mb)),
				hubOf("B", failedMsg("s:25", 2*mb, outcomeNoReply, CauseEODNoReply)),
				hubOf("C", delivered("s:25", 4*mb), failedMsg("s:25", 8*mb, outcomeNoReply, CauseEODNoReply)),
			},
			kind: "hub", failing: []string{"B", "C"}, healthy: []string{"A"},
			words: []string{"only hubs B and C fail messages (2 failed messages"},
		},
		{
			name: "every hub fails: nothing sets one apart",
			hubs: []Hub{
				hubOf("A", failedMsg("s:25", 2*mb, outcomeNoReply, CauseEODNoReply), delivered("s:25", 1)),
				hubOf("B", failedMsg("s:25", 2*mb, outcomeNoReply, CauseEODNoReply)),
			},
		},
		{
			name: "no hub fails",
			hubs: []Hub{hubOf("A", delivered("s:25", 1)), hubOf("B", delivered("s:25", 2))},
		},
		{
			name: "unknown outcomes prove nothing: a hub with only those is neither failing nor healthy",
			hubs: []Hub{
				hubOf("A", HubMessage{Server: "s:25", Size: 3 * mb, Outcome: "unknown", Cause: CauseCaptureIncomplete}),
				hubOf("B", failedMsg("s:25", 2*mb, outcomeNoReply, CauseEODNoReply)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := CompareHubs(tt.hubs)
			if err != nil {
				t.Fatal(err)
			}
			if tt.kind == "" {
				if len(f.Patterns) != 0 {
					t.Fatalf("patterns %+v, want none", f.Patterns)
				}
				return
			}
			if len(f.Patterns) != 1 {
				t.Fatalf("patterns %+v, want one %s", f.Patterns, tt.kind)
			}
			p := f.Patterns[0]
			if p.Kind != tt.kind || !slices.Equal(p.Failing, tt.failing) || !slices.Equal(p.Healthy, tt.healthy) {
				t.Errorf("pattern %s failing %v healthy %v, want %s %v %v", p.Kind, p.Failing, p.Healthy, tt.kind, tt.failing, tt.healthy)
			}
			for _, w := range tt.words {
				if !strings.Contains(p.Summary, w) {
					t.Errorf("summary %q\nlacks %q", p.Summary, w)
				}
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// TestCompareHubsSummaries checks each hub's counts, and that a hub's
// error stops the comparison naming the hub.
func TestCompareHubsSummaries(t *testing.T) {
	f, err := CompareHubs([]Hub{
		hubOf("A", delivered("a:25", 10), delivered("b:25", 20), failedMsg("b:25", 30, outcomeDeferred, CauseDeferred),
			HubMessage{Server: "a:25", Outcome: outcomeWithdrawn}),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Hubs[0]
	if h.Delivered != 2 || h.Failed != 1 || h.Unknown != 1 || h.MinFailedSize != 30 || h.MaxDeliveredSize != 20 {
		t.Errorf("summary %+v", h)
	}
	if len(h.Servers) != 2 || h.Servers[0] != (HubServer{Server: "b:25", Delivered: 1, Failed: 1}) {
		t.Errorf("servers %+v: want b:25 (the failing one) first", h.Servers)
	}
	if len(h.Causes) != 1 || h.Causes[0].Cause != CauseDeferred {
		t.Errorf("causes %+v", h.Causes)
	}
	broken := Hub{Name: "Z", Messages: func(func(HubMessage) bool) error { return errors.New("line 3: bad") }}
	if _, err := CompareHubs([]Hub{hubOf("A"), broken}); err == nil || !strings.Contains(err.Error(), "hub Z: line 3: bad") {
		t.Errorf("error %v, want it to name hub Z", err)
	}
}

// TestFleetWriters checks that the JSON is valid and holds each hub's
// report, and the text leads with the comparison.
func TestFleetWriters(t *testing.T) {
	f, err := CompareHubs([]Hub{
		hubOf("A", delivered("s:25", 3<<20)),
		hubOf("B", delivered("s:25", 10), failedMsg("s:25", 2<<20, outcomeNoReply, CauseEODNoReply)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := NewBuilder(Options{}).Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	var js bytes.Buffer
	if err := f.WriteJSON(&js, []*Report{rep, nil}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema   string            `json:"schema"`
		Patterns []FleetPattern    `json:"patterns"`
		Reports  []json.RawMessage `json:"reports"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	if got.Schema != FleetSchema || len(got.Patterns) != 1 || len(got.Reports) != 2 || string(got.Reports[1]) != "null" ||
		!bytes.Contains(got.Reports[0], []byte(`"schema": "`+Schema+`"`)) {
		t.Errorf("fleet JSON: %s", js.String())
	}
	var text bytes.Buffer
	if err := f.WriteText(&text, []*Report{rep, nil}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, w := range []string{"Fleet: 2 hubs compared", "Cross-hub: Only hub B fails", "════ hub A (A.pcap) ════", "(read from event files"} {
		if !strings.Contains(out, w) {
			t.Errorf("text lacks %q:\n%s", w, out)
		}
	}
	if strings.Index(out, "Cross-hub") > strings.Index(out, "════ hub A") {
		t.Error("the comparison must come before the hubs' reports")
	}
}
