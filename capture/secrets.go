package capture

import (
	"encoding/binary"
	"io"
)

// pcapng block types and the secrets type this package keeps (pcapng
// specification, draft-ietf-opsawg-pcapng §4.7 Decryption Secrets Block).
const (
	pcapngSectionHeader     = 0x0A0D0D0A
	pcapngDecryptionSecrets = 0x0000000A
	pcapngByteOrderMagic    = 0x1A2B3C4D
	// secretsTypeTLS is the TLS Key Log secrets type, "TLSK": the payload
	// is NSS key log lines.
	secretsTypeTLS = 0x544C534B
	// MaxSecrets bounds the key log bytes kept from the Decryption
	// Secrets Blocks of one input; blocks past it are counted in
	// SecretsDropped and not kept.
	MaxSecrets = 64 << 20
)

// secretsTap passes a pcapng stream through unchanged and keeps the
// payload of every TLS Decryption Secrets Block it sees, wherever the
// block is in the file. It follows only the block framing (type, total
// length, the section header's byte-order magic); pcapgo parses the rest.
// On framing it cannot follow (a damaged length) it stops looking and
// leaves the error to pcapgo.
type secretsTap struct {
	r     io.Reader
	order binary.ByteOrder

	header [12]byte
	have   int    // bytes of header read
	skip   uint32 // bytes of the current block still to pass
	keep   bool   // the current block is a Decryption Secrets Block
	block  []byte // its body so far, when keep
	lost   bool   // framing could not be followed

	keyLog  []byte // TLS key log lines from every block read
	blocks  int    // TLS secrets blocks kept
	dropped int    // secrets blocks not kept: other secrets types, damaged, or past MaxSecrets
}

func (t *secretsTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if !t.lost {
		t.scan(p[:n])
	}
	return n, err
}

// scan follows the blocks through b.
func (t *secretsTap) scan(b []byte) {
	for len(b) > 0 && !t.lost {
		if t.skip > 0 {
			n := uint32(len(b))
			if n > t.skip {
				n = t.skip
			}
			if t.keep {
				t.block = append(t.block, b[:n]...)
			}
			t.skip -= n
			b = b[n:]
			if t.skip == 0 {
				t.endBlock()
			}
			continue
		}
		need := 8
		if t.have >= 4 && binary.LittleEndian.Uint32(t.header[:4]) == pcapngSectionHeader {
			need = 12 // the byte-order magic says how to read the length
		}
		n := copy(t.header[t.have:need], b)
		t.have += n
		b = b[n:]
		if t.have < need {
			continue
		}
		if need == 8 && binary.LittleEndian.Uint32(t.header[:4]) == pcapngSectionHeader {
			continue // read on to the byte-order magic
		}
		t.startBlock(uint32(need))
	}
}

// startBlock reads a complete block header of n bytes.
func (t *secretsTap) startBlock(n uint32) {
	t.have = 0
	if n == 12 {
		switch {
		case binary.LittleEndian.Uint32(t.header[8:]) == pcapngByteOrderMagic:
			t.order = binary.LittleEndian
		case binary.BigEndian.Uint32(t.header[8:]) == pcapngByteOrderMagic:
			t.order = binary.BigEndian
		default:
			t.lost = true
			return
		}
	}
	if t.order == nil {
		t.lost = true
		return
	}
	typ, length := t.order.Uint32(t.header[:4]), t.order.Uint32(t.header[4:8])
	if length < 12 || length%4 != 0 || length < n {
		t.lost = true
		return
	}
	t.skip = length - n
	t.keep = typ == pcapngDecryptionSecrets && len(t.keyLog)+int(t.skip) <= MaxSecrets
	if typ == pcapngDecryptionSecrets && !t.keep {
		t.dropped++
	}
	t.block = t.block[:0]
	if t.skip == 0 {
		t.endBlock()
	}
}

// endBlock keeps the key log of a finished Decryption Secrets Block:
// secrets type (4), secrets length (4), secrets data, padding, options,
// the trailing block length.
func (t *secretsTap) endBlock() {
	if !t.keep {
		return
	}
	t.keep = false
	b := t.block
	if len(b) < 8 {
		t.dropped++
		return
	}
	typ, length := t.order.Uint32(b[:4]), t.order.Uint32(b[4:8])
	if typ != secretsTypeTLS || uint64(length) > uint64(len(b)-8) {
		t.dropped++
		return
	}
	data := b[8 : 8+length]
	t.keyLog = append(t.keyLog, data...)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.keyLog = append(t.keyLog, '\n')
	}
	t.blocks++
}
