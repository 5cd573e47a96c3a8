package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"
)

// DefaultMemoryConnections is how many connections a Builder keeps in
// memory before it moves them to a temporary file. A connection of a
// typical mail session takes a few kilobytes as a Connection.
const DefaultMemoryConnections = 1000

// Builder builds a Report one connection at a time, in whatever order the
// earlier stages finish them, so that a capture of any length is analysed
// in bounded memory: beyond Options.MemoryConnections, connections are
// kept in a temporary file (as JSON) and only a small index and the
// running totals, headline and patterns stay in memory.
type Builder struct {
	opts  Options
	conns []Connection
	store *connStore
	index []connMeta
	agg   aggregate
	err   error
	keys  []joinKey // with Options.JoinLogs
	// listed counts the connections listed, unlisted those left out by
	// Options.ListFailed and ListHealthy, by failed or not.
	listed, unlisted [2]int
	// onAdd is told of each connection as it is added (OnAdd), onRevise
	// of each whose diagnosis Finish changes (OnRevise).
	onAdd    func(*Connection)
	onRevise func(*Revision)
	// offers are the servers that offered STARTTLS and the connections
	// whose EHLO reply lacked it (starttls.go).
	offers startTLSOffers
	// cur is the connection Add builds, one for all: nothing keeps it
	// past the call (the list keeps a copy), and a new one each time
	// would be a heap allocation per connection.
	cur Connection
}

// OnAdd sets a function told of each connection as Add diagnoses it (as
// the report writes it: redacted with Options.Redact), listed or not: a
// sink for events or metrics sees every connection once, as it ends. The
// Connection is valid during the call only.
func (b *Builder) OnAdd(f func(*Connection)) { b.onAdd = f }

// Revision is a connection whose diagnosis Finish changed after OnAdd was
// told of it, by a fact no session shows alone: starttls-stripped, given
// at Finish to a session whose EHLO reply lacked STARTTLS when its server
// offered it on others. It names the connection as OnAdd's Connection
// did, addresses as the report writes them.
type Revision struct {
	Input, Stream, FirstFrame int
	Start                     time.Time
	Client, Server            string
	// Was is the cause OnAdd was told; Diagnosis is the connection's now,
	// and Failed whether the connection counts as failed with it.
	Was       Cause
	Diagnosis Diagnosis
	Failed    bool
}

// OnRevise sets a function told, during Finish, of each connection whose
// diagnosis Finish changes after OnAdd was told of it (Revision), listed
// or not, in the order they were added: a sink that wrote what OnAdd
// said corrects it. The Revision is valid during the call only.
func (b *Builder) OnRevise(f func(*Revision)) { b.onRevise = f }

// connMeta is what the Report keeps in memory of a connection held in
// its temporary file: the sort key, what the orderings need, and where
// its JSON is.
type connMeta struct {
	input, stream, firstFrame int
	cause                     Cause
	failed, smtp              bool
	off                       int64
	n                         int
}

func metaOf(c *Connection) connMeta {
	return connMeta{input: c.Input, stream: c.Stream, firstFrame: c.FirstFrame, cause: c.Diagnosis.Cause, failed: connectionFailed(c),
		smtp: c.SMTP != nil}
}

// before orders connections as the report lists them: by input, then
// tcp.stream (then first frame: a stream resumed after it was retired
// repeats its number).
func (m *connMeta) before(o *connMeta) bool {
	if m.input != o.input {
		return m.input < o.input
	}
	if m.stream != o.stream {
		return m.stream < o.stream
	}
	return m.firstFrame < o.firstFrame
}

// NewBuilder returns a Builder applying the rules of opts.
func NewBuilder(opts Options) *Builder {
	if opts.SlowReply <= 0 {
		opts.SlowReply = DefaultSlowReply
	}
	if opts.MemoryConnections == 0 {
		opts.MemoryConnections = DefaultMemoryConnections
	}
	return &Builder{opts: opts, agg: newAggregate()}
}

// Add diagnoses one connection and adds it to the report. It tells
// whether the connection failed (Connection.Failed). The Facts are not
// kept.
func (b *Builder) Add(f *Facts) bool {
	// Each connection is redacted on its own (what one connection names is
	// not looked for in another's texts), so that the report does not
	// depend on the order connections end in.
	red := newRedactor(b.opts.Redact)
	b.cur = buildConnection(f, b.opts, red)
	c := &b.cur
	applyDrops(f, c)
	if b.opts.JoinLogs {
		b.keys = append(b.keys, joinKeyOf(c, f.Session))
	}
	red.connection(c)
	b.agg.add(c)
	if b.onAdd != nil {
		b.onAdd(c)
	}
	failed := connectionFailed(c)
	b.offers.note(f, c, b.keep(c, failed))
	b.cur = Connection{} // let what it points to go with the list's copy
	return failed
}

