package report

import (
	"math"
	"sort"
	"time"
)

// Summary is what a reader needs first about a capture of any size: which
// causes failed the connections, how often and where, each server's
// deliveries and end-of-data reply latency. The Builder computes it from
// the connections' diagnoses as they are added (in bounded memory, and the
// same whatever order they come in); the writers only render it.
type Summary struct {
	// Causes has one entry per diagnosis cause and whether the connections
	// with it failed (a cause such as capture-incomplete can come with and
	// without a failure): failures first, then by connections, most first.
	Causes []CauseSummary `json:"causes"`
	// Servers has one entry per server address of an SMTP connection
	// (or of a connection to an SMTP port that failed), the servers with
	// the most failed connections first, then the busiest.
	Servers []ServerSummary `json:"servers"`
	// FailedConnections counts the connections that failed (Connection.Failed).
	FailedConnections int `json:"failed_connections"`
}

// CauseSummary is how often one cause was the diagnosis of a connection.
type CauseSummary struct {
	Cause Cause `json:"cause"`
	// Words is the cause in plain words.
	Words string `json:"words"`
	Layer string `json:"layer"`
	// Failed: these connections failed; else they delivered with a note.
	Failed      bool `json:"failed"`
	Connections int  `json:"connections"`
	// Share is Connections over all failed connections (Failed) or over
	// all connections with a note (!Failed), from 0 to 1.
	Share float64 `json:"share"`
	// Servers counts the connections per server, most first.
	Servers []ServerCount `json:"servers"`
	// First and Last are the earliest and latest of these connections, at
	// their diagnosis's first evidence frame (else their first frame).
	First Where `json:"first"`
	Last  Where `json:"last"`
	// Example is the connection first in report order.
	Example Where `json:"example"`
}

// ServerCount is a number of connections to one server.
type ServerCount struct {
	Server      string `json:"server"`
	Connections int    `json:"connections"`
}

// Where points at a connection: its input, tcp.stream, and a frame with
// its capture time.
type Where struct {
	Input  int       `json:"input"`
	Stream int       `json:"stream"`
	Frame  int       `json:"frame"`
	Time   time.Time `json:"time,omitzero"`
}

// ServerSummary is what happened to the connections to one server.
type ServerSummary struct {
	Server      string `json:"server"`
	Connections int    `json:"connections"`
	// Delivered and FailedTransactions count mail transactions.
	Delivered          int `json:"delivered"`
	FailedTransactions int `json:"failed_transactions"`
	// FailedConnections counts connections that failed; Share is that over
	// Connections.
	FailedConnections int     `json:"failed_connections"`
	Share             float64 `json:"share"`
	// Causes counts the failed connections per cause, most first.
	Causes          []CauseCount `json:"causes,omitempty"`
	Retransmissions int          `json:"retransmissions"`
	// Segments is both sides' TCP segments, the base of the
	// retransmission rate.
	Segments int `json:"segments"`
	// FirstFailure, LastFailure and Example are as in CauseSummary, over
	// the server's failed connections (absent when none failed).
	FirstFailure *Where `json:"first_failure,omitempty"`
	LastFailure  *Where `json:"last_failure,omitempty"`
	Example      *Where `json:"example,omitempty"`
	// EODReply is the latency of the server's replies to end-of-data (every
	// replied DATA or last BDAT chunk), nil when there was none.
	EODReply *LatencySummary `json:"eod_reply,omitempty"`
}

// CauseCount is a number of connections with one cause.
type CauseCount struct {
	Cause       Cause `json:"cause"`
	Connections int   `json:"connections"`
}

