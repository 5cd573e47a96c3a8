package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Decompressed is the content of an input that may be gzip'd or
// zstd-compressed, as [Decompress] found it.
type Decompressed struct {
	io.Reader
	// Compression is "gzip", "zstd" or "" (the input as given).
	Compression string
	zr          *zstd.Decoder
}

// Close releases the zstd decoder, if any. It does not close the input.
func (d *Decompressed) Close() error {
	if d.zr != nil {
		d.zr.Close()
		d.zr = nil
	}
	return nil
}

// Decompress recognises gzip and zstd by their magic numbers, as [Open]
// does for captures, and returns r's content decompressed; any other input
// is returned as it is. Other readers of files that arrive compressed the
// way captures do (MTA logs, say) use it rather than guessing from the
// file name. name is used in errors. Call Close when done.
func Decompress(name string, r io.Reader) (*Decompressed, error) {
	br := bufio.NewReaderSize(r, readBuffer)
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case isGzip(magic):
		gz, err := gzip.NewReader(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = ErrTruncated
			}
			return nil, fmt.Errorf("%s: gzip header: %w", name, err)
		}
		return &Decompressed{Reader: gz, Compression: "gzip"}, nil
	case isZstd(magic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", name, err)
		}
		return &Decompressed{Reader: zr, Compression: "zstd", zr: zr}, nil
	}
	return &Decompressed{Reader: br}, nil
}
