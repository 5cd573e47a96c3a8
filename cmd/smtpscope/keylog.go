package main

import (
	"fmt"
	"os"

	"github.com/smtpscope/smtpscope/tlskeys"
)

// readKeyLogs reads the --tls-keylog files into one key log; nil when none
// is named. Bad lines are skipped and told in warnings (file and line,
// never the line's secret).
func readKeyLogs(names []string) (*tlskeys.KeyLog, []string, error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	k := tlskeys.NewKeyLog()
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-keylog: %w", err)
		}
		err = k.Read(name, f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-keylog: %w", err)
		}
	}
	return k, keyLogWarnings(k), nil
}

// keyLogWarnings tells a key log's bad lines.
func keyLogWarnings(k *tlskeys.KeyLog) []string {
	if k.BadLines() == 0 {
		return nil
	}
	w := fmt.Sprintf("TLS key log: %d bad lines skipped", k.BadLines())
	if p := k.Problems(); len(p) > 0 {
		w += fmt.Sprintf(" (first: %s)", p[0])
	}
	return []string{w}
}
