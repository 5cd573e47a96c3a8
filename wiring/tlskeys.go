package wiring

import (
	"fmt"
	"io"

	"github.com/smtpscope/smtpscope/tlskeys"
)

// liveKeyLogs are the --tls-keylog files of a live run, followed as their
// writers append to them.
type liveKeyLogs struct {
	keys      *tlskeys.KeyLog
	followers []*tlskeys.Follower
	// told marks the followers whose read error was told (once each).
	told   []bool
	stderr io.Writer
}

// followKeyLogs opens the --tls-keylog files of a live run (before it
// drops privileges) and reads what they hold; nil when none is named. A
// file that does not exist yet is waited for, and said so.
func followKeyLogs(names []string, stderr io.Writer) (*liveKeyLogs, error) {
	if len(names) == 0 {
		return nil, nil
	}
	l := &liveKeyLogs{keys: tlskeys.NewKeyLog(), told: make([]bool, len(names)), stderr: stderr}
	for _, name := range names {
		f, err := tlskeys.NewFollower(name, l.keys)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("--tls-keylog: %w", err)
		}
		if f.Waiting() {
			fmt.Fprintf(stderr, "smtpscope live: --tls-keylog %s does not exist yet: it is read once it does\n", name)
		}
		l.followers = append(l.followers, f)
	}
	return l, nil
}

// poll reads what was appended to the files into k and returns how many
// secrets it gave; a read error is told once per file. The live run calls
// it on a goroutine of its own, one call at a time
// (pipeline.LiveOptions.PollTLSKeys).
func (l *liveKeyLogs) poll(k *tlskeys.KeyLog) int {
	n := 0
	for i, f := range l.followers {
		added, err := f.PollInto(k)
		n += added
		if err != nil && !l.told[i] {
			l.told[i] = true
			fmt.Fprintf(l.stderr, "smtpscope live: --tls-keylog: %s\n", OneLine(err))
		}
	}
	return n
}

// close closes the files and tells their bad lines (file and line, never
// a secret).
func (l *liveKeyLogs) close() {
	if l == nil {
		return
	}
	for _, f := range l.followers {
		f.Close()
	}
	for _, w := range keyLogWarnings(l.keys) {
		fmt.Fprintf(l.stderr, "smtpscope live: warning: %s\n", w)
	}
}
