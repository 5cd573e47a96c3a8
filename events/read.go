package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/smtpscope/smtpscope/report"
)

// maxLine bounds one event line when reading: a connection event with many
// transactions is a few kilobytes; a line beyond this is not ours.
const maxLine = 4 << 20

// AreEvents reports whether the named files are event files (their first
// bytes are a JSON object) rather than captures; a mix of both is an
// error.
func AreEvents(names []string) (bool, error) {
	var are bool
	for i, name := range names {
		head, err := readHead(name)
		if err != nil {
			return false, err
		}
		is := isEvents(head)
		if i > 0 && is != are {
			return false, fmt.Errorf("%s: captures and event files mixed: give either", name)
		}
		are = is
	}
	return are, nil
}

func readHead(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return head[:n], nil
}

// isEvents reports whether the start of a file looks like an events file
// (a JSON object), not a capture.
func isEvents(head []byte) bool {
	for _, b := range head {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// Messages reads the connection events of the named files (written by
// --events) as a hub's messages for report.CompareHubs; incident lines
// and refused MAIL attempts are skipped, and so are correction lines:
// they revise the cause of connections that did not fail
// (starttls-stripped), which no count of the comparison reads. Each call reads the files again.
// A line that is not an event of this schema is an error naming the file
// and line.
func Messages(names []string) report.HubMessages {
	return func(yield func(report.HubMessage) bool) error {
		for _, name := range names {
			stop, err := readMessages(name, yield)
			if err != nil || stop {
				return err
			}
		}
		return nil
	}
}

// readMessages yields one file's messages; stop is set when yield asked
// to stop.
func readMessages(name string, yield func(report.HubMessage) bool) (stop bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return scanMessages(name, f, yield)
}

func scanMessages(name string, r io.Reader, yield func(report.HubMessage) bool) (stop bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return false, fmt.Errorf("%s line %d: not an smtpscope event: %w", name, line, err)
		}
		if ev.SMTPScope.Schema != Schema {
			return false, fmt.Errorf("%s line %d: not an smtpscope event (schema %q, want %q)", name, line, ev.SMTPScope.Schema, Schema)
		}
		if ev.Event.Action != "connection" {
			continue
		}
		server := ev.Destination.Address
		if ev.Destination.IP != "" {
			server = endpointString(ev.Destination)
		}
		for _, tx := range ev.SMTPScope.Transactions {
			if tx == nil || tx.RefusedAttempt {
				continue
			}
			m := report.HubMessage{Server: server, Size: tx.Size, Outcome: tx.Outcome, Cause: tx.Cause, ConnCause: report.Cause(ev.SMTPScope.Cause)}
			if !yield(m) {
				return true, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("%s line %d: %w", name, line+1, err)
	}
	return false, nil
}

// endpointString writes an endpoint as the report writes a server:
// ip:port, IPv6 in brackets.
func endpointString(e Endpoint) string {
	a, err := netip.ParseAddr(e.IP)
	if err != nil {
		return e.IP
	}
	return netip.AddrPortFrom(a, e.Port).String()
}
