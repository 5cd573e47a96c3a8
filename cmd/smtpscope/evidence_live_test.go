//go:build cgo && linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// liveEvidenceEnv carries the arguments of TestLiveEvidenceHelper.
const liveEvidenceEnv = "SMTPSCOPE_LIVE_EVIDENCE_ARGS"

// TestLiveEvidenceUser: started as root, live --evidence gives a directory
// it makes to the --user it becomes, so that the files it writes hours
// later can be made; a directory it did not make and that user cannot
// write to is a one-line error at start, not a failure at the first
// failing connection. Each run is a child process (it drops privileges).
func TestLiveEvidenceUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (capture on lo, --user); CI runs as root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is 0700: nobody could not reach what is inside.
	dir, err := os.MkdirTemp("", "smtpscope-evidence-user-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	liveRun := func(evidence string) (int, string) {
		args := []string{"live", "-i", "lo", "--duration", "1s", "--user", "nobody", "--evidence", evidence}
		cmd := exec.Command(os.Args[0], "-test.run=^TestLiveEvidenceHelper$")
		cmd.Env = append(os.Environ(), liveEvidenceEnv+"="+strings.Join(args, "\n"))
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stderr.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
	made := filepath.Join(dir, "made")
	if st, stderr := liveRun(made); st != exitOK {
		t.Fatalf("live --evidence %s: exit %d: %s", made, st, stderr)
	}
	fi, err := os.Stat(made)
	if err != nil {
		t.Fatal(err)
	}
	if uid := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); uid != nobody.Uid {
		t.Errorf("%s is owned by uid %s, want nobody's %s", made, uid, nobody.Uid)
	}
	rootOwned := filepath.Join(dir, "root-owned")
	if err := os.Mkdir(rootOwned, 0o755); err != nil {
		t.Fatal(err)
	}
	st, stderr := liveRun(rootOwned)
	if st != exitError || !strings.Contains(stderr, "is not writable by the user this run became") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("live --evidence on a root-owned directory: exit %d, stderr %q", st, stderr)
	}
}

// TestLiveEvidenceHelper runs smtpscope with the arguments in
// liveEvidenceEnv, for TestLiveEvidenceUser; without them it does
// nothing.
func TestLiveEvidenceHelper(t *testing.T) {
	args := os.Getenv(liveEvidenceEnv)
	if args == "" {
		return
	}
	os.Exit(run(strings.Split(args, "\n"), nil, os.Stdout, os.Stderr))
}
