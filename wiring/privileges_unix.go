//go:build linux || darwin || freebsd

package wiring

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// dropPrivileges makes the process run as the named user (its primary
// group, no supplementary groups) once the capture and the output files
// are open, when it was started as root; as another user it does
// nothing. Go changes the ids of every thread (Go 1.16+).
func dropPrivileges(name string) error {
	if name == "" || os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := userIDs(name)
	if err != nil {
		return err
	}
	if uid == 0 {
		return fmt.Errorf("user %s is root", name)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	return nil
}

// giveTo makes path owned by the named user and its primary group when
// the process runs as root and will become that user (dropPrivileges):
// for a directory the run made, and writes into after dropping.
func giveTo(path, name string) error {
	if name == "" || os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := userIDs(name)
	if err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}

// userIDs looks up the named user's uid and primary gid.
func userIDs(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, err
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}
