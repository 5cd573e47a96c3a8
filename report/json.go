package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes the report as JSON (schema smtpscope.report/v1),
// indented by two spaces except that each connection is one line: a
// report on a large capture stays quick to write and to grep, one
// connection per line (jq . pretty-prints it all). Connections are written
// one at a time, so a report held in a temporary file is never loaded
// whole.
func (r *Report) WriteJSON(w io.Writer) error {
	if err := r.writeJSON(w); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}

// jsonHead and jsonTail are the report's fields before and after
// "connections", in the order Report declares them.
type jsonHead struct {
	Schema  string    `json:"schema"`
	Inputs  []Input   `json:"inputs"`
	Verdict Diagnosis `json:"verdict"`
	Summary *Summary  `json:"summary"`
}

type jsonLogs struct {
	Logs         []LogInput            `json:"logs,omitempty"`
	LogUnmatched []UnmatchedConnection `json:"log_unmatched_connections,omitempty"`
}

type jsonTail struct {
	Totals   Totals    `json:"totals"`
	Patterns []Pattern `json:"patterns,omitempty"`
}

func (r *Report) writeJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	head, err := json.MarshalIndent(jsonHead{r.Schema, r.Inputs, r.Verdict, r.Summary}, "", "  ")
	if err != nil {
		return err
	}
	tail, err := json.MarshalIndent(jsonTail{r.Totals, r.Patterns}, "", "  ")
	if err != nil {
		return err
	}
	// Open the head object and the tail object at their braces: "{\n  ...\n}".
	bw.Write(head[:len(head)-2])
	bw.WriteString(",\n  \"connections\": [")
	var enc jsonEnc // for connections held in memory
	for i := range r.count() {
		var raw []byte
		if r.store != nil {
			raw, err = r.store.raw(&r.index[i])
			if err == nil {
				raw, err = r.rawWithLogs(i, raw)
			}
		} else {
			raw, err = enc.connectionJSON(&r.Connections[i])
		}
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(raw)
	}
	if r.count() > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("],\n")
	if len(r.Logs) > 0 {
		logs, err := json.MarshalIndent(jsonLogs{r.Logs, r.LogUnmatched}, "", "  ")
		if err != nil {
			return err
		}
		// the object's members, without its braces
		bw.Write(logs[2 : len(logs)-2])
		bw.WriteString(",\n")
	}
	bw.Write(tail[2:])
	bw.WriteByte('\n')
	return bw.Flush()
}
