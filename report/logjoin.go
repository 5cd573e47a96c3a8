package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
	"github.com/smtpscope/smtpscope/smtp"
)

// Joining MTA logs to connections. A log session is matched to a captured
// connection by its endpoints (both, as Exchange logs them; the peer's
// address and port, as Postfix logs the relay's and, with
// smtpd_client_port_logging, the client's), by time after a clock-skew
// estimate of its own per log, and where present by a queue ID the wire's
// "250 … queued as X" reply carries or a Message-ID.

// DefaultMaxLogSkew is how far a log's clock may be from the capture's
// for its sessions to be matched.
const DefaultMaxLogSkew = 15 * time.Minute

// logTolerance is how far a session's times may lie outside its
// connection's after the skew correction: syslog time stamps have whole
// seconds, and Postfix's delays= are rounded.
const logTolerance = 2 * time.Second

// LogLine is a log line matched to a connection.
type LogLine struct {
	Source string    `json:"source"`
	Line   int       `json:"line"`
	Time   time.Time `json:"time"`
	// WireTime is Time corrected by the log's skew: where the line falls
	// on the capture's clock.
	WireTime time.Time `json:"wire_time"`
	Text     string    `json:"text"`
	// Message is Text without its time stamp and host (an Exchange
	// record: event, data and context).
	Message string `json:"message,omitempty"`
}

// LogMatch says how a connection's log sessions were found.
type LogMatch struct {
	// Method lists the keys that agreed, joined by "+": endpoints (both
	// ends, ports included), peer (the peer's address and port),
	// peer-address, queue-id, message-id, time.
	Method string `json:"method"`
	// SkewMS is the log's clock minus the capture's, in milliseconds.
	SkewMS float64 `json:"skew_ms"`
	// Sessions are the matched log sessions (several when logs of both
	// ends were given).
	Sessions []LogSessionRef `json:"sessions"`
	// Explanations say what the log's errors were on the wire.
	Explanations []string `json:"explanations,omitempty"`
}

// LogSessionRef names one matched log session.
type LogSessionRef struct {
	Source string  `json:"source"`
	ID     string  `json:"id"`
	Format string  `json:"format"`
	Role   string  `json:"role"`
	Method string  `json:"method"`
	SkewMS float64 `json:"skew_ms"`
}

// LogInput describes one log file given to the join.
type LogInput struct {
	Name        string `json:"name"`
	Format      string `json:"format,omitempty"`
	Compression string `json:"compression,omitempty"`
	Lines       int    `json:"lines"`
	Sessions    int    `json:"sessions"`
	Matched     int    `json:"matched"`
	// SkewMS is how far the log's times are moved back onto the
	// capture's clock: the lower envelope of the matched sessions'
	// offsets (each session's earliest line minus its connection's first
	// packet), so that no line comes before its connection. It is a clock
	// skew only where Clock says behind: a positive offset may as well be
	// an MTA that logs late. SkewFrom is how many matched sessions it rests
	// on (0: no estimate).
	SkewMS   float64 `json:"skew_ms"`
	SkewFrom int     `json:"skew_from"`
	// SkewMaxMS is the most the log's clock can be ahead of the capture's
	// (negative: it is behind by at least that much): SkewMS plus twice
	// the time stamps' resolution, ResolutionMS (see clockEstimate.max). Clock is what that proves:
	// behind, no-skew-shown or late-or-ahead (the Clock constants).
	SkewMaxMS    float64            `json:"skew_max_ms"`
	ResolutionMS float64            `json:"resolution_ms,omitempty"`
	Clock        string             `json:"clock,omitempty"`
	Error        string             `json:"error,omitempty"`
	Warnings     []string           `json:"warnings,omitempty"`
	Unmatched    []UnmatchedSession `json:"unmatched,omitempty"`
}

// UnmatchedSession is a log session no connection matched, and why.
type UnmatchedSession struct {
	ID     string    `json:"id"`
	Line   int       `json:"line"`
	Time   time.Time `json:"time"`
	Remote string    `json:"remote"`
	Why    string    `json:"why"`
}

// UnmatchedConnection is an SMTP connection no log session matched.
type UnmatchedConnection struct {
	Input  int    `json:"input"`
	Stream int    `json:"stream"`
	Client string `json:"client"`
	Server string `json:"server"`
	Why    string `json:"why"`
}

// joinKey is what the join needs of a connection, taken before
// redaction.
type joinKey struct {
	meta           connMeta
	client, server netip.AddrPort
	start, end     time.Time
	smtp           bool
	queuedAs       []string
	messageIDs     []string
	// replies are the server's replies on the wire, the earliest of each
	// code and text: a log line quoting one was written after it
	// (logjoin_clock.go).
	replies []anchorReply
}

