package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

func TestDecompress(t *testing.T) {
	plain, err := os.ReadFile("testdata/smtp-multi-addr.pcap")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{"testdata/smtp-multi-addr.pcap", ""},
		{"testdata/smtp-multi-addr.pcap.gz", "gzip"},
		{"testdata/smtp-multi-addr.pcap.zst", "zstd"},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decompress(tt.file, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Decompress(%s) = %v", tt.file, err)
		}
		got, err := io.ReadAll(d)
		d.Close()
		if err != nil || d.Compression != tt.want || !bytes.Equal(got, plain) {
			t.Errorf("Decompress(%s): compression %q, %d bytes, err %v; want %q, %d bytes", tt.file, d.Compression, len(got), err, tt.want, len(plain))
		}
	}
	if _, err := Decompress("cut.gz", bytes.NewReader([]byte{0x1f, 0x8b, 8})); !errors.Is(err, ErrTruncated) {
		t.Errorf("Decompress of a cut gzip header = %v, want ErrTruncated", err)
	}
}
