package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/smtp"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// DefaultServerPorts are the ports always taken as SMTP servers'.
var DefaultServerPorts = []uint16{25, 465, 587, 2525}

// DefaultTLSPorts are the SMTP server ports always taken as implicit TLS
// (SMTPS, RFC 8314 §3.3).
var DefaultTLSPorts = []uint16{465}

// Options are the settings of a run. The zero value analyses the default
// SMTP ports on one goroutine with the report's default rules.
type Options struct {
	// ServerPorts are the SMTP server ports (nil: DefaultServerPorts).
	ServerPorts []uint16
	// TLSPorts are the server ports of implicit TLS, read as TLS from the
	// first byte even when the capture missed the ClientHello (nil:
	// DefaultTLSPorts). They are SMTP server ports too.
	TLSPorts []uint16
	// Merge analyses several files as one timeline, frames numbered as in
	// the output of `mergecap -w merged.pcapng FILE...` (Files only).
	Merge bool
	// Workers is how many goroutines analyse connections, sharded by
	// connection (Run only; 0 or 1: the reading goroutine does all the
	// work). The report is the same for any number.
	Workers int
	// Report are the report's rules, its redaction and its list bounds.
	Report report.Options
	// IdleTimeout ends a connection idle this long in capture time (zero:
	// reassembly.DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxConnections and MaxBufferedBytes are the memory caps of
	// reassembly (zero: reassembly.DefaultMaxConnections and
	// DefaultMaxBufferedBytes; see reassembly.Options), shared out
	// between the Workers.
	MaxConnections, MaxBufferedBytes int
	// Connection, if set, is told of each connection as the report adds
	// it (report.Builder.OnAdd), for an events or metrics sink (Files and
	// LiveReport: the caller of Run and Live sets it on its own Builder).
	Connection func(*report.Connection)
	// Revision, if set, is told of each connection whose diagnosis the
	// report changes when it is finished, after Connection was told of it
	// (report.Builder.OnRevise: starttls-stripped), for an events sink to
	// correct what it wrote (Files and LiveReport).
	Revision func(*report.Revision)
	// Read, if set, is told of the bytes read from the input files as they
	// are read, compressed or not (Files only), for a progress display.
	// It is called by the one goroutine that reads.
	Read func(n int)
	// TLSKeys decrypts the TLS sessions it has secrets for (nil: none
	// given); the secrets of the inputs' pcapng Decryption Secrets Blocks
	// are added to it, or to a key log of the run's own.
	TLSKeys *tlskeys.KeyLog
}

// ports are the SMTP server ports, those of implicit TLS included.
func (o *Options) ports() []uint16 {
	ports := o.ServerPorts
	if ports == nil {
		ports = DefaultServerPorts
	}
	for _, p := range o.tlsPorts() {
		if !slices.Contains(ports, p) {
			ports = append(slices.Clip(ports), p)
		}
	}
	return ports
}

func (o *Options) tlsPorts() []uint16 {
	if o.TLSPorts == nil {
		return DefaultTLSPorts
	}
	return o.TLSPorts
}

// ConnRef names a connection of the report by its real (never redacted)
// endpoints and frame range, for cutting it out of its input.
type ConnRef struct {
	Stream, Input         int
	Client, Server        netip.AddrPort
	FirstFrame, LastFrame int
	// ClientRandom is the TLS ClientHello's random, the key of the
	// session's key log lines; zero without a ClientHello.
	ClientRandom tlskeys.Random
}

// Source is one run's input: frames, and the capture files they come
// from (for their names, formats and process tables).
type Source struct {
	Frames capture.Source
	Files  []*capture.File
	// Input is the index of Files[0] among all the report's inputs.
	Input int
	// Renumber numbers frames in the order Frames yields them (a merge of
	// several files).
	Renumber bool
}

// Result is what a run hands back besides the connections it added to
// the builder.
type Result struct {
	// Inputs describe the source's files, with the run's counters and
	// warnings on the first.
	Inputs []report.Input
	// Failed lists the failing connections, in the order they ended.
	Failed []ConnRef
}