// joinKeyOf is connection c's join key.
//
// The queue IDs and Message-IDs come from the decoded session s, not from
// c, whose Message-IDs --redact has replaced by tokens: the log has the
// real ones.
func joinKeyOf(c *Connection, s *smtp.Session) joinKey {
	k := joinKey{meta: metaOf(c), start: c.Start, end: c.Start.Add(time.Duration(c.DurationMS * float64(time.Millisecond))), smtp: c.SMTP != nil}
	k.client, _ = netip.ParseAddrPort(c.Client)
	k.server, _ = netip.ParseAddrPort(c.Server)
	k.client = netip.AddrPortFrom(k.client.Addr().Unmap(), k.client.Port())
	k.server = netip.AddrPortFrom(k.server.Addr().Unmap(), k.server.Port())
	if c.SMTP != nil && s != nil {
		k.replies = anchorRepliesOf(s)
		for _, tx := range s.Transactions {
			if tx.Reply != nil {
				if q := queuedAsIn(tx.Reply.Text); q != "" {
					k.queuedAs = append(k.queuedAs, q)
				}
			}
			if tx.MessageID != "" {
				k.messageIDs = append(k.messageIDs, tx.MessageID)
			}
		}
	}
	return k
}

// queuedAsIn finds the queue ID in "Ok: queued as 4QxY1z2abc".
func queuedAsIn(text string) string {
	i := strings.Index(strings.ToLower(text), "queued as ")
	if i < 0 {
		return ""
	}
	f := strings.FieldsFunc(text[i+len("queued as "):], func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == ')' })
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// pair is a session that could be a connection, with the keys that agree.
type pair struct {
	sess, conn int
	offset     time.Duration // session start minus connection start
	strong     bool          // a key beyond the peer's address agrees
	method     []string
}

// candidates lists the connections session s could be, by endpoints and
// identifiers, within maxSkew.
func candidates(s *mtalog.Session, si int, keys []joinKey, idx *peerIndex, maxSkew time.Duration) (ps []pair, peerOnly bool) {
	for _, ci := range idx.lookup(s) {
		k := &keys[ci]
		if !k.smtp && s.Role != "" && !s.Remote.Addr.IsValid() && s.Remote.Port == 0 {
			continue
		}
		p := pair{sess: si, conn: ci, offset: s.Start.Sub(k.start)}
		if p.offset > maxSkew+k.end.Sub(k.start) || p.offset < -maxSkew {
			continue
		}
		local, peer := k.client, k.server
		if s.Role == mtalog.RoleServer {
			local, peer = k.server, k.client
		}
		if !endpointFits(s.Remote, peer) {
			continue
		}
		if !endpointFits(s.Local, local) {
			peerOnly = true
			continue
		}
		if contradicts(s, k) {
			continue
		}
		switch {
		case s.Local.Port != 0 && s.Remote.Port != 0:
			p.method, p.strong = append(p.method, "endpoints"), true
		case s.Remote.Port != 0 && s.Role == mtalog.RoleServer:
			// a client's ephemeral port: nearly unique
			p.method, p.strong = append(p.method, "peer"), true
		case s.Remote.Port != 0:
			p.method = append(p.method, "peer")
		case s.Remote.Addr.IsValid():
			p.method = append(p.method, "peer-address")
		}
		if shared(s.QueuedAs, k.queuedAs) || shared(s.QueueIDs, k.queuedAs) {
			p.method, p.strong = append(p.method, "queue-id"), true
		}
		if shared(s.MessageIDs, k.messageIDs) {
			p.method, p.strong = append(p.method, "message-id"), true
		}
		ps = append(ps, p)
	}
	return ps, peerOnly
}

// peerIndex finds the connections a session's peer address can be, so
// that a join costs sessions × connections-per-peer, not sessions ×
// connections.
type peerIndex struct {
	byServer, byClient map[netip.Addr][]int
	all                []int
}

func newPeerIndex(keys []joinKey) *peerIndex {
	x := &peerIndex{byServer: map[netip.Addr][]int{}, byClient: map[netip.Addr][]int{}, all: make([]int, len(keys))}
	for i := range keys {
		x.byServer[keys[i].server.Addr()] = append(x.byServer[keys[i].server.Addr()], i)
		x.byClient[keys[i].client.Addr()] = append(x.byClient[keys[i].client.Addr()], i)
		x.all[i] = i
	}
	return x
}

