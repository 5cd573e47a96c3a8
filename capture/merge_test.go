package capture

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// fakeSource returns frames at the given times, numbered from 1, then err
// (io.EOF if nil). Like a file reader, it reuses one buffer for Data.
type fakeSource struct {
	times []time.Duration
	err   error
	next  int
	buf   [8]byte
}

// t0 is the time fakeSource's offsets count from.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (s *fakeSource) Next() (Frame, error) {
	if s.next >= len(s.times) {
		if s.err != nil {
			return Frame{}, s.err
		}
		return Frame{}, io.EOF
	}
	s.next++
	copy(s.buf[:], fmt.Sprintf("%8d", s.next))
	return Frame{Number: s.next, Time: t0.Add(s.times[s.next-1]), Data: s.buf[:], Length: 8}, nil
}

// TestMerge interleaves sources by time.
func TestMerge(t *testing.T) {
	errCut := fmt.Errorf("b.pcap: after frame 2: %w", ErrTruncated)
	tests := []struct {
		name    string
		sources [][]time.Duration
		errs    []error // per source, after its frames
		want    []string
		wantErr error
	}{
		{
			name:    "interleaved",
			sources: [][]time.Duration{{1, 4, 6}, {2, 3, 7}},
			want:    []string{"0:1", "1:1", "1:2", "0:2", "0:3", "1:3"},
		},
		{
			name:    "ties go to the earlier input",
			sources: [][]time.Duration{{5, 5}, {5}, {1, 5}},
			want:    []string{"2:1", "0:1", "0:2", "1:1", "2:2"},
		},
		{
			name:    "a source keeps its order when its time goes backwards",
			sources: [][]time.Duration{{10, 2, 3}, {5}},
			want:    []string{"1:1", "0:1", "0:2", "0:3"},
		},
		{
			name:    "empty sources",
			sources: [][]time.Duration{{}, {1}, {}},
			want:    []string{"1:1"},
		},
		{
			name:    "no sources",
			sources: nil,
		},
		{
			name:    "a truncated source is dropped, its error comes at the end",
			sources: [][]time.Duration{{1, 5, 9}, {2, 3}},
			errs:    []error{nil, errCut},
			want:    []string{"0:1", "1:1", "1:2", "0:2", "0:3"},
			wantErr: ErrTruncated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srcs []Source
			for i, times := range tt.sources {
				s := &fakeSource{times: times}
				if i < len(tt.errs) {
					s.err = tt.errs[i]
				}
				srcs = append(srcs, s)
			}
			m := Merge(srcs...)
			var got []string
			var err error
			for {
				var f Frame
				f, err = m.Next()
				if err != nil {
					break
				}
				if want := fmt.Sprintf("%8d", f.Number); string(f.Data) != want {
					t.Errorf("frame %d:%d carries data %q: the source was read again before the frame was used", f.Input, f.Number, f.Data)
				}
				got = append(got, fmt.Sprintf("%d:%d", f.Input, f.Number))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Merge order = %v, want %v", got, tt.want)
			}
			if tt.wantErr == nil && err != io.EOF || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("final error = %v, want %v", err, tt.wantErr)
			}
			if _, again := m.Next(); again != err {
				t.Errorf("Next after the end = %v, want %v again", again, err)
			}
		})
	}
}

// timeoutSource returns ErrTimeout every other call, between frames at
// the given times.
type timeoutSource struct {
	fakeSource
	waited bool
}

func (s *timeoutSource) Next() (Frame, error) {
	if !s.waited && s.next < len(s.times) {
		s.waited = true
		return Frame{}, fmt.Errorf("lo: %w", ErrTimeout)
	}
	s.waited = false
	return s.fakeSource.Next()
}

// TestMergeTimeout checks that a live source's timeout is passed on and
// the source asked again, so that no frame is merged out of order.
func TestMergeTimeout(t *testing.T) {
	m := Merge(&fakeSource{times: []time.Duration{1, 3}}, &timeoutSource{fakeSource: fakeSource{times: []time.Duration{2}}})
	var got []string
	for range 10 {
		f, err := m.Next()
		if errors.Is(err, ErrTimeout) {
			got = append(got, "timeout")
			continue
		}
		if err != nil {
			break
		}
		got = append(got, fmt.Sprintf("%d:%d", f.Input, f.Number))
	}
	want := "[timeout 0:1 1:1 0:2]"
	if fmt.Sprint(got) != want {
		t.Errorf("Merge = %v, want %v", got, want)
	}
}

// TestMergeFiles merges a pcap with its NetMon conversion: each frame
// comes twice, the pcap's first.
func TestMergeFiles(t *testing.T) {
	a, err := OpenFile("testdata/smtp-multi-addr.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenFile("testdata/smtp-multi-addr.netmon20.cap")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	frames, err := readAll(Merge(a, b))
	if err != io.EOF || len(frames) != 42 {
		t.Fatalf("%d frames then %v, want 42 then io.EOF", len(frames), err)
	}
	for i := 0; i < len(frames); i += 2 {
		x, y := frames[i], frames[i+1]
		if x.Input != 0 || y.Input != 1 || x.Number != i/2+1 || y.Number != x.Number || !x.Time.Equal(y.Time) || string(x.Data) != string(y.Data) {
			t.Errorf("frames %d, %d = {input %d No. %d}, {input %d No. %d}: want the same frame from inputs 0 and 1", i, i+1, x.Input, x.Number, y.Input, y.Number)
		}
	}
}
