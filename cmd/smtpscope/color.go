package main

import (
	"io"
	"os"

	"github.com/smtpscope/smtpscope/report"
)

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
