#!/usr/bin/env bash
# aborted-by-client: one session; a 2 KiB message gets 250; 300 KiB into the
# 1 MiB message's body the client closes the connection in order (FIN, no
# RST, no QUIT), as an MTA that gives up on a transaction or is killed would.
# The server reads end-of-file in the middle of DATA and, as Postfix does
# ("lost connection after DATA"), closes without a reply.
NAME=aborted-by-client
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,1m" --abort-close-after 307200
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; 300 KiB into a 1 MiB body the client closes the connection (FIN), no end-of-data, no QUIT; the server closes without a reply" \
	--diag 'delivered=none:ok' --diag 'aborted=L7:aborted-by-client' --param server_port=25 --param client_close_after_bytes=307200 \
	--note "The client closed in order: its FIN comes in the middle of the body, after the last data segment, with no RST anywhere; the server then closes too (FIN) without a word. No end-of-data was ever sent, so the message is aborted, not unanswered." \
	--note "body_bytes_written counts what the client handed to go-smtp's DATA writer; up to 4 KiB of it stayed in the writer's buffer and never left."
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
[[ $(eod_frames | wc -l) -eq 1 ]] || die "want only the first message's end-of-data"
# the client's FIN comes after its last data segment, before any FIN from the server
cfin=$(ts -Y 'tcp.srcport==40001 and tcp.flags.fin==1' -T fields -e frame.number | head -1)
sfin=$(ts -Y 'tcp.srcport==25 and tcp.flags.fin==1' -T fields -e frame.number | head -1)
[[ -n "$cfin" && -n "$sfin" && $cfin -lt $sfin ]] || die "want the client's FIN ($cfin) before the server's ($sfin)"
lastdata=$(ts -Y 'tcp.srcport==40001 and tcp.len>0' -T fields -e frame.number | tail -1)
[[ $lastdata -le $cfin ]] || die "client data after its FIN"
# after the second DATA's 354 the server sends nothing but ACKs and its FIN
data354=$(ts -Y 'tcp.srcport==25 and smtp.response.code==354' -T fields -e frame.number | tail -1)
srv=$(ts -Y "frame.number>$data354 and tcp.srcport==25 and tcp.len>0" -T fields -e frame.number | wc -l)
[[ $srv -eq 0 ]] || die "server sent $srv segment(s) with payload after the second 354"
grep '"msg":2,' "$OUT_DIR/$NAME.client.jsonl" | grep -q '"stage":"body"' || die "client not cut off in the body"
grep -q '"how":"close-after-client-eof"' "$OUT_DIR/$NAME.server.jsonl" || die "server did not see end-of-file mid-DATA"
body=$(ts -Y "frame.number>$data354 and frame.number<=$cfin and tcp.srcport==40001" -T fields -e tcp.len | awk '{ s += $1 } END { print s }')
log "verified: client FIN at frame $cfin after $body body bytes, server FIN at frame $sfin, no RST, no reply after the 354"
