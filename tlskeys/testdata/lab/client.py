#!/usr/bin/env python3
"""The tlskeys lab's SMTP client: Python's smtplib with STARTTLS, from a
fixed source port, optionally writing the key log (Python's
SSLContext.keylog_filename). Sends one message to two recipients, the
second refused, then QUITs."""
import argparse
import smtplib
import ssl

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=25)
p.add_argument("--source-port", type=int, required=True)
p.add_argument("--keylog")
p.add_argument("--max", default="TLSv1_3")
p.add_argument("--ciphers")
p.add_argument("--opportunistic", action="store_true", help="STARTTLS only when offered, else plaintext")
p.add_argument("--require-tls", action="store_true", help="STARTTLS only when offered, else QUIT")
p.add_argument("--one-rcpt", action="store_true", help="only the recipient the server accepts")
a = p.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion[a.max]
if a.ciphers:
    ctx.set_ciphers(a.ciphers)
if a.keylog:
    ctx.keylog_filename = a.keylog
msg = "From: sender@client.lab.test\r\nTo: rcpt@relay.lab.test\r\nSubject: tlskeys lab\r\n\r\n" + "line of the body\r\n" * 40
with smtplib.SMTP("127.0.0.1", a.port, local_hostname="client.lab.test", source_address=("127.0.0.1", a.source_port), timeout=10) as s:
    s.ehlo()
    if (a.opportunistic or a.require_tls) and not s.has_extn("starttls"):
        if a.require_tls:
            s.quit()
            raise SystemExit(0)
    else:
        s.starttls(context=ctx)
        s.ehlo()
    rcpts = ["rcpt@relay.lab.test"] if a.one_rcpt else ["rcpt@relay.lab.test", "nobody@relay.lab.test"]
    refused = s.sendmail("sender@client.lab.test", rcpts, msg)
    s.quit()
