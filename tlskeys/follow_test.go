package tlskeys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFollower appends to a key log file in the pieces a writer may leave
// it in and checks what each Poll adds.
func TestFollower(t *testing.T) {
	const otherRandom = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	line := func(random string) string { return "CLIENT_RANDOM " + random + " " + testMaster48 + "\n" }
	type step struct {
		name string
		// do changes the file; then Poll must add want secrets, and the
		// key log hold have client randoms and bad lines.
		do        func(t *testing.T, path string)
		want      int
		have, bad int
	}
	appendTo := func(s string) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	full := line(testRandom)
	steps := []step{
		{"missing file", func(*testing.T, string) {}, 0, 0, 0},
		{"created with a comment", appendTo("# SSL/TLS secrets log file\n"), 0, 0, 0},
		{"half a line", appendTo(full[:40]), 0, 0, 0},
		{"nothing new", func(*testing.T, string) {}, 0, 0, 0},
		{"the rest of the line", appendTo(full[40:]), 1, 1, 0},
		{"a bad line and a good one", appendTo("CLIENT_RANDOM zz\n" + line(otherRandom)), 1, 2, 1},
		{"an over-long line in two writes, then a good one", func(t *testing.T, path string) {
			appendTo(strings.Repeat("A", MaxLineLength+6))(t, path)
		}, 0, 2, 2},
		{"its end", appendTo(strings.Repeat("A", 10) + "\n" + line(testRandom)), 0, 2, 2},
		{"truncated and written again", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(line(otherRandom)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0, 2, 2},
		{"rotated: a new file under the name", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			const third = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
			appendTo("CLIENT_HANDSHAKE_TRAFFIC_SECRET "+third+" "+testSecret32+"\n")(t, path)
		}, 1, 3, 2},
	}
	path := filepath.Join(t.TempDir(), "keys.log")
	keys := NewKeyLog()
	fl, err := NewFollower(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if !fl.Waiting() {
		t.Errorf("Waiting() = false before the file exists")
	}
	for _, s := range steps {
		s.do(t, path)
		got, err := fl.Poll()
		if err != nil {
			t.Fatalf("%s: Poll: %v", s.name, err)
		}
		if got != s.want || keys.Len() != s.have || keys.BadLines() != s.bad {
			t.Errorf("%s: Poll() = %d secrets, key log %d randoms, %d bad lines; want %d, %d, %d",
				s.name, got, keys.Len(), keys.BadLines(), s.want, s.have, s.bad)
		}
	}
	// Line numbers go on across Polls: the bad line was the file's third.
	if p := keys.Problems(); len(p) < 2 || p[0].Line != 3 || p[1].Line != 5 {
		t.Errorf("problems %v, want lines 3 and 5", p)
	}
}

// TestFollowerExisting reads what the file holds when following starts.
func TestFollowerExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	if err := os.WriteFile(path, []byte("CLIENT_RANDOM "+testRandom+" "+testMaster48+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := NewKeyLog()
	fl, err := NewFollower(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if keys.Len() != 1 || fl.Waiting() {
		t.Errorf("after NewFollower: %d client randoms, waiting %v; want 1, false", keys.Len(), fl.Waiting())
	}
	if _, err := NewFollower(t.TempDir(), NewKeyLog()); err == nil {
		t.Errorf("NewFollower(a directory) succeeded")
	}
}

// TestKeyLogReady tells a session whose secrets are all there from one
// that lacks some.
func TestKeyLogReady(t *testing.T) {
	r := mustRandom(t, testRandom)
	tls13 := Session{Version: VersionTLS13, Suite: TLS_AES_128_GCM_SHA256, ClientRandom: r}
	tls12 := Session{Version: VersionTLS12, Suite: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ClientRandom: r}
	for _, c := range []struct {
		name  string
		lines []string
		s     Session
		want  error
	}{
		{"no line", nil, tls13, ErrNoKey},
		{"handshake secrets only", []string{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"}, tls13, ErrMissingSecret},
		{"all four", []string{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}, tls13, nil},
		{"TLS 1.2 with TLS 1.3 secrets", []string{"CLIENT_TRAFFIC_SECRET_0"}, tls12, ErrMissingSecret},
		{"TLS 1.2 master secret", []string{"CLIENT_RANDOM"}, tls12, nil},
	} {
		k := NewKeyLog()
		for _, l := range c.lines {
			secret := testSecret32
			if l == "CLIENT_RANDOM" {
				secret = testMaster48
			}
			k.Add("test", []byte(l+" "+testRandom+" "+secret+"\n"))
		}
		err := k.Ready(c.s)
		if (c.want == nil) != (err == nil) || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Ready() = %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzFollower appends arbitrary key log bytes to a followed file in
// arbitrary pieces, polling after each: the key log gains exactly what
// reading the whole file at once gives (secrets and bad lines), whether
// each Poll fills it or each PollInto fills a new KeyLog merged into it.
func FuzzFollower(f *testing.F) {
	line := "CLIENT_RANDOM " + testRandom + " " + testMaster48 + "\n"
	f.Add([]byte("# comment\n"+line+"CLIENT_RANDOM zz\n"), []byte{3, 40, 7})
	f.Add([]byte(strings.Repeat("A", MaxLineLength+3)+"\n"+line), []byte{200, 255, 255, 255, 255, 100})
	f.Add([]byte("SERVER_TRAFFIC_SECRET_0 "+testRandom+" "+testSecret32+"\r\n"+line[:50]), []byte{1})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		path := filepath.Join(t.TempDir(), "keys.log")
		keys := NewKeyLog()
		fl, err := NewFollower(path, keys)
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		// merged is filled as a live run's key log goroutine fills it: a
		// new KeyLog per PollInto, merged.
		merged := NewKeyLog()
		fm, err := NewFollower(path, merged)
		if err != nil {
			t.Fatal(err)
		}
		defer fm.Close()
		poll := func() {
			if _, err := fl.Poll(); err != nil {
				t.Fatal(err)
			}
			batch := NewKeyLog()
			if _, err := fm.PollInto(batch); err != nil {
				t.Fatal(err)
			}
			merged.Merge("followed", batch)
		}
		file, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, int(cuts[i])*8)
			}
			if _, err := file.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			poll()
		}
		// A last line without its newline is read once it ends.
		if _, err := file.WriteString("\n"); err != nil {
			t.Fatal(err)
		}
		poll()
		whole := NewKeyLog()
		whole.Add("whole", append(slices.Clone(data), '\n'))
		for _, k := range []struct {
			name string
			keys *KeyLog
		}{{"followed", keys}, {"followed and merged", merged}} {
			if k.keys.Len() != whole.Len() || k.keys.entries != whole.entries || k.keys.BadLines() != whole.BadLines() {
				t.Fatalf("%s: %d randoms, %d secrets, %d bad lines; read whole: %d, %d, %d",
					k.name, k.keys.Len(), k.keys.entries, k.keys.BadLines(), whole.Len(), whole.entries, whole.BadLines())
			}
		}
	})
}

// TestFollowerLargeExisting reads the whole of a key log larger than one
// Poll reads when following starts.
func TestFollowerLargeExisting(t *testing.T) {
	var b strings.Builder
	n := 0
	for b.Len() < 2*maxFollowRead+1000 {
		fmt.Fprintf(&b, "CLIENT_RANDOM %064x %s\n", n, testMaster48)
		n++
	}
	path := filepath.Join(t.TempDir(), "keys.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := NewKeyLog()
	fl, err := NewFollower(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if keys.Len() != n || keys.BadLines() != 0 {
		t.Errorf("after NewFollower: %d client randoms, %d bad lines; want %d, 0", keys.Len(), keys.BadLines(), n)
	}
}
