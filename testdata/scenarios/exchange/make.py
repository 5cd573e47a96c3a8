#!/usr/bin/env python3
"""Writes an Exchange SMTP Send protocol log for a lab scenario, in the
documented format (#Fields: date-time,connector-id,session-id,
sequence-number,local-endpoint,remote-endpoint,event,data,context; events
+ - > < *), as Exchange would have written it had it been the lab's client.
The times and replies come from what the lab client logged
(../captures/NAME.client.jsonl), never from the capture.

    ./make.py relay-stall eod-451 reset-mid-data

Exchange writes no line for the end-of-data dot nor for a reply that never
came: a session whose relay went silent ends with the 354 (as in the seed
incident's own log), then "-" when Exchange drops the connection.
"""
import csv, datetime, io, json, os, sys

DIR = os.path.dirname(os.path.abspath(__file__))


def ts(epoch):
    d = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def write(name):
    recs = [json.loads(l) for l in open(os.path.join(DIR, "..", "captures", name + ".client.jsonl"))]
    sessions = [r for r in recs if r["type"] == "session"]
    out = io.StringIO()
    out.write("#Software: Microsoft Exchange Server\r\n#Version: 15.2.1258.12\r\n#Log-type: SMTP Send Protocol Log\r\n")
    first = datetime.datetime.fromisoformat(sessions[0]["t_connect"][:26]).replace(tzinfo=datetime.timezone.utc).timestamp()
    out.write("#Date: %s\r\n" % ts(first))
    out.write("#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n")
    w = csv.writer(out, lineterminator="\r\n")
    for s in sessions:
        t0 = datetime.datetime.fromisoformat(s["t_connect"][:26]).replace(tzinfo=datetime.timezone.utc).timestamp()
        sid = "08DE%012X" % (int(t0 * 1000) & 0xFFFFFFFFFFFF)
        local = "%s:%d" % (s["client_ip"], s["client_port"])
        remote = "%s:%d" % (s["server_ip"], s["server_port"])
        seq = [0]
        last = [0.0]

        def line(t, ev, data="", ctx="", loc=local):
            t = last[0] = max(t, last[0])  # a log's lines go forward in time
            w.writerow([ts(t), "Outbound to relay", sid, seq[0], loc, remote, ev, data, ctx])
            seq[0] += 1

        line(t0, "*", "", "attempting to connect", loc="")
        tc = t0 + s.get("connect_s", 0)
        line(tc, "+", "", "")
        line(tc, "<", "220 relay.lab.test ESMTP Service Ready", "")
        line(tc, ">", "EHLO exchsvr.lab.test", "")
        line(tc, "<", "250 Hello exchsvr.lab.test", "")
        msgs = [r for r in recs if r["type"] == "message" and r["session"] == s["session"]]
        for m in msgs:
            tm = m["ts"] - (m.get("eod_wait_s") or 0) - m.get("t_eod_sent", 0) + m.get("t_mail", 0)
            base = m["ts"] - (m.get("eod_wait_s") or 0) - m.get("t_eod_sent", 0)
            line(tm, "*", "", "sending message with RecordId 1234 and InternetMessageId %s" % m["message_id"])
            line(tm, ">", "MAIL FROM:<sender@client.lab.test> SIZE=%d" % m["size"], "")
            line(tm, ">", "RCPT TO:<%s>" % m["rcpt"][0], "")
            line(tm, "<", "250 2.0.0 Roger, accepting mail from <sender@client.lab.test>", "")
            if m.get("stage") == "rcpt":
                line(tm, "<", "%s %s %s" % (m["reply_code"], m.get("enhanced_code", ""), m.get("reply_text", "")), "")
                line(tm, ">", "RSET", "")
                continue
            line(tm, "<", "250 2.0.0 I'll make sure <%s> gets this" % m["rcpt"][0], "")
            line(tm, ">", "DATA", "")
            line(base + m.get("t_data_354", 0), "<", '354 Go ahead. End your data with <CR><LF>.<CR><LF>', "")
            if isinstance(m.get("reply_code"), int):
                line(base + (m.get("t_reply") or m["eod_wait_s"] + m["t_eod_sent"]), "<",
                     "%d %s %s" % (m["reply_code"], m.get("enhanced_code", ""), m.get("reply_text", "")), "")
        end = t0 + s["t_close"] if "t_close" in s else max(m["ts"] for m in msgs)
        if any(m.get("outcome") == "aborted" for m in msgs):
            # the relay reset the connection: Exchange saw it drop
            line(end, "-", "", "Remote")
        elif any(not isinstance(m.get("reply_code"), int) for m in msgs):
            line(end, "-", "", "Local")
        else:
            tq = t0 + s.get("t_quit", s.get("t_close", 0))
            line(tq, ">", "QUIT", "")
            line(tq, "<", "221 2.0.0 Bye", "")
            line(t0 + s.get("t_close", s.get("t_quit", 0)), "-", "", "Local")
    with open(os.path.join(DIR, name + ".SEND.LOG"), "w", newline="") as f:
        f.write(out.getvalue())


for n in sys.argv[1:]:
    write(n)
