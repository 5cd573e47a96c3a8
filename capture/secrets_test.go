package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestSecretsFromEditcap reads the key log that `editcap --inject-secrets`
// put in testdata/secrets.pcapng (testdata/make.sh), and every frame as
// tshark reads them.
func TestSecretsFromEditcap(t *testing.T) {
	f, err := OpenFile(filepath.Join("testdata", "secrets.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := readAll(f)
	if err != io.EOF {
		t.Fatalf("Next after the last frame = %v", err)
	}
	compareTshark(t, "secrets.pcapng", got, readTsharkGolden(t, filepath.Join("testdata", "secrets.pcapng.tshark.tsv")))
	want := readTestdata(t, "secrets.keys")
	if !bytes.Equal(f.TLSKeyLog(), want) {
		t.Errorf("TLSKeyLog() = %d bytes, want the %d of secrets.keys", len(f.TLSKeyLog()), len(want))
	}
	if kept, dropped := f.SecretsBlocks(); kept != 1 || dropped != 0 {
		t.Errorf("SecretsBlocks() = %d, %d; want 1, 0", kept, dropped)
	}
}

// TestSecretsNone: other formats and pcapng files without the block have
// no key log.
func TestSecretsNone(t *testing.T) {
	for _, name := range []string{"mixed.pcapng", "smtp-multi-addr.pcap", "smtp-multi-addr.netmon20.cap"} {
		f, err := OpenFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		readAll(f)
		if f.TLSKeyLog() != nil {
			t.Errorf("%s: TLSKeyLog() = %d bytes, want none", name, len(f.TLSKeyLog()))
		}
		f.Close()
	}
}

// TestSecretsAnywhere: blocks between packets, after the last one, of
// other secrets types, in a gzip'd file; pcapgo skips them, the tap keeps
// the TLS ones in order and every packet still arrives.
func TestSecretsAnywhere(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	packet := func(i int) {
		data := bytes.Repeat([]byte{byte(i)}, 60+i)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(1700000000+i), 0), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	packet(1)
	w.WriteDecryptionSecretsBlock(pcapgo.DSB_SECRETS_TYPE_TLS, []byte("CLIENT_RANDOM aa bb\n"))
	packet(2)
	w.WriteDecryptionSecretsBlock(pcapgo.DSB_SECRETS_TYPE_SSH, []byte("ssh secret\n"))
	packet(3)
	w.WriteDecryptionSecretsBlock(pcapgo.DSB_SECRETS_TYPE_TLS, []byte("# no newline at the end")) // padded to 4 bytes
	w.Flush()
	file := buf.Bytes()

	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"pcapng", file},
		{"pcapng+gzip", gzipped(t, file)},
	} {
		f, err := Open(tt.name, bytes.NewReader(tt.data))
		if err != nil {
			t.Fatal(err)
		}
		frames, err := readAll(f)
		if err != io.EOF || len(frames) != 3 {
			t.Fatalf("%s: %d frames, %v", tt.name, len(frames), err)
		}
		if got, want := string(f.TLSKeyLog()), "CLIENT_RANDOM aa bb\n# no newline at the end\n"; got != want {
			t.Errorf("%s: TLSKeyLog() = %q, want %q", tt.name, got, want)
		}
		if kept, dropped := f.SecretsBlocks(); kept != 2 || dropped != 1 {
			t.Errorf("%s: SecretsBlocks() = %d, %d; want 2, 1", tt.name, kept, dropped)
		}
	}
}

// TestSecretsBigEndian: a big-endian section (as written on SPARC or
// PowerPC) is read with its own byte order.
func TestSecretsBigEndian(t *testing.T) {
	be := binary.BigEndian
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		b := be.AppendUint32(nil, typ)
		b = be.AppendUint32(b, uint32(12+len(body)))
		b = append(b, body...)
		return be.AppendUint32(b, uint32(12+len(body)))
	}
	shb := be.AppendUint32(nil, pcapngByteOrderMagic)
	shb = be.AppendUint16(shb, 1)
	shb = be.AppendUint16(shb, 0)
	shb = be.AppendUint64(shb, ^uint64(0))
	idb := be.AppendUint16(nil, 1) // Ethernet
	idb = be.AppendUint16(idb, 0)
	idb = be.AppendUint32(idb, 0)
	secrets := []byte("SERVER_TRAFFIC_SECRET_0 x y\n")
	dsb := be.AppendUint32(nil, secretsTypeTLS)
	dsb = be.AppendUint32(dsb, uint32(len(secrets)))
	dsb = append(dsb, secrets...)
	pkt := make([]byte, 60)
	epb := be.AppendUint32(nil, 0)
	epb = be.AppendUint64(epb, 0)
	epb = be.AppendUint32(epb, uint32(len(pkt)))
	epb = be.AppendUint32(epb, uint32(len(pkt)))
	epb = append(epb, pkt...)
	var file []byte
	file = append(file, block(pcapngSectionHeader, shb)...)
	file = append(file, block(pcapngDecryptionSecrets, dsb)...)
	file = append(file, block(1, idb)...)
	file = append(file, block(6, epb)...)
	f, err := Open("be", bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if frames, err := readAll(f); err != io.EOF || len(frames) != 1 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	if string(f.TLSKeyLog()) != string(secrets) {
		t.Errorf("TLSKeyLog() = %q, want %q", f.TLSKeyLog(), secrets)
	}
}

// TestSecretsDamaged: a secrets block whose inner length overruns it, or a
// file whose framing breaks, yields no key log and no panic; the frames
// before the damage still come.
func TestSecretsDamaged(t *testing.T) {
	file := readTestdata(t, "secrets.pcapng")
	// The DSB follows the 108-byte section header: type, total length,
	// secrets type, secrets length.
	if binary.LittleEndian.Uint32(file[108:]) != pcapngDecryptionSecrets {
		t.Fatalf("no DSB at offset 108 in secrets.pcapng")
	}
	overrun := bytes.Clone(file)
	binary.LittleEndian.PutUint32(overrun[108+12:], 1<<20)
	f, err := Open("overrun", bytes.NewReader(overrun))
	if err == nil {
		readAll(f)
		if len(f.TLSKeyLog()) != 0 {
			t.Errorf("overrun: TLSKeyLog() = %d bytes", len(f.TLSKeyLog()))
		}
	}
	for _, cut := range []int{110, 130, 300} {
		f, err := Open("cut", bytes.NewReader(file[:cut]))
		if err != nil {
			continue
		}
		if _, err := readAll(f); !errors.Is(err, ErrTruncated) && err != io.EOF {
			t.Errorf("cut at %d: %v", cut, err)
		}
		_ = f.TLSKeyLog()
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
