package report

import (
	"encoding/json"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
)

// LogOptions are the settings of Report.JoinLogs. The zero value is
// useful.
type LogOptions struct {
	// MaxSkew is how far a log's clock may be from the capture's (zero:
	// DefaultMaxLogSkew).
	MaxSkew time.Duration
	// Failed, if set, are log files that could not be read at all, with
	// their one-line errors; they are listed in the report.
	Failed []LogInput
}

// logAttach is what the join adds to one connection.
type logAttach struct {
	lines []LogLine
	match *LogMatch
}

// JoinLogs matches the sessions of logs to the report's connections (the
// Builder must have had Options.JoinLogs set), attaches each connection's
// log lines and match, explains the logs' errors from the wire, and lists
// what matched nothing. Log lines are redacted as the rest of the report.
func (r *Report) JoinLogs(logs []*mtalog.Log, opts LogOptions) {
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = DefaultMaxLogSkew
	}
	var spanStart, spanEnd time.Time
	for _, in := range r.Inputs {
		if !in.Start.IsZero() && (spanStart.IsZero() || in.Start.Before(spanStart)) {
			spanStart = in.Start
		}
		if in.End.After(spanEnd) {
			spanEnd = in.End
		}
	}
	j := join(logs, r.keys, spanStart, spanEnd, opts.MaxSkew)
	red := newRedactor(r.redact)
	r.Logs = append(r.Logs, opts.Failed...)
	for i := range j.inputs {
		in := &j.inputs[i]
		for k := range in.Unmatched {
			u := &in.Unmatched[k]
			u.Remote = red.text(u.Remote, true)
			u.ID = red.text(u.ID, true)
		}
		for k := range in.Warnings {
			in.Warnings[k] = red.text(in.Warnings[k], true)
		}
		r.Logs = append(r.Logs, *in)
	}
	for _, u := range unmatchedConnections(r.keys, &j, logs) {
		u.Client, u.Server, u.Why = red.addr(u.Client), red.addr(u.Server), red.text(u.Why, false)
		r.LogUnmatched = append(r.LogUnmatched, u)
	}
	if len(j.byConn) == 0 {
		return
	}
	r.logs = map[int]*logAttach{}
	for ci, ms := range j.byConn {
		c := r.conn(ci)
		a := &logAttach{match: &LogMatch{Method: ms[0].method, SkewMS: ms[0].skew.Seconds() * 1000}}
		// Each connection is redacted on its own, as in Builder.Add.
		red := newRedactor(r.redact)
		for _, m := range ms {
			for _, e := range []mtalog.Endpoint{m.sess.Local, m.sess.Remote} {
				if e.Host != "" && !e.Addr.IsValid() {
					red.host(e.Host)
				}
			}
			a.match.Sessions = append(a.match.Sessions, LogSessionRef{Source: m.log.Name, ID: red.text(m.sess.ID, true),
				Format: string(m.sess.Format), Role: string(m.sess.Role), Method: m.method, SkewMS: m.skew.Seconds() * 1000})
			for _, l := range m.sess.Lines() {
				// A syslog host without a dot is a host name all the same.
				red.host(l.Host)
				a.lines = append(a.lines, LogLine{Source: l.Source, Line: l.Number, Time: l.Time, WireTime: l.Time.Add(-m.skew),
					Text: red.text(l.Text, true), Message: red.text(l.Message, true)})
			}
			for _, s := range explainLog(&m, c) {
				a.match.Explanations = append(a.match.Explanations, red.text(s, true))
			}
		}
		if len(ms) > 1 {
			sortLogLines(a.lines)
		}
		if r.store == nil {
			c.Log, c.LogMatch = a.lines, a.match
		} else {
			r.logs[ci] = a
		}
	}
}

func sortLogLines(ls []LogLine) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].WireTime.Before(ls[j-1].WireTime); j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// withLogs adds the join's lines to a connection read back from the
// temporary file.
func (r *Report) withLogs(i int, c *Connection) *Connection {
	if a := r.logs[i]; a != nil {
		c.Log, c.LogMatch = a.lines, a.match
	}
	return c
}

// rawWithLogs is the JSON of connection i with the join's lines added.
func (r *Report) rawWithLogs(i int, raw []byte) ([]byte, error) {
	if r.logs[i] == nil {
		return raw, nil
	}
	c := new(Connection)
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, err
	}
	return json.Marshal(r.withLogs(i, c))
}