// LatencySummary summarises latencies. Median and P95 are exact up to
// maxExactLatencies samples and within latencyPrecision of the true value
// beyond (they come from a histogram then); Max is always exact.
type LatencySummary struct {
	Samples  int     `json:"samples"`
	MedianMS float64 `json:"median_ms"`
	P95MS    float64 `json:"p95_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// causeWords says each cause in a few plain words, for the summary tables.
var causeWords = map[Cause]string{
	CauseOK:                "no failure",
	CauseEODNoReply:        "no reply after end-of-data",
	CauseEODPartialReply:   "partial reply after end-of-data",
	CauseSlowReply:         "slow reply after end-of-data",
	CauseRejected:          "refused by the server (5xx)",
	CauseDeferred:          "deferred by the server (4xx)",
	CauseAbortedByClient:   "client gave up",
	CausePMTUBlackhole:     "large segments lost (path MTU)",
	CausePacketLoss:        "packet loss",
	CauseZeroWindowStall:   "receiver's window stayed shut",
	CauseResetByServer:     "reset by the server",
	CauseResetByClient:     "reset by the client",
	CauseResetInjected:     "reset injected on the path",
	CauseConnectRefused:    "connection refused",
	CauseConnectTimeout:    "connection attempt unanswered",
	CauseTLSOpaque:         "encrypted, not analysed",
	CauseCaptureIncomplete: "the capture misses what happened",
	CauseClosedByServer:    "server closed mid-transaction",
}

// CauseWords says a cause in a few plain words.
func CauseWords(c Cause) string {
	if w, ok := causeWords[c]; ok {
		return w
	}
	return string(c)
}

// summaryAgg keeps what Summary needs as connections are added.
type summaryAgg struct {
	causes  map[causeKey]*causeAgg
	servers map[string]*serverAgg
	failed  int
}

type causeAgg struct {
	layer       string
	n           int
	servers     map[string]int
	first, last whereAt
	example     whereAt
}

type serverAgg struct {
	conns, delivered, failedTx, failedConns, retrans, segments int
	causes                                                     map[Cause]int
	first, last, example                                       whereAt
	eod                                                        latencies
}

// whereAt is a Where with the connection's report-order key, to make
// every choice independent of the order connections are added in.
type whereAt struct {
	set  bool
	w    Where
	meta connMeta
}

func newSummaryAgg() summaryAgg {
	return summaryAgg{causes: map[causeKey]*causeAgg{}, servers: map[string]*serverAgg{}}
}

// whereOf points at a connection's diagnosis: its first evidence frame
// with a time, else its first frame.
func whereOf(c *Connection) Where {
	w := Where{Input: c.Input, Stream: c.Stream, Frame: c.FirstFrame, Time: c.Start}
	for _, e := range c.Diagnosis.Evidence {
		if e.Frame != 0 && !e.Time.IsZero() {
			w.Frame, w.Time = e.Frame, e.Time
			break
		}
	}
	return w
}

// earlier orders by time, then report order.
func (a *whereAt) earlier(b *whereAt) bool {
	if !a.w.Time.Equal(b.w.Time) {
		return a.w.Time.Before(b.w.Time)
	}
	if a.meta.input == b.meta.input && a.meta.stream == b.meta.stream && a.meta.firstFrame == b.meta.firstFrame {
		return a.w.Frame < b.w.Frame
	}
	return a.meta.before(&b.meta)
}

// note widens first and last to include at, and keeps the example first
// in report order.
func note(first, last, example *whereAt, at whereAt) {
	if !first.set || at.earlier(first) {
		*first = at
	}
	if !last.set || last.earlier(&at) {
		*last = at
	}
	if !example.set || at.meta.before(&example.meta) {
		*example = at
	}
}

func (s *summaryAgg) add(c *Connection) {
	failed := connectionFailed(c)
	cause := c.Diagnosis.Cause
	counted := c.SMTP != nil || failed
	if failed {
		s.failed++
	}
	s.causeOf(c, failed)
	if !counted {
		return
	}
	sv := s.servers[c.Server]
	if sv == nil {
		sv = &serverAgg{causes: map[Cause]int{}}
		s.servers[c.Server] = sv
	}
	sv.conns++
	sv.retrans += c.L4.Retransmissions
	sv.segments += c.L4.Client.Segments + c.L4.Server.Segments
	if failed {
		at := whereAt{set: true, w: whereOf(c), meta: metaOf(c)}
		sv.failedConns++
		sv.causes[cause]++
		note(&sv.first, &sv.last, &sv.example, at)
	}
	if c.SMTP == nil {
		return
	}
	for i := range c.SMTP.Transactions {
		tx := &c.SMTP.Transactions[i]
		switch fateOf(tx.Outcome) {
		case fateDelivered:
			sv.delivered++
		case fateFailed:
			sv.failedTx++
		}
		if tx.EODFrame != 0 && tx.Reply != nil && !tx.Reply.Partial {
			sv.eod.add(tx.Reply.LatencyMS)
		}
	}
}

// causeOf counts c under its cause in the causes table.
func (s *summaryAgg) causeOf(c *Connection, failed bool) {
	cause := c.Diagnosis.Cause
	if cause == CauseOK || cause == CauseTLSOpaque {
		return
	}
	k := causeKey{cause, failed}
	ca := s.causes[k]
	if ca == nil {
		ca = &causeAgg{layer: c.Diagnosis.Layer, servers: map[string]int{}}
		s.causes[k] = ca
	}
	ca.n++
	ca.servers[c.Server]++
	note(&ca.first, &ca.last, &ca.example, whereAt{set: true, w: whereOf(c), meta: metaOf(c)})
}

// summary returns the Summary of what was added.
func (s *summaryAgg) summary() *Summary {
	out := &Summary{Causes: []CauseSummary{}, Servers: []ServerSummary{}, FailedConnections: s.failed}
	noted := 0
	for k, ca := range s.causes {
		if !k.failed {
			noted += ca.n
		}
	}
	for k, ca := range s.causes {
		cs := CauseSummary{Cause: k.cause, Words: CauseWords(k.cause), Layer: ca.layer, Failed: k.failed,
			Connections: ca.n, First: ca.first.w, Last: ca.last.w, Example: ca.example.w}
		base := noted
		if k.failed {
			base = s.failed
		}
		if base > 0 {
			cs.Share = float64(ca.n) / float64(base)
		}
		cs.Servers = mostFirst(ca.servers, func(srv string, n int) ServerCount {
			return ServerCount{Server: srv, Connections: n}
		})
		out.Causes = append(out.Causes, cs)
	}
	sort.Slice(out.Causes, func(i, j int) bool {
		a, b := &out.Causes[i], &out.Causes[j]
		if a.Failed != b.Failed {
			return a.Failed
		}
		if a.Connections != b.Connections {
			return a.Connections > b.Connections
		}
		return a.Cause < b.Cause
	})
	for srv, sa := range s.servers {
		ss := ServerSummary{Server: srv, Connections: sa.conns, Delivered: sa.delivered, FailedTransactions: sa.failedTx,
			FailedConnections: sa.failedConns, Retransmissions: sa.retrans, Segments: sa.segments, EODReply: sa.eod.summary()}
		if sa.conns > 0 {
			ss.Share = float64(sa.failedConns) / float64(sa.conns)
		}
		if sa.first.set {
			first, last, ex := sa.first.w, sa.last.w, sa.example.w
			ss.FirstFailure, ss.LastFailure, ss.Example = &first, &last, &ex
		}
		ss.Causes = mostFirst(sa.causes, func(c Cause, n int) CauseCount {
			return CauseCount{Cause: c, Connections: n}
		})
		out.Servers = append(out.Servers, ss)
	}
	sort.Slice(out.Servers, func(i, j int) bool {
		a, b := &out.Servers[i], &out.Servers[j]
		if a.FailedConnections != b.FailedConnections {
			return a.FailedConnections > b.FailedConnections
		}
		if a.Connections != b.Connections {
			return a.Connections > b.Connections
		}
		return a.Server < b.Server
	})
	return out
}

// maxExactLatencies is how many latencies a server keeps exactly; beyond
// it they go into a histogram of buckets latencyPrecision wide (relative),
// so that memory stays bounded on captures of any length.
const (
	maxExactLatencies = 4096
	latencyPrecision  = 0.01
)

// latencies collects samples in milliseconds for a median, p95 and max.
type latencies struct {
	n     int
	max   float64
	exact []float64
	hist  map[int]int // bucket → count, once exact overflowed
}

// bucketOf is the histogram bucket of a latency: bucket b holds
// (1+p)^(b-1) ≤ ms·1000 < (1+p)^b, microseconds on a log scale; zero and
// sub-microsecond latencies are bucket 0.
func bucketOf(ms float64) int {
	us := ms * 1000
	if us < 1 {
		return 0
	}
	return 1 + int(math.Floor(math.Log(us)/math.Log1p(latencyPrecision)))
}

// bucketValue is the middle of bucket b, in milliseconds.
func bucketValue(b int) float64 {
	if b == 0 {
		return 0
	}
	lo := math.Pow(1+latencyPrecision, float64(b-1))
	return lo * (1 + latencyPrecision/2) / 1000
}

func (l *latencies) add(ms float64) {
	l.n++
	l.max = max(l.max, ms)
	if l.hist == nil && len(l.exact) < maxExactLatencies {
		l.exact = append(l.exact, ms)
		return
	}
	if l.hist == nil {
		l.hist = map[int]int{}
		for _, v := range l.exact {
			l.hist[bucketOf(v)]++
		}
		l.exact = nil
	}
	l.hist[bucketOf(ms)]++
}

// quantile is the nearest-rank q-quantile (0 < q ≤ 1).
func (l *latencies) quantile(q float64) float64 {
	rank := int(math.Ceil(q * float64(l.n)))
	rank = max(rank, 1)
	if l.hist == nil {
		s := append([]float64(nil), l.exact...)
		sort.Float64s(s)
		return s[rank-1]
	}
	buckets := make([]int, 0, len(l.hist))
	for b := range l.hist {
		buckets = append(buckets, b)
	}
	sort.Ints(buckets)
	seen := 0
	for _, b := range buckets {
		seen += l.hist[b]
		if seen >= rank {
			return min(bucketValue(b), l.max)
		}
	}
	return l.max
}

func (l *latencies) summary() *LatencySummary {
	if l.n == 0 {
		return nil
	}
	return &LatencySummary{Samples: l.n, MedianMS: l.quantile(0.5), P95MS: l.quantile(0.95), MaxMS: l.max}
}

// mostFirst turns a count per key into rows, the largest count first and
// equal counts in key order.
func mostFirst[K ~string, T any](counts map[K]int, row func(K, int) T) []T {
	if len(counts) == 0 {
		return nil
	}
	keys := make([]K, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	rows := make([]T, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, row(k, counts[k]))
	}
	return rows
}
