#!/usr/bin/env python3
"""TCP lab peers for the reassembly analysis captures.

Run by make_captures.sh inside a network namespace that has only a loopback
interface; every address used is 127.0.0.1. Each scenario runs a small SMTP
server and client in this process (threads) and exits when done, so the
capture holds one or a few complete connections.

Usage: lab.py SCENARIO
"""

import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
PORT = 2525


def smtp_server(listener, rcvbuf=None, read_delay=0.0, read_chunk=65536,
                chunk_pause=0.0, close_after_quit=True, abort_ttl=None,
                abort_after=None):
    """Serve one SMTP session on an accepted connection.

    rcvbuf: receive buffer (set on the listener before accept).
    read_delay: seconds to stop reading once DATA starts (zero window).
    read_chunk/chunk_pause: slow reader after the delay.
    abort_ttl/abort_after: after abort_after DATA bytes, set IP_TTL and
    close with SO_LINGER 0 (a RST that looks injected).
    """
    conn, _ = listener.accept()
    conn.settimeout(30)
    f = b""

    def send(line):
        conn.sendall(line.encode() + b"\r\n")

    def readline():
        nonlocal f
        while b"\r\n" not in f:
            d = conn.recv(4096)
            if not d:
                return None
            f += d
        line, f = f.split(b"\r\n", 1)
        return line.decode(errors="replace")

    send("220 lab.example ESMTP ready")
    while True:
        line = readline()
        if line is None:
            break
        cmd = line[:4].upper()
        if cmd in ("EHLO", "HELO"):
            send("250-lab.example")
            send("250 PIPELINING")
        elif cmd in ("MAIL", "RCPT", "RSET", "NOOP"):
            send("250 OK")
        elif cmd == "DATA":
            send("354 go ahead")
            if read_delay:
                time.sleep(read_delay)
            got = len(f)
            while b"\r\n.\r\n" not in f[-5 - read_chunk:]:
                d = conn.recv(read_chunk)
                if not d:
                    conn.close()
                    return
                f += d
                got += len(d)
                if len(f) > 10 * read_chunk:
                    f = f[-8:]
                if abort_after is not None and got >= abort_after:
                    conn.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, abort_ttl)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    return
                if chunk_pause:
                    time.sleep(chunk_pause)
            f = f.split(b"\r\n.\r\n", 1)[1] if b"\r\n.\r\n" in f else b""
            send("250 2.0.0 queued")
        elif cmd == "QUIT":
            send("221 bye")
            if close_after_quit:
                break
        else:
            send("500 what")
    conn.close()


def listener(rcvbuf=None, port=PORT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((HOST, port))
    s.listen(4)
    return s


def start_server(**kw):
    rcvbuf = kw.pop("rcvbuf", None)
    port = kw.pop("port", PORT)
    ls = listener(rcvbuf, port)
    th = threading.Thread(target=smtp_server, args=(ls,), kwargs=kw, daemon=True)
    th.start()
    return ls, th


class Client:
    def __init__(self, port=PORT, bind_port=None, keepalive=False, timeout=30):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if bind_port:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.s.bind((HOST, bind_port))
        if keepalive:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        self.s.settimeout(timeout)
        self.s.connect((HOST, port))
        self.buf = b""
        self.reply()

    def reply(self):
        while True:
            while b"\r\n" not in self.buf:
                d = self.s.recv(4096)
                if not d:
                    return None
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] != b"-":
                return line

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def mail(self, size):
        self.cmd("EHLO client.example")
        self.cmd("MAIL FROM:<a@client.example>")
        self.cmd("RCPT TO:<b@lab.example>")
        self.cmd("DATA")
        self.send_body(size)
        return self.reply()

    def send_body(self, size):
        line = b"X" * 76 + b"\r\n"
        body = b"Subject: lab\r\n\r\n" + line * (size // len(line)) + b".\r\n"
        self.s.sendall(body)

    def quit(self):
        r = self.cmd("QUIT")
        self.s.close()
        return r


def session(size, **server_kw):
    ls, th = start_server(**server_kw)
    c = Client()
    c.mail(size)
    c.quit()
    th.join(30)
    ls.close()


def scenario_bulk():
    """A healthy 1 MB message (source of the loss/reorder/wrap variants)."""
    session(1_000_000)


def scenario_loss():
    """2 MB with random drops set up by the caller (iptables INPUT)."""
    session(2_000_000)


def scenario_zerowindow():
    """A receiver with a tiny buffer that stops reading for 3 s."""
    session(300_000, rcvbuf=4096, read_delay=3.0, read_chunk=2048, chunk_pause=0.01)


def scenario_keepalive():
    """An idle session kept alive by TCP keep-alives (1 s idle, 1 s interval)."""
    ls, th = start_server()
    c = Client(keepalive=True)
    c.cmd("EHLO client.example")
    time.sleep(3.5)
    c.quit()
    th.join(30)
    ls.close()


def scenario_refused():
    """A SYN to a closed port, answered by RST+ACK."""
    s = socket.socket()
    try:
        s.connect((HOST, 2600))
    except ConnectionRefusedError:
        pass
    s.close()


def scenario_syntimeout():
    """SYNs dropped by the caller's iptables rule until the client gives up."""
    s = socket.socket()
    s.settimeout(3.5)
    try:
        s.connect((HOST, 2601))
    except (socket.timeout, OSError):
        pass
    s.close()


def scenario_abort():
    """The client resets the connection in the middle of DATA, while the
    body is unacknowledged (the caller's iptables rule drops segments of
    1000 bytes or more on their way to the server)."""
    ls, th = start_server()
    c = Client()
    for line in ("EHLO client.example", "MAIL FROM:<a@client.example>", "RCPT TO:<b@lab.example>", "DATA"):
        c.cmd(line)
    c.s.setblocking(False)
    try:
        c.s.send(b"Subject: lab\r\n\r\n" + b"Y" * 60_000)
    except BlockingIOError:
        pass
    time.sleep(1.0)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.s.close()
    th.join(5)
    ls.close()


def scenario_injectedrst():
    """The server aborts mid-DATA with an odd TTL: a RST that looks forged."""
    ls, th = start_server(rcvbuf=8192, read_chunk=4096, abort_after=50_000, abort_ttl=33)
    c = Client()
    for line in ("EHLO client.example", "MAIL FROM:<a@client.example>", "RCPT TO:<b@lab.example>", "DATA"):
        c.cmd(line)
    try:
        c.send_body(200_000)
        c.reply()
    except OSError:
        pass
    c.s.close()
    th.join(10)
    ls.close()


def scenario_rstafterclose():
    """The server says 221 and closes; the client writes once more and gets a RST."""
    ls, th = start_server()
    c = Client()
    c.cmd("EHLO client.example")
    c.cmd("QUIT")
    time.sleep(0.2)
    try:
        c.s.sendall(b"NOOP\r\n")
        time.sleep(0.2)
        c.s.sendall(b"NOOP\r\n")
    except OSError:
        pass
    time.sleep(0.2)
    c.s.close()
    th.join(10)
    ls.close()


def scenario_portreuse():
    """Two sessions from the same client port: a new tcp.stream on the second SYN."""
    for _ in range(2):
        ls, th = start_server()
        c = Client(bind_port=40000)
        c.cmd("EHLO client.example")
        c.s.sendall(b"QUIT\r\n")
        c.reply()
        th.join(10)
        time.sleep(0.1)
        c.s.close()
        ls.close()
        time.sleep(0.2)


if __name__ == "__main__":
    globals()["scenario_" + sys.argv[1]]()
