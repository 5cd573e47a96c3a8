#!/usr/bin/env python3
"""A small SMTP server for the tlskeys lab: STARTTLS (or implicit TLS) with
Python's ssl module (OpenSSL), which writes the key log. It serves
connections one at a time, for --count connections or --timeout seconds,
and answers: 220 banner, EHLO/HELO 250 (STARTTLS offered before TLS), MAIL
250, RCPT 250 (550 for addresses starting with "nobody"), DATA 354 then 250
after the dot, NOOP/RSET 250, QUIT 221, anything else 500. It logs what it
did as JSON lines (one per connection: port, TLS version and cipher).
"""
import argparse
import json
import socket
import ssl
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=25)
p.add_argument("--cert", required=True)
p.add_argument("--key", required=True)
p.add_argument("--keylog")
p.add_argument("--implicit", action="store_true", help="TLS from the first byte (port 465 style)")
p.add_argument("--min", default="TLSv1_2")
p.add_argument("--max", default="TLSv1_3")
p.add_argument("--ciphers", help="TLS 1.2 cipher list (OpenSSL names)")
p.add_argument("--no-etm", action="store_true", help="refuse encrypt_then_mac (MAC-then-encrypt CBC)")
p.add_argument("--curve", help="the only key exchange group (a client keying another gets a HelloRetryRequest)")
p.add_argument("--no-starttls", action="store_true", help="offer no STARTTLS (a server policy for this client, or what a path that strips it shows)")
p.add_argument("--count", type=int, default=1)
p.add_argument("--timeout", type=float, default=30)
p.add_argument("--log", required=True)
a = p.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)
ctx.minimum_version = ssl.TLSVersion[a.min]
ctx.maximum_version = ssl.TLSVersion[a.max]
if a.ciphers:
    ctx.set_ciphers(a.ciphers)
if a.no_etm:
    ctx.options |= 1 << 19  # SSL_OP_NO_ENCRYPT_THEN_MAC (OpenSSL 3 ssl.h)
if a.curve:
    ctx.set_ecdh_curve(a.curve)
if a.keylog:
    ctx.keylog_filename = a.keylog

ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", a.port))
ls.listen(4)
ls.settimeout(a.timeout)
deadline = time.time() + a.timeout
log = open(a.log, "a")


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")


def serve(sock, port):
    sock.settimeout(10)
    info = {"client_port": port, "implicit": a.implicit, "starttls_offered": not a.no_starttls and not a.implicit}
    if a.implicit:
        sock = ctx.wrap_socket(sock, server_side=True)
    c = Conn(sock)
    try:
        dialogue(c, info, port)
    except (OSError, ssl.SSLError) as e:
        # A client that only tests resumption (s_client -reconnect)
        # closes right after the handshake.
        info["ended"] = str(e)
    if isinstance(c.sock, ssl.SSLSocket):
        info["tls_version"] = c.sock.version()
        info["tls_cipher"] = c.sock.cipher()[0]
        info["resumed"] = c.sock.session_reused
        try:
            c.sock.unwrap()  # close_notify
        except (OSError, ssl.SSLError, ValueError):
            pass
    c.sock.close()
    log.write(json.dumps(info) + "\n")
    log.flush()


def dialogue(c, info, port):
    c.send("220 mx.lab.test ESMTP tlskeys lab")
    while True:
        line = c.line()
        if line is None:
            break
        verb = line.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            tls = isinstance(c.sock, ssl.SSLSocket)
            c.send("250-mx.lab.test" if verb == "EHLO" else "250 mx.lab.test")
            if verb == "EHLO":
                if not tls and not a.no_starttls:
                    c.send("250-STARTTLS")
                c.send("250-PIPELINING")
                c.send("250 8BITMIME")
        elif verb == "STARTTLS" and not isinstance(c.sock, ssl.SSLSocket) and not a.no_starttls:
            c.send("220 2.0.0 go ahead")
            c.sock = ctx.wrap_socket(c.sock, server_side=True)
            c.buf = b""
        elif verb == "MAIL":
            c.send("250 2.1.0 ok")
        elif verb == "RCPT":
            if line.split(":", 1)[-1].strip().lstrip("<").lower().startswith("nobody"):
                c.send("550 5.1.1 no such user")
            else:
                c.send("250 2.1.5 ok")
        elif verb == "DATA":
            c.send("354 end with <CRLF>.<CRLF>")
            n = 0
            while True:
                body = c.line()
                if body is None or body == ".":
                    break
                n += len(body) + 2
            c.send("250 2.0.0 queued as T%d" % port)
            info["message_bytes"] = n
        elif verb in ("NOOP", "RSET"):
            c.send("250 2.0.0 ok")
        elif verb == "QUIT":
            c.send("221 2.0.0 bye")
            break
        else:
            c.send("500 5.5.1 unknown command")


for _ in range(a.count):
    if time.time() > deadline:
        break
    try:
        s, addr = ls.accept()
    except socket.timeout:
        break
    try:
        serve(s, addr[1])
    except (OSError, ssl.SSLError) as e:
        log.write(json.dumps({"client_port": addr[1], "error": str(e)}) + "\n")
        log.flush()
        s.close()
