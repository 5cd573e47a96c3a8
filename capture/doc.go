// Package capture turns capture files and live interfaces into a stream of
// frames: numbered, timestamped packets with their link-layer type.
//
// It knows file formats and nothing about the protocols inside them.
// [Open] and [OpenFile] recognise the format by its first bytes, never by
// the file name:
//
//   - pcap, microsecond or nanosecond, either byte order (read with
//     gopacket's pcapgo; the pre-2.4 layouts with swapped length fields,
//     which pcapgo refuses, are read here as libpcap reads them);
//   - pcapng, including files whose interfaces have different link types;
//   - Microsoft Network Monitor 1.x and 2.x (.cap), read by [NetmonReader];
//   - any of these compressed with gzip or zstd (klauspost/compress).
//
// Frames are numbered from 1 in each input as Wireshark numbers them, so a
// frame number printed by smtpscope can be typed into Wireshark's "Go to
// packet". Network Monitor metadata records that Wireshark lists as frames
// (NetEvent, network information, filter strings) are not returned, but
// they keep their number; [Info.Skipped] counts every metadata record left
// out.
//
// A file that ends in the middle of a record yields every frame before the
// cut and then an error wrapping [ErrTruncated]. Input that matches no
// format gives an error wrapping [ErrNotCapture]. No input makes the
// package panic: every damaged length or offset becomes an error.
//
// A pcapng file can carry TLS keys in Decryption Secrets Blocks
// (`editcap --inject-secrets tls,KEYS`), anywhere among its packets:
// [File.TLSKeyLog] returns their NSS key log lines, read as the file is.
//
// [Merge] interleaves several sources into one timeline by capture time.
// [OpenLive] captures from an interface with libpcap; it needs a build with
// cgo, and a binary built with CGO_ENABLED=0 reports so. Its kernel buffer
// is LiveOptions.BufferSize (32 MiB by default, TPACKET_V3 on Linux), and
// [Live.Stats] counts what the kernel or the interface dropped.
//
// The package decodes no protocol: a frame's bytes go to the caller as
// captured, whatever their link type.
package capture
