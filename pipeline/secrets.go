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
	// taken counts the bytes of each file's key log already added, by the
	// file's position in the files given to frame (the same slice on
	// every call).
	taken []int
	// badBefore is the key log's bad line count before the first block.
	badBefore int
	started   bool
	// workers is the run's; with more than one, the workers read the key
	// log, so secrets found after the first frame are not added (late).
	workers int
	late    bool
	// possible: a file's format can hold secrets (pcapng).
	possible bool
}

// newSecretsFeed returns the feed of files' secrets into keys.
func newSecretsFeed(keys *tlskeys.KeyLog, workers int, files []*capture.File) secretsFeed {
	s := secretsFeed{keys: keys, workers: workers}
	for _, f := range files {
		s.possible = s.possible || f.MayHoldSecrets()
	}
	return s
}

// frame adds the secrets read by the time the n-th frame was. It is
// called for every frame: it costs a test when no file can hold secrets
// (pcap, Network Monitor), and for pcapng files without secrets (the
// common case) a type check and a length, with no map or index lookup.
func (s *secretsFeed) frame(n int, files []*capture.File) {
	if s.possible {
		s.poll(n, files)
	}
}

// poll is frame for files that can hold secrets.
func (s *secretsFeed) poll(n int, files []*capture.File) {
	if s.workers > 1 && n != 1 {
		if !s.late {
			s.late = s.pending(files)
		}
		return
	}
	for i, f := range files {
		if len(f.TLSKeyLog()) != 0 {
			s.take(i, f)
		}
	}
}

// take adds what the Decryption Secrets Blocks of files[i], f, gained
// since the last call.
func (s *secretsFeed) take(i int, f *capture.File) {
	b := f.TLSKeyLog()
	if len(s.taken) <= i {
		s.taken = append(s.taken, make([]int, i+1-len(s.taken))...)
	}
	if len(b) <= s.taken[i] {
		return
	}
	if !s.started {
		s.started, s.badBefore = true, s.keys.BadLines()
	}
	s.keys.Add(f.Info().Name+" (Decryption Secrets Block)", b[s.taken[i]:])
	s.taken[i] = len(b)
}

// pending reports whether a file's Decryption Secrets Blocks hold lines
// not added.
func (s *secretsFeed) pending(files []*capture.File) bool {
	for i, f := range files {
		if n := len(f.TLSKeyLog()); n > 0 && (i >= len(s.taken) || n > s.taken[i]) {
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
