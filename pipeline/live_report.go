package pipeline

import (
	"cmp"
	"context"
	"fmt"

	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/report"
)

// linkTyper is a source that tells its link type before the first frame,
// as pcapgo.Reader and pcap.Handle do. The pcapng file is then complete
// even when no packet was captured.
type linkTyper interface {
	LinkType() layers.LinkType
}

// LiveReport is Live with its report: it makes the report.Builder from
// opts.Report (keeping its listed connections in memory: give it list
// bounds, ListFailed and ListHealthy, for a run without end), tells
// opts.Connection of each connection added (and opts.Revision of each
// whose diagnosis Finish changes), writes every frame analysed
// to packets (nil: none), flushed at each Progress so that a file cut
// short by a crash holds everything up to there and closed at the end,
// and finishes the report with the run's inputs. The error is what cut
// the capture short, or else what failed writing the packets or keeping
// the report; the report holds what was analysed in any case.
func LiveReport(ctx context.Context, src LiveSource, packets *capture.Writer, opts LiveOptions) (*report.Report, LiveResult, error) {
	rules := opts.Report
	rules.MemoryConnections = cmp.Or(rules.MemoryConnections, rules.ListFailed+rules.ListHealthy)
	b := report.NewBuilder(rules)
	if opts.Connection != nil {
		b.OnAdd(opts.Connection)
	}
	b.OnRevise(opts.Revision)
	if packets != nil {
		if lt, ok := src.(linkTyper); ok {
			packets.SetLinkType(lt.LinkType())
		}
		frame, progress := opts.Frame, opts.Progress
		opts.Frame = func(fr *capture.Frame) error {
			if frame != nil {
				if err := frame(fr); err != nil {
					return err
				}
			}
			if err := packets.Write(fr); err != nil {
				return fmt.Errorf("writing the packets: %w", err)
			}
			return nil
		}
		opts.Progress = func(p *Progress) {
			if progress != nil {
				progress(p)
			}
			packets.Flush()
		}
	}
	res := Live(ctx, src, b, opts)
	stopErr := res.Err
	if packets != nil {
		if err := packets.Close(); err != nil && stopErr == nil {
			stopErr = fmt.Errorf("writing the packets: %w", err)
			res.Inputs[0].Warnings = append(res.Inputs[0].Warnings, fmt.Sprintf("the capture stopped early: %v", stopErr))
		}
	}
	rep, err := b.Finish(res.Inputs)
	if err != nil {
		rep = report.Build(res.Inputs, nil, rules)
		stopErr = cmp.Or(stopErr, err)
	}
	return rep, res, stopErr
}
