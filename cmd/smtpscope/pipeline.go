package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/smtp"
)

// pipelineOptions are the analysis settings the flags produce.
type pipelineOptions struct {
	serverPorts []uint16
	redact      bool
	// merge analyses all inputs as one timeline, frames numbered as in
	// the output of `mergecap -w merged.pcapng FILE...`.
	merge bool
	// workers is how many goroutines analyse connections (sharded by
	// connection); 0 or 1: the reading goroutine does all the work.
	workers int
	rules   report.Options
}

// connRef names a connection of the report by its real (never redacted)
// endpoints and frame range, for cutting it out of its input.
type connRef struct {
	Stream, Input         int
	Client, Server        netip.AddrPort
	FirstFrame, LastFrame int
}

// analyzeFiles runs capture → reassembly → smtp → report over the named
// inputs ("-" = stdin) and returns one report. Each input is analysed on
// its own (its frame numbers and tcp.stream numbers are its own), unless
// opts.merge. An input that cannot be read at all is an error; one that
// breaks off part-way is analysed up to the break and carries a warning.
// Connections go to the report as they end, so memory holds only the open
// ones (and the report's own bounded part; see report.Builder). failed
// lists the failing connections in report order. Close the report when
// done with it.
func analyzeFiles(names []string, stdin io.Reader, opts pipelineOptions) (rep *report.Report, failed []connRef, err error) {
	files := make([]*capture.File, 0, len(names))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, name := range names {
		f, err := open(name, stdin)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
	}
	rules := opts.rules
	rules.Redact = opts.redact
	b := report.NewBuilder(rules)
	defer func() {
		if err != nil {
			if r, _ := b.Finish(nil); r != nil {
				r.Close()
			}
		}
	}()
	var inputs []report.Input
	if opts.merge && len(files) > 1 {
		srcs := make([]capture.Source, len(files))
		for i, f := range files {
			srcs[i] = f
		}
		in, fs, err := analyzeSource(capture.Merge(srcs...), true, files, 0, b, opts)
		if err != nil {
			return nil, nil, err
		}
		inputs, failed = in, fs
	} else {
		for i, f := range files {
			in, fs, err := analyzeSource(f, false, files[i:i+1], i, b, opts)
			if err != nil {
				return nil, nil, err
			}
			inputs = append(inputs, in...)
			failed = append(failed, fs...)
		}
	}
	slices.SortStableFunc(failed, func(a, b connRef) int {
		return cmp.Or(cmp.Compare(a.Input, b.Input), cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.FirstFrame, b.FirstFrame))
	})
	rep, err = b.Finish(inputs)
	return rep, failed, err
}

func newSMTPHandler(*reassembly.Conn) reassembly.Handler { return smtp.NewDecoder(smtp.Options{}) }

// refOf names a connection for --evidence.
func refOf(c *reassembly.Conn, input int) connRef {
	return connRef{Stream: c.Stream, Input: input, Client: c.Client, Server: c.Server, FirstFrame: c.FirstFrame, LastFrame: c.LastFrame}
}

func open(name string, stdin io.Reader) (*capture.File, error) {
	if name == "-" {
		return capture.Open("-", stdin)
	}
	return capture.OpenFile(name)
}

