package tlskeys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Follower reads a key log file that another program keeps appending to
// (an MTA or a test client writing SSLKEYLOGFILE while a live capture
// runs) into a KeyLog: each Poll adds the whole lines written since the
// last one. A line still being written (no newline yet) waits for the
// next Poll. A file that shrank (truncated) is read again from its start;
// one replaced under the same name (rotated) is opened anew and read from
// its start. A file that does not exist yet is looked for at each Poll.
//
// A Follower is not safe for concurrent use, and neither is the KeyLog it
// fills: call Poll from the goroutine that reads the KeyLog, or PollInto
// from another and merge (KeyLog.Merge).
type Follower struct {
	name string
	keys *KeyLog
	f    *os.File
	// off is the offset of the first byte not read; line the number of
	// the next line.
	off  int64
	line int
	// partial is the start of a line with no newline yet.
	partial []byte
	// skipping is set while the rest of an over-long line is skipped.
	skipping bool
	buf      []byte
}

// maxFollowRead bounds what one Poll reads: the rest waits for the next.
const maxFollowRead = 1 << 20

// NewFollower returns a Follower of the key log file name, adding to
// keys, and reads what the file holds already. It fails only when the
// file exists and cannot be opened or read; a missing one is waited for.
func NewFollower(name string, keys *KeyLog) (*Follower, error) {
	fl := &Follower{name: name, keys: keys, line: 1}
	f, err := os.Open(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fl, nil
	case err != nil:
		return nil, err
	}
	fl.f = f
	for {
		// All of what the file holds already, not maxFollowRead of it.
		_, read, err := fl.poll()
		if err != nil {
			f.Close()
			return nil, err
		}
		if read < maxFollowRead {
			return fl, nil
		}
	}
}

// Name returns the file's name.
func (fl *Follower) Name() string { return fl.name }

// Waiting reports whether the file has not been found yet.
func (fl *Follower) Waiting() bool { return fl.f == nil }

// Poll adds the whole lines appended to the file since the last Poll and
// returns how many secrets they gave. Bad lines are recorded in the
// KeyLog (see KeyLog.Problems) as when reading a whole file. An error is
// a failed read (the Follower goes on at the next Poll); a file that
// cannot be opened again after a rotation is read no more, as the old
// one, and said once.
func (fl *Follower) Poll() (int, error) {
	n, _, err := fl.poll()
	return n, err
}

// PollInto is Poll adding to k instead of the KeyLog the Follower was made
// with: a goroutine that reads key log files apart from the one that
// reads the keys fills a new KeyLog at each PollInto and hands it over,
// to be merged into the keys (KeyLog.Merge) where they are read.
func (fl *Follower) PollInto(k *KeyLog) (int, error) {
	keep := fl.keys
	fl.keys = k
	defer func() { fl.keys = keep }()
	return fl.Poll()
}

// poll is Poll; it also returns the bytes it read.
func (fl *Follower) poll() (secrets, read int, err error) {
	if err := fl.reopen(); err != nil {
		return 0, 0, err
	}
	if fl.f == nil {
		return 0, 0, nil
	}
	if st, err := fl.f.Stat(); err == nil && st.Size() < fl.off {
		fl.restart() // truncated in place
	}
	before := fl.keys.entries
	if cap(fl.buf) == 0 {
		fl.buf = make([]byte, 64<<10)
	}
	for read < maxFollowRead {
		n, err := fl.f.ReadAt(fl.buf, fl.off)
		fl.off += int64(n)
		read += n
		fl.take(fl.buf[:n])
		if err != nil && err != io.EOF {
			return fl.keys.entries - before, read, fmt.Errorf("%s: %w", fl.name, err)
		}
		if err == io.EOF || n == 0 {
			break
		}
	}
	return fl.keys.entries - before, read, nil
}

// reopen opens the file when it appeared, or appeared anew under its name.
func (fl *Follower) reopen() error {
	st, err := os.Stat(fl.name)
	if err != nil {
		return nil // gone or not there yet: keep what is open
	}
	if fl.f != nil {
		if cur, err := fl.f.Stat(); err == nil && os.SameFile(cur, st) {
			return nil
		}
	}
	f, err := os.Open(fl.name)
	if err != nil {
		if fl.f == nil {
			return nil // it may become readable
		}
		return fmt.Errorf("%s was replaced and cannot be opened again (the old file is followed no more): %w", fl.name, err)
	}
	if fl.f != nil {
		fl.f.Close()
	}
	fl.f = f
	fl.restart()
	return nil
}

// restart reads the file again from its start.
func (fl *Follower) restart() {
	fl.off, fl.line, fl.partial, fl.skipping = 0, 1, fl.partial[:0], false
}

// take adds the whole lines of b (after what partial holds) and keeps the
// rest of the last one.
func (fl *Follower) take(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if !fl.skipping {
				fl.partial = append(fl.partial, b...)
				if len(fl.partial) > MaxLineLength {
					fl.keys.problem(LineError{fl.name, fl.line, fmt.Sprintf("line longer than %d bytes", MaxLineLength)})
					fl.partial, fl.skipping = fl.partial[:0], true
				}
			}
			return
		}
		line := b[:i+1]
		b = b[i+1:]
		if fl.skipping {
			fl.skipping = false
			fl.line++
			continue
		}
		if len(fl.partial) > 0 {
			fl.partial = append(fl.partial, line...)
			line = fl.partial
		}
		n, _ := fl.keys.readFrom(fl.name, fl.line, bytes.NewReader(line)) // a bytes.Reader cannot fail
		fl.line += n
		fl.partial = fl.partial[:0]
	}
}

// Close closes the file.
func (fl *Follower) Close() error {
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f = nil
	return err
}

// Ready says whether the key log holds every secret the session s needs
// in both directions: nil when it does; ErrNoKey when it holds none for
// its client random, ErrMissingSecret when it holds some. Other errors
// (an unknown suite or version) say that no key would help. A caller
// whose key log grows (Follower) waits on ErrNoKey and ErrMissingSecret.
func (k *KeyLog) Ready(s Session) error {
	keys, ok := k.keys[s.ClientRandom]
	if !ok {
		return fmt.Errorf("%w %s", ErrNoKey, s.ClientRandom)
	}
	if s.Version == VersionTLS13 {
		if keys.ClientHandshake == nil || keys.ServerHandshake == nil || keys.ClientTraffic0 == nil || keys.ServerTraffic0 == nil {
			return fmt.Errorf("%w: not all four TLS 1.3 traffic secrets for client random %s", ErrMissingSecret, s.ClientRandom)
		}
	} else if keys.MasterSecret == nil {
		return fmt.Errorf("%w: no master secret for client random %s", ErrMissingSecret, s.ClientRandom)
	}
	for _, dir := range []Direction{ClientToServer, ServerToClient} {
		if _, err := NewDecrypter(k, s, dir); err != nil {
			return err
		}
	}
	return nil
}
