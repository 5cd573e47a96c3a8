package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Helpers for the scenarios derived from another scenario's capture
// (capture-truncated, relay-stall.netmon2): no packet analysis, only file
// layout and bookkeeping.

// runPcapngOffset prints "OFFSET LENGTH" of the block that holds frame N
// (1-based, numbered as Wireshark numbers them) of a pcapng file, so that a
// script can cut the file with head -c inside that frame's record.
func runPcapngOffset(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: lab pcapng-offset FILE FRAME")
	}
	want, err := strconv.Atoi(args[1])
	if err != nil || want < 1 {
		return fmt.Errorf("bad frame number %q", args[1])
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var bo binary.ByteOrder = binary.LittleEndian
	frame := 0
	for off := 0; off+12 <= len(b); {
		typ := bo.Uint32(b[off:])
		if typ == 0x0A0D0D0A { // section header: its byte-order magic decides
			switch binary.LittleEndian.Uint32(b[off+8:]) {
			case 0x1A2B3C4D:
				bo = binary.LittleEndian
			case 0x4D3C2B1A:
				bo = binary.BigEndian
			default:
				return fmt.Errorf("offset %d: bad byte-order magic", off)
			}
		}
		n := int(bo.Uint32(b[off+4:]))
		if n < 12 || n%4 != 0 || off+n > len(b) {
			return fmt.Errorf("offset %d: bad block length %d", off, n)
		}
		switch typ {
		case 2, 3, 6: // obsolete packet, simple packet, enhanced packet
			frame++
			if frame == want {
				fmt.Printf("%d %d\n", off, n)
				return nil
			}
		}
		off += n
	}
	return fmt.Errorf("%s has %d frames, not %d", args[0], frame, want)
}

// runExpectCopy writes a copy of an expectation file for the same capture in
// another form (another file format): new scenario name, capture file and
// description, one more note; everything else as is, in the same key order.
func runExpectCopy(args []string) error {
	fs := flag.NewFlagSet("expect-copy", flag.ExitOnError)
	in := fs.String("in", "", "expectation file to copy")
	name := fs.String("name", "", "new scenario name")
	capture := fs.String("capture", "", "new capture file name")
	desc := fs.String("description", "", "new description")
	out := fs.String("out", "-", "output file")
	var notes multiFlag
	fs.Var(&notes, "note", "note to add (repeatable)")
	fs.Parse(args)
	raw, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return fmt.Errorf("%s: %v", *in, err)
	}
	doc, ok := v.(*omap)
	if !ok {
		return fmt.Errorf("%s: not a JSON object", *in)
	}
	doc.Set("scenario", *name)
	doc.Set("capture", *capture)
	if *desc != "" {
		doc.Set("description", *desc)
	}
	if len(notes) > 0 {
		old, _ := doc.Get("notes").([]any)
		for _, n := range notes {
			old = append(old, n)
		}
		doc.Set("notes", old)
	}
	b, err := marshalIndent(doc)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// decodeOrdered decodes one JSON value keeping object keys in order.
func decodeOrdered(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		o := newO()
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, errors.New("object key is not a string")
			}
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			o.Set(ks, v)
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	if t == nil {
		return nil, nil
	}
	if _, ok := t.(json.Delim); ok {
		return nil, io.ErrUnexpectedEOF
	}
	return t, nil
}