// Files runs capture → reassembly → smtp → report over the named inputs
// ("-" = stdin) and returns one report. Each input is analysed on its own
// (its frame numbers and tcp.stream numbers are its own), unless
// opts.Merge. An input that cannot be read at all is an error; one that
// breaks off part-way is analysed up to the break and carries a warning.
// Connections go to the report as they end, so memory holds only the open
// ones (and the report's own bounded part; see report.Builder). failed
// lists the failing connections in report order. Close the report when
// done with it.
func Files(ctx context.Context, names []string, stdin io.Reader, opts Options) (rep *report.Report, failed []ConnRef, err error) {
	files := make([]*capture.File, 0, len(names))
	var opened []io.Closer // the files open opened for a counting reader
	defer func() {
		for _, f := range files {
			f.Close()
		}
		for _, c := range opened {
			c.Close()
		}
	}()
	for _, name := range names {
		f, c, err := open(name, stdin, opts.Read)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		if c != nil {
			opened = append(opened, c)
		}
	}
	opts.Report.SeparateInputs = !opts.Merge && len(names) > 1
	b := report.NewBuilder(opts.Report)
	b.OnAdd(opts.Connection)
	b.OnRevise(opts.Revision)
	defer func() {
		if err != nil {
			if r, _ := b.Finish(nil); r != nil {
				r.Close()
			}
		}
	}()
	var sources []Source
	if opts.Merge && len(files) > 1 {
		srcs := make([]capture.Source, len(files))
		for i, f := range files {
			srcs[i] = f
		}
		sources = []Source{{Frames: capture.Merge(srcs...), Files: files, Renumber: true}}
	} else {
		for i, f := range files {
			sources = append(sources, Source{Frames: f, Files: files[i : i+1], Input: i})
		}
	}
	var inputs []report.Input
	for _, src := range sources {
		res, err := Run(ctx, src, b, opts)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, res.Inputs...)
		failed = append(failed, res.Failed...)
	}
	slices.SortStableFunc(failed, func(a, b ConnRef) int {
		return cmp.Or(cmp.Compare(a.Input, b.Input), cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.FirstFrame, b.FirstFrame))
	})
	rep, err = b.Finish(inputs)
	return rep, failed, err
}

// smtpHandler makes each connection's handler: its decoder, with the key
// log if it holds any secret when the connection opens, reading TLS from
// the first byte on the ports of implicit TLS. The decoder itself is made
// at the connection's first bytes, gap or control event (lazyDecoder).
// The decoders of one smtpHandler share a certificate cache, so that a
// server's certificate is parsed and checked once.
func smtpHandler(keys *tlskeys.KeyLog, tlsPorts []uint16) func(*reassembly.Conn) reassembly.Handler {
	certs := new(tlsrecord.CertificateCache)
	return func(c *reassembly.Conn) reassembly.Handler {
		o := decoderOptions(c, keys, tlsPorts)
		return &lazyDecoder{conn: c, keys: o.TLSKeys, implicitTLS: o.ImplicitTLS, certs: certs}
	}
}

// decoderOptions are the smtp.Options of connection c.
func decoderOptions(c *reassembly.Conn, keys *tlskeys.KeyLog, tlsPorts []uint16) smtp.Options {
	o := smtp.Options{ImplicitTLS: slices.Contains(tlsPorts, c.Server.Port())}
	if keys != nil && keys.Len() > 0 {
		o.TLSKeys = keys
	}
	return o
}

// lazyDecoder stands for a connection's SMTP decoder until the
// connection's first bytes, gap or control event, as live's handler does
// (liveConn): a SYN flood's connections, which have none, hold no decoder
// while they are open. At the first event it makes the decoder and puts it
// in its place as the connection's Handler, so that the rest of the
// connection's events go to the decoder directly. A connection that ends
// without any event gets its decoder at End, which has seen nothing but
// the end: its session is what a decoder made at the SYN would give. The
// options are fixed when the connection opens, as they were for a decoder
// made then; only the two that decoderOptions sets are kept (and the
// run's certificate cache), not a whole smtp.Options, to keep an open
// connection small.
type lazyDecoder struct {
	conn        *reassembly.Conn
	keys        *tlskeys.KeyLog
	certs       *tlsrecord.CertificateCache
	implicitTLS bool
}

var _ reassembly.Handler = (*lazyDecoder)(nil)

// decoder makes the decoder and hands the connection to it.
func (l *lazyDecoder) decoder() *smtp.Decoder {
	d := smtp.NewDecoder(smtp.Options{ImplicitTLS: l.implicitTLS, TLSKeys: l.keys, Certificates: l.certs})
	l.conn.Handler = d
	return d
}

// Data implements reassembly.Handler.
func (l *lazyDecoder) Data(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	l.decoder().Data(dir, data, at)
}

