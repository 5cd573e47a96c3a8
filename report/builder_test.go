package report

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/smtpscope/smtpscope/smtp"
)

// builderFacts are connections with every kind of outcome, on two
// servers, for the Builder tests.
func builderFacts() []Facts {
	outcomes := []func(*smtp.Session, *smtp.Transaction){
		func(_ *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		},
		func(_ *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(552, "5.3.4", 801, 10.1), smtp.OutcomeRejected
		},
		func(_ *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndClientClosed, 900, at(60)
		},
		func(_ *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(451, "4.3.0", 801, 10.1), smtp.OutcomeDeferred
		},
	}
	var facts []Facts
	for i := range 12 {
		c := conn()
		c.Stream, c.FirstFrame = i, 1+i*1000
		c.LastFrame = c.FirstFrame + 900
		if i%3 == 1 {
			c.Server = netip.MustParseAddrPort("10.0.0.26:25")
		}
		facts = append(facts, Facts{Conn: c, Session: session(outcomes[i%len(outcomes)]), SMTPPort: true})
	}
	return facts
}

func render(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	for _, w := range []func() error{
		func() error { return r.WriteJSON(&b) },
		func() error { return r.WriteText(&b, TextOptions{}) },
		func() error { return r.WriteMarkdown(&b, ViewOptions{}) },
		func() error { return r.WriteHTML(&b, ViewOptions{}) },
	} {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestBuilderOrder checks that the report does not depend on the order
// connections are added in, nor on whether they wait in a temporary file.
func TestBuilderOrder(t *testing.T) {
	facts := builderFacts()
	want := render(t, Build(nil, facts, Options{Redact: true}))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spill := range []int{0, -1, 5} {
		for range 5 {
			shuffled := append([]Facts(nil), facts...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			b := NewBuilder(Options{Redact: true, MemoryConnections: spill, TempDir: t.TempDir()})
			for i := range shuffled {
				b.Add(&shuffled[i])
			}
			r, err := b.Finish(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(t, r); got != want {
				t.Errorf("MemoryConnections %d, shuffled: report differs", spill)
			}
			r.Close()
		}
	}
}

// TestBuilderTempFileError checks that a temporary file that cannot be
// made is an error from Finish, not a lost or partial report.
func TestBuilderTempFileError(t *testing.T) {
	b := NewBuilder(Options{MemoryConnections: -1, TempDir: filepath.Join(t.TempDir(), "missing")})
	facts := builderFacts()
	for i := range facts {
		b.Add(&facts[i])
	}
	if r, err := b.Finish(nil); err == nil {
		r.Close()
		t.Fatal("Finish succeeded without a temporary file")
	}
}

// TestReportCloseRemovesFile checks that the temporary file is gone from
// its directory once the report is closed (on Unix, from the start: it is
// unlinked at once and read through its descriptor), and that the report
// reads its connections back from it.
func TestReportCloseRemovesFile(t *testing.T) {
	dir := t.TempDir()
	b := NewBuilder(Options{MemoryConnections: 2, TempDir: dir})
	facts := builderFacts()
	for i := range facts {
		b.Add(&facts[i])
	}
	r, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.store == nil || r.count() != len(facts) || r.conn(len(facts)-1).Stream != len(facts)-1 {
		t.Fatalf("report in a file: store %v, %d connections", r.store != nil, r.count())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("Close left %d file(s)", len(left))
	}
}