// lookup returns the connections whose peer has the session's remote
// address; all of them when the log names the peer by host name only.
func (x *peerIndex) lookup(s *mtalog.Session) []int {
	if !s.Remote.Addr.IsValid() {
		return x.all
	}
	if s.Role == mtalog.RoleServer {
		return x.byClient[s.Remote.Addr]
	}
	return x.byServer[s.Remote.Addr]
}

// endpointFits tells whether a logged endpoint can be the captured one:
// every part the log has must agree (a host name cannot be compared).
func endpointFits(e mtalog.Endpoint, ap netip.AddrPort) bool {
	if e.Addr.IsValid() && e.Addr != ap.Addr() {
		return false
	}
	return e.Port == 0 || e.Port == ap.Port()
}

// contradicts tells whether identifiers both sides know rule the pair
// out: Message-IDs seen on the wire that the session never names, or the
// receiver's queue IDs of the wire's "queued as" replies that the session
// does not have. Without it, a session of another time (a log of another
// day, the same lab run twice) could be matched with a made-up skew.
func contradicts(s *mtalog.Session, k *joinKey) bool {
	if len(s.MessageIDs) > 0 && len(k.messageIDs) > 0 && !shared(s.MessageIDs, k.messageIDs) {
		return true
	}
	ids := s.QueuedAs
	if s.Role == mtalog.RoleServer {
		ids = s.QueueIDs
	}
	return len(ids) > 0 && len(k.queuedAs) > 0 && !shared(ids, k.queuedAs)
}