// Gap implements reassembly.Handler.
func (l *lazyDecoder) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	l.decoder().Gap(dir, n, at)
}

// Control implements reassembly.Handler.
func (l *lazyDecoder) Control(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	l.decoder().Control(kind, dir, at)
}

// End implements reassembly.Handler.
func (l *lazyDecoder) End(at reassembly.Mark) { l.decoder().End(at) }

// refOf names a connection for --evidence.
func refOf(fc *report.Facts, input int) ConnRef {
	c := fc.Conn
	ref := ConnRef{Stream: c.Stream, Input: input, Client: c.Client, Server: c.Server, FirstFrame: c.FirstFrame, LastFrame: c.LastFrame}
	if s := fc.Session; s != nil && s.TLS != nil && s.TLS.Handshake != nil {
		if r, ok := s.TLS.Handshake.ClientRandom(); ok {
			ref.ClientRandom = r
		}
	}
	return ref
}

// open opens an input. With read set, it reads through a counting reader
// (a counting *os.File for a file, so that a Network Monitor file is still
// read in place with ReadAt and Seek) and returns the file for the caller
// to close besides the capture.File.
func open(name string, stdin io.Reader, read func(int)) (*capture.File, io.Closer, error) {
	if name == "-" {
		if read != nil {
			stdin = countingReader{stdin, read}
		}
		f, err := capture.Open("-", stdin)
		return f, nil, err
	}
	if read == nil {
		f, err := capture.OpenFile(name)
		return f, nil, err
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	f, err := capture.Open(name, countingFile{fh, read})
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	return f, fh, nil
}

// countingReader tells read how many bytes each Read returned.
type countingReader struct {
	r    io.Reader
	read func(int)
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.read(n)
	return n, err
}

// countingFile is countingReader for a file, keeping its ReadAt and Seek.
type countingFile struct {
	*os.File
	read func(int)
}

func (c countingFile) Read(b []byte) (int, error) {
	n, err := c.File.Read(b)
	c.read(n)
	return n, err
}

func (c countingFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.File.ReadAt(b, off)
	c.read(n)
	return n, err
}

// ctxEvery is how many frames a run reads between two looks at its
// context: often enough to stop within milliseconds, rarely enough to cost
// nothing per frame.
const ctxEvery = 4096

// Run runs the pipeline over one source, adding each connection to b as
// it ends (the caller finishes b), and returns the source's inputs and
// failing connections. With opts.Workers > 1 the connections are analysed
// on that many goroutines and numbered as one Tracker numbers them. A
// source that yields no frame at all before an error is an error; one
// that breaks off later is analysed up to the break and its first input
// carries a warning. When ctx ends, the run stops reading and reports
// what it read.
func Run(ctx context.Context, src Source, b *report.Builder, opts Options) (Result, error) {
	procs := processes(src.Files)
	ports := opts.ports()
	if opts.TLSKeys == nil {
		opts.TLSKeys = tlskeys.NewKeyLog()
	}
	secrets := newSecretsFeed(opts.TLSKeys, opts.Workers, src.Files)
	factsOf := func(c *reassembly.Conn) report.Facts {
		return report.Facts{Conn: c, Health: c.Health(), SMTPPort: slices.Contains(ports, c.Server.Port()),
			Process: procs.owner(c), Input: src.Input, Session: sessionOf(c)}
	}
	var failed []ConnRef
	var add func(*capture.Frame)
	// finish ends the analysis and returns the stage's counters and the
	// first link-layer error (of the earliest frame).
	var finish func() (reassembly.Stats, error)
	if opts.Workers > 1 {
		run := newShardedRun(opts.Workers, opts, factsOf)
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			run.collect(func(fc *report.Facts) {
				ref := refOf(fc, src.Input) // before Add, which may let the session go
				if b.Add(fc) {
					failed = append(failed, ref)
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
			ServerPorts:      ports,
			IdleTimeout:      opts.IdleTimeout,
			MaxConnections:   opts.MaxConnections,
			MaxBufferedBytes: opts.MaxBufferedBytes,
			NewHandler:       smtpHandler(opts.TLSKeys, opts.tlsPorts()),
			Retire: func(c *reassembly.Conn) {
				fc := factsOf(c)
				ref := refOf(&fc, src.Input) // before Add, which may let the session go
				if b.Add(&fc) {
					failed = append(failed, ref)
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
	inputs := make([]report.Input, max(len(src.Files), 1))
	for i, f := range src.Files {
		inputs[i].Name = f.Info().Name
	}
	var readErr error
	n := 0
	// One Frame for the whole loop: add is a function value, so the frame
	// handed to it escapes, and a new one per packet would be allocated.
	fr := new(capture.Frame)
	for {
		if n%ctxEvery == 0 && ctx.Err() != nil {
			break
		}
		var err error
		*fr, err = src.Frames.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		n++
		if src.Renumber {
			fr.Number = n
		}
		secrets.frame(n, src.Files)
		in := &inputs[min(fr.Input, len(inputs)-1)]
		if in.Start.IsZero() {
			in.Start = fr.Time
		}
		// Start <= End once a frame was seen, so a frame after End is not
		// before Start: frames in time order cost one comparison.
		if fr.Time.After(in.End) {
			in.End = fr.Time
		} else if fr.Time.Before(in.Start) {
			in.Start = fr.Time
		}
		add(fr)
	}
	st, linkErr := finish()
	for i, f := range src.Files {
		info := f.Info()
		inputs[i].Format, inputs[i].Packets, inputs[i].Truncated = info.Format, info.Packets, info.Truncated
	}
	if readErr != nil {
		// Nothing read at all: the input is not something we can analyse.
		if n == 0 && !errors.Is(readErr, capture.ErrTruncated) {
			return Result{}, readErr
		}
		inputs[0].Warnings = append(inputs[0].Warnings,
			fmt.Sprintf("%v; the report covers the %d frames before it", readErr, n))
	}
	if st.UnsupportedLink > 0 && st.UnsupportedLink == st.Frames {
		return Result{}, fmt.Errorf("%s: %w", inputs[0].Name, linkErr)
	}
	stageCounters(&inputs[0], st, linkErr)
	inputs[0].Warnings = append(inputs[0].Warnings, secrets.warnings()...)
	return Result{Inputs: inputs, Failed: failed}, nil
}

// stageCounters puts the reassembly stage's counters, and the warnings
// they call for, on in (the first input of a run: all its inputs, merged).
func stageCounters(in *report.Input, st reassembly.Stats, linkErr error) {
	in.Reassembly = &report.ReassemblyStats{TCPFrames: st.TCPFrames, OtherFrames: st.OtherFrames,
		UnsupportedLink: st.UnsupportedLink, Expired: st.Expired, AckedHoles: st.AckedHoles, Recovered: st.Recovered,
		Evicted: st.Evicted}
	for _, e := range st.Evictions {
		ev := report.Eviction{HalfOpen: e.HalfOpen, Idle: e.Idle}
		if e.Server.IsValid() {
			ev.Server = e.Server.String()
		}
		in.Reassembly.Evictions = append(in.Reassembly.Evictions, ev)
	}
	if st.UnsupportedLink > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d frames skipped: %v", st.UnsupportedLink, linkErr))
	}
	if st.Recovered > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d reassembly faults recovered; affected connections are cut short", st.Recovered))
	}
}

// sessionOf returns the SMTP session of a connection, nil if its payload
// was not decoded.
func sessionOf(c *reassembly.Conn) *smtp.Session {
	switch h := c.Handler.(type) {
	case *lazyDecoder:
		// Not reached after End, which hands the connection to a decoder.
		return h.decoder().Session()
	case *smtp.Decoder:
		return h.Session()
	case *liveConn:
		return h.session()
	}
	return nil
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
			t[[2]netip.AddrPort{local, remote}] = reportProcess(&p)
		}
	}
	return t
}

// owner finds the process that owned a connection: the one its frames
// name (NetMon's per-frame process index, as Wireshark shows it), else the
// table entry whose endpoints are the connection's, from either end. The
// frames' index also finds processes whose table entry has no remote end
// (a listening socket's), which endpoint matching misses.
func (t processTable) owner(c *reassembly.Conn) *report.Process {
	if c.Process != nil {
		return reportProcess(c.Process)
	}
	if p := t[[2]netip.AddrPort{c.Client, c.Server}]; p != nil {
		return p
	}
	return t[[2]netip.AddrPort{c.Server, c.Client}]
}

// reportProcess is the report's view of a process table entry.
func reportProcess(p *capture.Process) *report.Process {
	return &report.Process{PID: p.PID, Name: filepath.Base(winPath(p.Path)), Path: p.Path}
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
