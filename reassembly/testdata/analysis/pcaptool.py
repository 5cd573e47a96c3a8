#!/usr/bin/env python3
"""Rewrites lab captures (classic pcap, Ethernet, IPv4/TCP) into variants.

  pcaptool.py reorder IN OUT N...   swap frame N with frame N+1 (1-based),
                                    keeping each position's timestamp, as a
                                    network that reorders would
  pcaptool.py wrap IN OUT BYTES     shift the client's sequence space (and
                                    the server's ACKs and SACK blocks of it)
                                    so that it wraps past 2^32 BYTES after
                                    the client's ISN

Checksums are left stale: Wireshark, like smtpscope, does not verify them.
"""

import struct
import sys


def read_pcap(path):
    data = open(path, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    header = data[:24]
    recs = []
    off = 24
    while off + 16 <= len(data):
        ts_s, ts_u, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        recs.append([ts_s, ts_u, orig, bytearray(data[off + 16:off + 16 + incl])])
        off += 16 + incl
    return header, endian, recs


def write_pcap(path, header, endian, recs):
    with open(path, "wb") as f:
        f.write(header)
        for ts_s, ts_u, orig, body in recs:
            f.write(struct.pack(endian + "IIII", ts_s, ts_u, len(body), orig))
            f.write(body)


def reorder(src, dst, frames):
    header, endian, recs = read_pcap(src)
    for n in frames:
        a, b = recs[n - 1], recs[n]
        a[2:], b[2:] = b[2:], a[2:]
    write_pcap(dst, header, endian, recs)


def tcp_view(body):
    """Offsets of the TCP header in an Ethernet/IPv4 frame, or None."""
    if len(body) < 34 or body[12:14] != b"\x08\x00" or body[23] != 6:
        return None
    ihl = (body[14] & 0x0F) * 4
    return 14 + ihl


def wrap(src, dst, nbytes):
    header, endian, recs = read_pcap(src)
    client = None
    delta = 0
    for rec in recs:
        body = rec[3]
        t = tcp_view(body)
        if t is None:
            continue
        sport, dport = struct.unpack("!HH", body[t:t + 4])
        seq, ack = struct.unpack("!II", body[t + 4:t + 12])
        flags = body[t + 13]
        if client is None:
            if not flags & 0x02 or flags & 0x10:
                raise SystemExit("wrap: the capture must start with the client's SYN")
            client = (body[26:30], sport)
            delta = (2**32 - nbytes - seq) % 2**32
        from_client = (body[26:30], sport) == client
        if from_client:
            seq = (seq + delta) % 2**32
        elif flags & 0x10:
            ack = (ack + delta) % 2**32
        body[t + 4:t + 12] = struct.pack("!II", seq, ack)
        if not from_client:
            # SACK blocks acknowledge the client's sequence space.
            hlen = (body[t + 12] >> 4) * 4
            o = t + 20
            while o < t + hlen:
                kind = body[o]
                if kind == 0:
                    break
                if kind == 1:
                    o += 1
                    continue
                ln = body[o + 1]
                if ln < 2:
                    break
                if kind == 5:
                    for e in range(o + 2, o + ln, 4):
                        v = struct.unpack("!I", body[e:e + 4])[0]
                        body[e:e + 4] = struct.pack("!I", (v + delta) % 2**32)
                o += ln
    write_pcap(dst, header, endian, recs)


if __name__ == "__main__":
    cmd, src, dst = sys.argv[1:4]
    if cmd == "reorder":
        reorder(src, dst, [int(x) for x in sys.argv[4:]])
    elif cmd == "wrap":
        wrap(src, dst, int(sys.argv[4]))
    else:
        raise SystemExit("unknown command " + cmd)
