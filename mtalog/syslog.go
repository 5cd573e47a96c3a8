package mtalog

import (
	"strconv"
	"strings"
	"time"
)

// yearSlack is how far after Options.Reference a year-less time stamp may
// fall before it is taken to be of the year before.
const yearSlack = 7 * 24 * time.Hour

// parseSyslogPrefix reads the time stamp and host of a syslog line —
// classic "Dec  1 22:30:00[.123456] host ", or RFC 3339
// "2026-12-01T22:30:00.123456+00:00 host " — and returns the time, the
// host and what follows the host.
func parseSyslogPrefix(s string, loc *time.Location, ref time.Time) (t time.Time, host, rest string, ok bool) {
	t, rest, ok = syslogTime(s, loc, ref)
	if !ok {
		return time.Time{}, "", "", false
	}
	host, rest, ok = strings.Cut(rest, " ")
	if !ok {
		return time.Time{}, "", "", false
	}
	return t, host, rest, true
}

// syslogTime reads the time stamp of a syslog line and returns it and
// what follows it.
func syslogTime(s string, loc *time.Location, ref time.Time) (time.Time, string, bool) {
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return time.Time{}, "", false
	}
	var t time.Time
	if len(ts) >= 19 && ts[4] == '-' && ts[10] == 'T' {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			if t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", ts, loc); err != nil {
				return time.Time{}, "", false
			}
		}
	} else {
		// "Mmm dd hh:mm:ss": the day may be space-padded ("Dec  1").
		if len(s) < 16 {
			return time.Time{}, "", false
		}
		month, ok := months[s[:3]]
		if !ok || s[3] != ' ' {
			return time.Time{}, "", false
		}
		rest = strings.TrimLeft(s[4:], " ")
		dayS, after, ok := strings.Cut(rest, " ")
		day, err := strconv.Atoi(dayS)
		if !ok || err != nil || day < 1 || day > 31 {
			return time.Time{}, "", false
		}
		clock, after, ok := strings.Cut(after, " ")
		if !ok {
			return time.Time{}, "", false
		}
		c, err := time.Parse("15:04:05.999999999", clock)
		if err != nil {
			return time.Time{}, "", false
		}
		year := ref.In(loc).Year()
		t = time.Date(year, month, day, c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), loc)
		if t.After(ref.Add(yearSlack)) {
			t = time.Date(year-1, month, day, c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), loc)
		}
		rest = after
	}
	return t, rest, true
}

var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// syslogTag splits "postfix/smtp[123]: text" into the program
// ("postfix/smtp"), the pid and the text.
func syslogTag(s string) (prog string, pid int, text string, ok bool) {
	tag, text, ok := strings.Cut(s, ": ")
	if !ok {
		return "", 0, "", false
	}
	open := strings.IndexByte(tag, '[')
	if open <= 0 || !strings.HasSuffix(tag, "]") {
		return "", 0, "", false
	}
	pid, err := strconv.Atoi(tag[open+1 : len(tag)-1])
	if err != nil {
		return "", 0, "", false
	}
	return tag[:open], pid, text, true
}