// keep lists connection c unless the bounds of Options leave it out, in
// memory or in the temporary file, and returns its position there (-1:
// not listed).
func (b *Builder) keep(c *Connection, failed bool) int {
	if b.err != nil || !b.list(failed) {
		return -1
	}
	if b.store == nil && len(b.conns) >= b.opts.MemoryConnections {
		if err := b.spill(); err != nil {
			b.err = err
			return -1
		}
	}
	if b.store == nil {
		b.conns = append(b.conns, *c)
		return len(b.conns) - 1
	}
	m := metaOf(c)
	if err := b.store.put(c, &m); err != nil {
		b.err = err
	}
	b.index = append(b.index, m)
	return len(b.index) - 1
}

// list counts a connection as listed, and tells false when the bounds of
// Options leave it out of the list.
func (b *Builder) list(failed bool) bool {
	i, bound := 0, b.opts.ListHealthy
	if failed {
		i, bound = 1, b.opts.ListFailed
	}
	if bound > 0 && b.listed[i] >= bound {
		b.unlisted[i]++
		return false
	}
	b.listed[i]++
	return true
}

// bound says a list bound in words.
func bound(n int) string {
	if n <= 0 {
		return "all"
	}
	return fmt.Sprint(n)
}

// Totals returns the totals over the connections added so far.
func (b *Builder) Totals() Totals { return b.agg.totals }

// spill moves the connections held in memory to a temporary file.
func (b *Builder) spill() error {
	s, err := newConnStore(b.opts.TempDir)
	if err != nil {
		return err
	}
	b.store = s
	for i := range b.conns {
		m := metaOf(&b.conns[i])
		if err := s.put(&b.conns[i], &m); err != nil {
			return err
		}
		b.index = append(b.index, m)
	}
	b.conns = nil
	return nil
}

// Finish returns the report of the connections added, with inputs.
// When connections went to a temporary file, the report reads them from
// it: call Report.Close when done with the report to remove it.
func (b *Builder) Finish(inputs []Input) (*Report, error) {
	if n := b.unlisted[0] + b.unlisted[1]; n > 0 {
		if len(inputs) == 0 {
			inputs = []Input{{}}
		}
		inputs[0].Warnings = append(inputs[0].Warnings, fmt.Sprintf(
			"%d connections (%d of them failed) are counted in the totals but not listed: the report lists the first %s failed and %s healthy ones",
			n, b.unlisted[1], bound(b.opts.ListFailed), bound(b.opts.ListHealthy)))
	}
	if w := b.finishStartTLS(); w != "" {
		if len(inputs) == 0 {
			inputs = []Input{{}}
		}
		inputs[0].Warnings = append(inputs[0].Warnings, w)
	}
	red := newRedactor(b.opts.Redact)
	for i := range inputs {
		evictionWarnings(&inputs[i], red)
	}
	r := &Report{Schema: Schema, Inputs: inputs, redact: b.opts.Redact}
	sortKeys(b.keys)
	r.keys, b.keys = b.keys, nil
	if b.err != nil {
		b.store.close()
		return nil, fmt.Errorf("keeping the report's connections: %w", b.err)
	}
	if b.store == nil {
		r.Connections = b.conns
		if r.Connections == nil {
			r.Connections = []Connection{}
		}
		sort.SliceStable(r.Connections, func(i, j int) bool {
			a, b := metaOf(&r.Connections[i]), metaOf(&r.Connections[j])
			return a.before(&b)
		})
	} else {
		if err := b.store.w.Flush(); err != nil {
			b.store.close()
			return nil, fmt.Errorf("keeping the report's connections: %w", err)
		}
		sort.SliceStable(b.index, func(i, j int) bool { return b.index[i].before(&b.index[j]) })
		r.store, r.index = b.store, b.index
	}
	b.conns, b.store, b.index = nil, nil, nil
	r.Totals = b.agg.totals
	r.Verdict = b.agg.headline()
	r.Patterns = b.agg.patterns()
	if b.opts.SeparateInputs && len(inputs) > 1 {
		for i := range inputs {
			t := b.agg.inputOf(i).totals
			inputs[i].Totals = &t
		}
		r.Patterns = append(r.Patterns, b.agg.inputPatterns(inputs)...)
	}
	r.Summary = b.agg.summary.summary()
	return r, nil
}