func shared(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// fits tells whether a session, shifted by skew, lies within its
// connection's time (with logTolerance).
func fits(s *mtalog.Session, k *joinKey, skew time.Duration) bool {
	start, end := s.Start.Add(-skew), s.End.Add(-skew)
	return !start.Before(k.start.Add(-logTolerance)) && !end.After(k.end.Add(logTolerance))
}

// estimateSkew finds the clock offset that lets the most sessions fit a
// candidate, preferring strong pairs, then the smallest offset; it returns
// the median offset of the pairs that fit it and how many they are.
func estimateSkew(sessions []mtalog.Session, keys []joinKey, ps []pair) (time.Duration, int) {
	for _, strongOnly := range []bool{true, false} {
		var use []pair
		for _, p := range ps {
			if p.strong || !strongOnly {
				use = append(use, p)
			}
		}
		if len(use) == 0 {
			continue
		}
		// Candidate skews: each pair's offset (sampled when there are many).
		step := max(1, len(use)/500)
		best, bestN := time.Duration(0), -1
		for i := 0; i < len(use); i += step {
			k := use[i].offset
			n := countFits(sessions, keys, use, k)
			if n > bestN || n == bestN && abs(k) < abs(best) {
				best, bestN = k, n
			}
		}
		if bestN <= 0 {
			continue
		}
		var offs []time.Duration
		for _, p := range use {
			if fits(&sessions[p.sess], &keys[p.conn], best) {
				offs = append(offs, p.offset)
			}
		}
		slices.Sort(offs)
		med := offs[len(offs)/2]
		if countFits(sessions, keys, use, med) >= bestN {
			best = med
		}
		return best, bestN
	}
	return 0, 0
}

// countFits counts the sessions with at least one pair that fits skew.
func countFits(sessions []mtalog.Session, keys []joinKey, ps []pair, skew time.Duration) int {
	n, last := 0, -1
	for _, p := range ps {
		if p.sess != last && fits(&sessions[p.sess], &keys[p.conn], skew) {
			n++
			last = p.sess
		}
	}
	return n
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// sessionMatch is one log session matched to a connection.
type sessionMatch struct {
	log    *mtalog.Log
	sess   *mtalog.Session
	method string
	skew   time.Duration
}

// logJoin is the outcome of the join, before it is attached.
type logJoin struct {
	byConn map[int][]sessionMatch
	inputs []LogInput
}

// join matches the sessions of each log to the connections keys describe
// (in report order). span is the capture's time span.
func join(logs []*mtalog.Log, keys []joinKey, spanStart, spanEnd time.Time, maxSkew time.Duration) logJoin {
	j := logJoin{byConn: map[int][]sessionMatch{}}
	idx := newPeerIndex(keys)
	for _, l := range logs {
		in := LogInput{Name: l.Name, Format: string(l.Format), Compression: l.Compression, Lines: l.Lines,
			Sessions: len(l.Sessions), Warnings: l.Warnings}
		if l.MoreWarnings > 0 {
			in.Warnings = append(in.Warnings, fmt.Sprintf("%d more warnings", l.MoreWarnings))
		}
		var all []pair
		peerOnly := make([]bool, len(l.Sessions))
		for si := range l.Sessions {
			ps, po := candidates(&l.Sessions[si], si, keys, idx, maxSkew)
			all = append(all, ps...)
			peerOnly[si] = po
		}
		skew, n := estimateSkew(l.Sessions, keys, all)
		in.SkewMS, in.SkewFrom = ms(skew), n
		// One connection per session of a log, and one session of a log
		// per connection: strong pairs first, then the closest in time.
		sort.SliceStable(all, func(a, b int) bool {
			pa, pb := all[a], all[b]
			if pa.strong != pb.strong {
				return pa.strong
			}
			return abs(pa.offset-skew) < abs(pb.offset-skew)
		})
		sessDone := make([]bool, len(l.Sessions))
		connDone := map[int]bool{}
		var matched []pair
		for _, p := range all {
			s := &l.Sessions[p.sess]
			if sessDone[p.sess] || connDone[p.conn] || !fits(s, &keys[p.conn], skew) {
				continue
			}
			sessDone[p.sess], connDone[p.conn] = true, true
			matched = append(matched, p)
		}
		// The estimate that matched the sessions (the offset most sessions
		// fit) is not what the report claims: that is the lower envelope
		// of the matched sessions (logjoin_clock.go).
		if est := estimateClock(l, matched, keys); est.from > 0 {
			skew = est.envelope
			in.SkewMS, in.SkewFrom, in.SkewMaxMS = ms(skew), est.from, ms(est.max())
			in.ResolutionMS, in.Clock = ms(est.resolution), est.claim()
		}
		for _, p := range matched {
			in.Matched++
			j.byConn[p.conn] = append(j.byConn[p.conn], sessionMatch{log: l, sess: &l.Sessions[p.sess], method: strings.Join(append(p.method, "time"), "+"), skew: skew})
		}
		for si := range l.Sessions {
			if sessDone[si] {
				continue
			}
			s := &l.Sessions[si]
			u := UnmatchedSession{ID: s.ID, Time: s.Start, Remote: s.Remote.String()}
			if len(s.Events) > 0 {
				u.Line = s.Events[0].Line.Number
			}
			u.Why = unmatchedWhy(s, si, all, peerOnly[si], skew, spanStart, spanEnd)
			in.Unmatched = append(in.Unmatched, u)
		}
		j.inputs = append(j.inputs, in)
	}
	return j
}

func unmatchedWhy(s *mtalog.Session, si int, ps []pair, peerOnly bool, skew time.Duration, spanStart, spanEnd time.Time) string {
	start, end := s.Start.Add(-skew), s.End.Add(-skew)
	switch {
	case !spanStart.IsZero() && (end.Before(spanStart.Add(-logTolerance)) || start.After(spanEnd.Add(logTolerance))):
		return "outside the capture's time span"
	case slices.ContainsFunc(ps, func(p pair) bool { return p.sess == si }):
		return "connections between these endpoints were captured, none at this time (or each already matched another session)"
	case peerOnly:
		return "the peer matches a captured connection but the local address or port does not: NAT between the log's host and the capture point, or another host"
	}
	return "no captured connection between these endpoints: another host, NAT, or not in the capture"
}

// unmatchedConnections lists the SMTP connections no session matched.
func unmatchedConnections(keys []joinKey, j *logJoin, logs []*mtalog.Log) []UnmatchedConnection {
	var out []UnmatchedConnection
	for ci := range keys {
		k := &keys[ci]
		if !k.smtp || len(j.byConn[ci]) > 0 {
			continue
		}
		why := "no log session names these endpoints: the logs are of other hosts, or NAT is between"
		for _, l := range logs {
			if l.Start.IsZero() {
				continue
			}
			if k.end.Before(l.Start.Add(-DefaultMaxLogSkew)) || k.start.After(l.End.Add(DefaultMaxLogSkew)) {
				why = "outside the time span of " + l.Name
				continue
			}
			for si := range l.Sessions {
				s := &l.Sessions[si]
				if endpointFits(s.Remote, k.server) && s.Role == mtalog.RoleClient || endpointFits(s.Remote, k.client) && s.Role == mtalog.RoleServer {
					why = l.Name + " has sessions with this peer, none at this time"
					break
				}
			}
		}
		out = append(out, UnmatchedConnection{Input: k.meta.input, Stream: k.meta.stream, Client: k.client.String(), Server: k.server.String(), Why: why})
	}
	return out
}

// sortKeys puts keys in report order.
func sortKeys(keys []joinKey) {
	slices.SortStableFunc(keys, func(a, b joinKey) int {
		return cmp.Or(cmp.Compare(a.meta.input, b.meta.input), cmp.Compare(a.meta.stream, b.meta.stream), cmp.Compare(a.meta.firstFrame, b.meta.firstFrame))
	})
}
