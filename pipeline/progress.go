package pipeline

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressDelay is how long reading must take before progress shows:
// short runs print nothing.
const progressDelay = 2 * time.Second

// ReadProgress reports on standard error how much of the inputs was read
// (bytes, rate, elapsed), once reading has taken longer than
// progressDelay, and only when standard error is a terminal: never in a
// pipe, a file or CI. The rendering is schollz/progressbar's, behind a
// writer that drops what it draws during the first progressDelay; a nil
// *ReadProgress does nothing. Its Add fits Options.Read.
type ReadProgress struct {
	bar *progressbar.ProgressBar
}

// NewReadProgress returns a ReadProgress for inputs totalling total
// bytes (-1: unknown, see InputSize), or nil when stderr is not a
// terminal.
func NewReadProgress(stderr io.Writer, total int64) *ReadProgress {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("CI") != "" {
		return nil
	}
	return newProgressTo(&delayedWriter{w: stderr, from: time.Now().Add(progressDelay), now: time.Now}, total)
}

func newProgressTo(w io.Writer, total int64) *ReadProgress {
	return &ReadProgress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetSpinnerChangeInterval(0), // no goroutine of its own
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30))}
}

// Add counts n bytes read. It is called by the one goroutine that reads
// the inputs.
func (p *ReadProgress) Add(n int) {
	if p == nil || n <= 0 {
		return
	}
	p.bar.Add64(int64(n))
}

// Done clears the bar, before the report is written.
func (p *ReadProgress) Done() {
	if p == nil {
		return
	}
	p.bar.Finish()
}

// delayedWriter drops what is written before from: a run that ends
// sooner shows nothing.
type delayedWriter struct {
	w    io.Writer
	from time.Time
	now  func() time.Time
}

func (d *delayedWriter) Write(b []byte) (int, error) {
	if d.now().Before(d.from) {
		return len(b), nil
	}
	return d.w.Write(b)
}

// InputSize is the total size of the named inputs, -1 if one is standard
// input ("-") or not a regular file.
func InputSize(names []string) int64 {
	var total int64
	for _, name := range names {
		if name == "-" {
			return -1
		}
		fi, err := os.Stat(name)
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		total += fi.Size()
	}
	return total
}
