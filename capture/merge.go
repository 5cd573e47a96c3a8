package capture

import (
	"errors"
	"io"
)

// Merge returns a Source that interleaves the frames of srcs by capture
// time, so that several captures of one incident read as one timeline.
// Frames with equal times come in the order of srcs; the frames of one
// source keep their order even where their times go backwards. Each frame
// keeps its Number and gets Input set to the index of its source in srcs.
//
// A frame's Data stays valid until the next call to the merged Next, as
// with any Source. A source that fails (a truncated file, say) is dropped
// and the others go on; once all are done, Next returns io.EOF if every
// source ended cleanly, and otherwise their errors, joined (errors.Is finds
// ErrTruncated in them). An error wrapping ErrTimeout from a live source
// is returned as it comes, and that source is asked again on the next call.
func Merge(srcs ...Source) Source {
	m := &merged{
		srcs:    srcs,
		heads:   make([]Frame, len(srcs)),
		pending: make([]bool, len(srcs)),
		live:    make([]bool, len(srcs)),
	}
	for i := range srcs {
		m.pending[i], m.live[i] = true, true
	}
	return m
}

// merged is the Source Merge returns.
type merged struct {
	srcs []Source
	// heads holds each live source's next frame. pending marks the
	// sources to read into heads on the next call: all of them at first,
	// then the one whose frame was returned last, read only then so that
	// the returned frame's Data stays valid until that call.
	heads   []Frame
	pending []bool
	live    []bool
	errs    []error
	done    error // io.EOF or the joined errors, once every source is done
}

// Next returns the earliest of the sources' next frames.
func (m *merged) Next() (Frame, error) {
	if m.done != nil {
		return Frame{}, m.done
	}
	for i, p := range m.pending {
		if !p {
			continue
		}
		f, err := m.srcs[i].Next()
		if errors.Is(err, ErrTimeout) {
			// A live source had nothing yet: which frame comes
			// first is unknown until it has, so ask again later.
			return Frame{}, err
		}
		m.pending[i] = false
		if err != nil {
			m.live[i] = false
			if err != io.EOF {
				m.errs = append(m.errs, err)
			}
			continue
		}
		f.Input = i
		m.heads[i] = f
	}
	first := -1
	for i, ok := range m.live {
		if ok && (first < 0 || m.heads[i].Time.Before(m.heads[first].Time)) {
			first = i
		}
	}
	if first < 0 {
		m.done = io.EOF
		if len(m.errs) > 0 {
			m.done = errors.Join(m.errs...)
		}
		return Frame{}, m.done
	}
	m.pending[first] = true
	return m.heads[first], nil
}