// connStore keeps connections as JSON in a temporary file.
type connStore struct {
	f        *os.File
	w        *bufio.Writer
	off      int64
	buf      []byte // what raw read
	enc      jsonEnc
	unlinked bool // the file has no name left to remove
}

func newConnStore(dir string) (*connStore, error) {
	f, err := os.CreateTemp(dir, "smtpscope-connections-*.json")
	if err != nil {
		return nil, err
	}
	// Where the system allows it (not Windows), the file goes from the
	// directory at once and lives on through the open descriptor only, so
	// that nothing is left behind if the program is killed.
	unlinked := os.Remove(f.Name()) == nil
	return &connStore{f: f, w: bufio.NewWriterSize(f, 1<<16), unlinked: unlinked}, nil
}

// put writes c's JSON to the file and tells m where it is.
func (s *connStore) put(c *Connection, m *connMeta) error {
	data, err := s.enc.connectionJSON(c)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(data); err != nil {
		return err
	}
	m.off, m.n = s.off, len(data)
	s.off += int64(len(data))
	return nil
}

// raw returns the JSON of the connection m describes; the slice is reused
// by the next call.
func (s *connStore) raw(m *connMeta) ([]byte, error) {
	if cap(s.buf) < m.n {
		s.buf = make([]byte, m.n)
	}
	s.buf = s.buf[:m.n]
	if _, err := s.f.ReadAt(s.buf, m.off); err != nil {
		return nil, err
	}
	return s.buf, nil
}

func (s *connStore) get(m *connMeta) (*Connection, error) {
	data, err := s.raw(m)
	if err != nil {
		return nil, err
	}
	c := new(Connection)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *connStore) close() error {
	if s == nil {
		return nil
	}
	err := s.f.Close()
	if !s.unlinked {
		if rmErr := os.Remove(s.f.Name()); err == nil {
			err = rmErr
		}
	}
	return err
}

// Close releases what the report holds outside memory (the temporary file
// of a large report). The report is unusable afterwards if it had one.
func (r *Report) Close() error {
	s := r.store
	r.store, r.index = nil, nil
	return s.close()
}

// count is the number of connections in the report.
func (r *Report) count() int {
	if r.store != nil {
		return len(r.index)
	}
	return len(r.Connections)
}

// conn returns connection i in report order. A connection that cannot be
// read back from the temporary file is returned empty and the error kept
// for the writer to return (see readErr).
func (r *Report) conn(i int) *Connection {
	if r.store == nil {
		return &r.Connections[i]
	}
	c, err := r.store.get(&r.index[i])
	if err == nil {
		return r.withLogs(i, c)
	}
	if err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("reading back connection %d: %w", r.index[i].stream, err)
		}
		return &Connection{Stream: r.index[i].stream, Input: r.index[i].input, Diagnosis: Diagnosis{Cause: r.index[i].cause}}
	}
	return c
}

// causeOf and failedAt read the connection's diagnosis without decoding it.
func (r *Report) causeOf(i int) Cause {
	if r.store == nil {
		return r.Connections[i].Diagnosis.Cause
	}
	return r.index[i].cause
}

func (r *Report) failedAt(i int) bool {
	if r.store == nil {
		return connectionFailed(&r.Connections[i])
	}
	return r.index[i].failed
}

// isSMTP tells whether connection i carried SMTP, without decoding it.
func (r *Report) isSMTP(i int) bool {
	if r.store == nil {
		return r.Connections[i].SMTP != nil
	}
	return r.index[i].smtp
}

// readErr returns the first error met reading connections back.
func (r *Report) readErr() error { return r.err }

// aggregate is what the report needs over all connections, kept as they
// are added: the totals, the headline's candidates and the patterns'
// extremes. It is independent of the order connections come in.
type aggregate struct {
	totals Totals
	// worst is the headline diagnosis: failures before notes, then the
	// most severe cause, then the connection first in report order.
	worst       *Diagnosis
	worstFailed bool
	worstMeta   connMeta
	sameWorst   map[causeKey]int
	// SMTP connections' TCP counts, for the headline's L4 clause.
	retrans, resets, zeroWindows int
	// Patterns: see patterns.
	failedN, deliveredN        int
	minFailed, maxDelivered    int64
	allFailedSized             bool
	firstFailed, lastDelivered time.Time
	failServers                map[string]bool
	deliveredTo                map[string]int
	// perInput holds the same by input, for Input.Totals and the
	// patterns across inputs (patterns.go).
	perInput map[int]*inputAgg
	// summary: see summary.go.
	summary summaryAgg
}