// analyzeSource runs the pipeline over one source made of files, adding
// each connection to b as it ends; input is the index of the first of
// files among all inputs. With renumber, frames are numbered in the order
// the source yields them.
func analyzeSource(src capture.Source, renumber bool, files []*capture.File, input int, b *report.Builder, opts pipelineOptions) ([]report.Input, []connRef, error) {
	procs := processes(files)
	factsOf := func(c *reassembly.Conn) report.Facts {
		fc := report.Facts{Conn: c, Health: c.Health(), SMTPPort: slices.Contains(opts.serverPorts, c.Server.Port()),
			Process: procs.owner(c.Client, c.Server), Input: input}
		if d, ok := c.Handler.(*smtp.Decoder); ok {
			fc.Session = d.Session()
		}
		return fc
	}
	var failed []connRef
	var add func(*capture.Frame)
	// finish ends the analysis and returns the stage's counters and the
	// first link-layer error (of the earliest frame).
	var finish func() (reassembly.Stats, error)
	if opts.workers > 1 {
		run := newShardedRun(opts.workers, opts, factsOf)
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			run.collect(func(fc *report.Facts) {
				if b.Add(fc) {
					failed = append(failed, refOf(fc.Conn, input))
				}
			})
		}()
		add = run.add
		finish = func() (reassembly.Stats, error) {
			run.close()
			<-collected
			return run.result()
		}
	} else {
		tr := reassembly.NewTracker(reassembly.Options{
			ServerPorts: opts.serverPorts,
			NewHandler:  newSMTPHandler,
			Retire: func(c *reassembly.Conn) {
				fc := factsOf(c)
				if b.Add(&fc) {
					failed = append(failed, refOf(c, input))
				}
			},
		})
		var firstErr error
		add = func(f *capture.Frame) {
			if err := tr.Add(f); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		finish = func() (reassembly.Stats, error) {
			tr.Close()
			return tr.Stats(), firstErr
		}
	}
	inputs := make([]report.Input, len(files))
	for i, f := range files {
		inputs[i].Name = f.Info().Name
	}
	var readErr error
	n := 0
	// One Frame for the whole loop: add is a function value, so the frame
	// handed to it escapes, and a new one per packet would be allocated.
	fr := new(capture.Frame)
	for {
		var err error
		*fr, err = src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		n++
		if renumber {
			fr.Number = n
		}
		in := &inputs[min(fr.Input, len(inputs)-1)]
		if in.Start.IsZero() || fr.Time.Before(in.Start) {
			in.Start = fr.Time
		}
		if fr.Time.After(in.End) {
			in.End = fr.Time
		}
		add(fr)
	}
	st, linkErr := finish()
	for i, f := range files {
		info := f.Info()
		inputs[i].Format, inputs[i].Packets, inputs[i].Truncated = info.Format, info.Packets, info.Truncated
	}
	if readErr != nil {
		// Nothing read at all: the input is not something we can analyse.
		if n == 0 && !errors.Is(readErr, capture.ErrTruncated) {
			return nil, nil, readErr
		}
		inputs[0].Warnings = append(inputs[0].Warnings,
			fmt.Sprintf("%v; the report covers the %d frames before it", readErr, n))
	}
	// The stage's counters go with the first input (all inputs, merged).
	inputs[0].Reassembly = &report.ReassemblyStats{TCPFrames: st.TCPFrames, OtherFrames: st.OtherFrames,
		UnsupportedLink: st.UnsupportedLink, Expired: st.Expired, AckedHoles: st.AckedHoles, Recovered: st.Recovered}
	if st.UnsupportedLink > 0 {
		if st.UnsupportedLink == st.Frames {
			return nil, nil, fmt.Errorf("%s: %w", inputs[0].Name, linkErr)
		}
		inputs[0].Warnings = append(inputs[0].Warnings, fmt.Sprintf("%d frames skipped: %v", st.UnsupportedLink, linkErr))
	}
	if st.Recovered > 0 {
		inputs[0].Warnings = append(inputs[0].Warnings, fmt.Sprintf("%d reassembly faults recovered; affected connections are cut short", st.Recovered))
	}
	return inputs, failed, nil
}

// processTable maps a connection's endpoints to the process that owned
// it, from Network Monitor 2.2+ process tables.
type processTable map[[2]netip.AddrPort]*report.Process

func processes(files []*capture.File) processTable {
	t := processTable{}
	for _, f := range files {
		ps, err := f.Processes()
		if err != nil {
			continue
		}
		for _, p := range ps {
			local := netip.AddrPortFrom(p.LocalAddr, p.LocalPort)
			remote := netip.AddrPortFrom(p.RemoteAddr, p.RemotePort)
			t[[2]netip.AddrPort{local, remote}] = &report.Process{PID: p.PID, Name: filepath.Base(winPath(p.Path)), Path: p.Path}
		}
	}
	return t
}

// owner finds the process on either end of a connection.
func (t processTable) owner(client, server netip.AddrPort) *report.Process {
	if p := t[[2]netip.AddrPort{client, server}]; p != nil {
		return p
	}
	return t[[2]netip.AddrPort{server, client}]
}

// winPath turns a Windows path's separators into slashes so that
// filepath.Base finds the program name on any OS.
func winPath(p string) string {
	b := []byte(p)
	for i := range b {
		if b[i] == '\\' {
			b[i] = '/'
		}
	}
	return string(b)
}
