//go:build !(linux || darwin || freebsd)

package wiring

import "errors"

// dropPrivileges is not supported on this system.
func dropPrivileges(name string) error {
	if name == "" {
		return nil
	}
	return errors.New("--user is not supported on this system")
}

// giveTo does nothing where --user is not supported.
func giveTo(path, name string) error { return nil }