type causeKey struct {
	cause  Cause
	failed bool
}

func newAggregate() aggregate {
	return aggregate{sameWorst: map[causeKey]int{}, minFailed: -1, maxDelivered: -1, allFailedSized: true,
		failServers: map[string]bool{}, deliveredTo: map[string]int{}, perInput: map[int]*inputAgg{}, summary: newSummaryAgg()}
}

func (a *aggregate) add(c *Connection) {
	a.totals.Connections++
	a.summary.add(c)
	a.inputOf(c.Input).add(c)
	a.worstOf(c)
	if c.SMTP == nil {
		return
	}
	a.totals.SMTPConnections++
	a.retrans += c.L4.Retransmissions
	a.resets += c.L4.Resets
	a.zeroWindows += c.L4.ZeroWindows
	for _, tx := range c.SMTP.Transactions {
		if tx.RefusedAttempt {
			a.totals.RefusedAttempts++
			a.failServers[c.Server] = true
			continue
		}
		if tx.Outcome == outcomeWithdrawn {
			a.totals.Withdrawn++
			continue
		}
		a.totals.Transactions++
		switch fateOf(tx.Outcome) {
		case fateDelivered:
			a.totals.Delivered++
			a.deliveredN++
			a.deliveredTo[c.Server]++
			a.maxDelivered = max(a.maxDelivered, tx.Size)
			if c.Start.After(a.lastDelivered) {
				a.lastDelivered = c.Start
			}
		case fateFailed:
			a.totals.Failed++
			a.failedN++
			a.failServers[c.Server] = true
			if tx.Size <= 0 {
				a.allFailedSized = false
			} else if a.minFailed < 0 || tx.Size < a.minFailed {
				a.minFailed = tx.Size
			}
			if a.firstFailed.IsZero() || c.Start.Before(a.firstFailed) {
				a.firstFailed = c.Start
			}
		}
	}
}

// worstOf counts c's cause among the headline's candidates.
func (a *aggregate) worstOf(c *Connection) {
	f := connectionFailed(c)
	d := &c.Diagnosis
	if d.Cause == CauseOK {
		return
	}
	a.sameWorst[causeKey{d.Cause, f}]++
	m := metaOf(c)
	better := a.worst == nil || (f && !a.worstFailed) ||
		(f == a.worstFailed && (severity[d.Cause] > severity[a.worst.Cause] ||
			severity[d.Cause] == severity[a.worst.Cause] && m.before(&a.worstMeta)))
	if better {
		cp := *d
		a.worst, a.worstFailed, a.worstMeta = &cp, f, m
	}
}

// fate is what a transaction's outcome proves about the message.
type fate int

const (
	// fateUnknown: neither delivered nor failed (withdrawn by the client,
	// or an outcome the capture does not show).
	fateUnknown fate = iota
	fateDelivered
	fateFailed
)

// fateOf says what an outcome proves: the one rule the totals, the
// patterns and the cross-hub comparison count messages by.
func fateOf(outcome string) fate {
	switch outcome {
	case outcomeDelivered:
		return fateDelivered
	case outcomeNoReply, outcomeAborted, outcomeRejected, outcomeDeferred:
		return fateFailed
	}
	return fateUnknown
}

// refusedClause says how many MAIL commands were refused and how many
// envelopes the client withdrew, counted apart from the transactions: ""
// when none.
func (t Totals) refusedClause() string {
	s := ""
	switch t.RefusedAttempts {
	case 0:
	case 1:
		s = "; 1 MAIL refused (no transaction opened)"
	default:
		s = fmt.Sprintf("; %s MAILs refused (no transaction opened)", Thousands(int64(t.RefusedAttempts)))
	}
	switch t.Withdrawn {
	case 0:
	case 1:
		s += "; 1 envelope withdrawn by the client before DATA (no message sent)"
	default:
		s += fmt.Sprintf("; %s envelopes withdrawn by the client before DATA (no message sent)", Thousands(int64(t.Withdrawn)))
	}
	return s
}
