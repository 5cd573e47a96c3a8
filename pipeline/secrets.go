package pipeline

import (
	"fmt"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// secretsFeed adds the key log lines of the inputs' pcapng Decryption
// Secrets Blocks to a key log as the reading reaches them.
type secretsFeed struct {
	keys *tlskeys.KeyLog
	// taken counts the bytes of each file's key log already added.
	taken map[*capture.File]int
	// badBefore is the key log's bad line count before the first block.
	badBefore int
	started   bool
	// workers is the run's; with more than one, the workers read the key
	// log, so secrets found after the first frame are not added (late).
	workers int
	late    bool
}

// frame adds the secrets read by the time the n-th frame was.
func (s *secretsFeed) frame(n int, files []*capture.File) {
	switch {
	case s.workers <= 1 || n == 1:
		s.take(files)
	case !s.late:
		s.late = s.pending(files)
	}
}

// take adds what the files' Decryption Secrets Blocks gained since the
// last call.
func (s *secretsFeed) take(files []*capture.File) {
	for _, f := range files {
		b := f.TLSKeyLog()
		if len(b) <= s.taken[f] {
			continue
		}
		if !s.started {
			s.started, s.badBefore = true, s.keys.BadLines()
		}
		s.keys.Add(f.Info().Name+" (Decryption Secrets Block)", b[s.taken[f]:])
		s.taken[f] = len(b)
	}
}

// pending reports whether a file's Decryption Secrets Blocks hold lines
// not added.
func (s *secretsFeed) pending(files []*capture.File) bool {
	for _, f := range files {
		if len(f.TLSKeyLog()) > s.taken[f] {
			return true
		}
	}
	return false
}

// warnings tells the bad lines of the blocks (file and line, never a
// secret).
func (s *secretsFeed) warnings() []string {
	var w []string
	if s.late {
		w = append(w, "TLS secrets (Decryption Secrets Blocks) after the first packet were not used with more than one worker")
	}
	if s.started && s.keys.BadLines() > s.badBefore {
		w = append(w, fmt.Sprintf("TLS key log in Decryption Secrets Blocks: %d bad lines skipped", s.keys.BadLines()-s.badBefore))
	}
	return w
}
