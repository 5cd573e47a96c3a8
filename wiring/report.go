package wiring

import (
	"io"
	"os"
	"strings"

	"github.com/smtpscope/smtpscope/report"
)

// Outcome is how a command's run ended; the command turns it into its
// exit status.
type Outcome int

// Outcomes of a run.
const (
	// Clean: analysed, nothing failed.
	Clean Outcome = iota
	// Findings: analysed, at least one failed mail transaction or broken
	// connection.
	Findings
	// Failed: could not analyse, or an output could not be written; the
	// reason is already told on standard error.
	Failed
)

// WriteReport writes the report in format (text, json, markdown or
// html) to the named file, or to stdout when name is "" or "-". color is
// the --color mode of the text report; all lists every connection.
func WriteReport(rep *report.Report, name, format, color string, all bool, stdout io.Writer) error {
	return toOutput(name, stdout, func(out io.Writer) error {
		switch format {
		case "json":
			return rep.WriteJSON(out)
		case "markdown":
			return rep.WriteMarkdown(out, report.ViewOptions{All: all})
		case "html":
			return rep.WriteHTML(out, report.ViewOptions{All: all})
		}
		opt := textOptions(color, out)
		opt.All = all
		return rep.WriteText(out, opt)
	})
}

// toOutput runs write on the named file (created, and closed after), or
// on stdout when name is "" or "-"; it returns write's error, else the
// close's.
func toOutput(name string, stdout io.Writer, write func(io.Writer) error) (err error) {
	if name == "" || name == "-" {
		return write(stdout)
	}
	file, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}()
	return write(file)
}

// textOptions decides on colour: "always", "never", or "auto" = only when
// writing to a terminal and NO_COLOR (https://no-color.org) is unset.
func textOptions(mode string, w io.Writer) report.TextOptions {
	switch mode {
	case "always":
		return report.TextOptions{Color: true}
	case "never":
		return report.TextOptions{}
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return report.TextOptions{}
	}
	f, ok := w.(*os.File)
	if !ok {
		return report.TextOptions{}
	}
	st, err := f.Stat()
	if err != nil {
		return report.TextOptions{}
	}
	return report.TextOptions{Color: st.Mode()&os.ModeCharDevice != 0}
}

// OneLine keeps an error message on one line.
func OneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
