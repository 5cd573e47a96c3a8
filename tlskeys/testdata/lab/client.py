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
    s.starttls(context=ctx)
    s.ehlo()
    refused = s.sendmail("sender@client.lab.test", ["rcpt@relay.lab.test", "nobody@relay.lab.test"], msg)
    s.quit()
