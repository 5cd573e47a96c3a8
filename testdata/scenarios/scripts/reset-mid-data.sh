#!/usr/bin/env bash
# reset-mid-data: one session; a 2 KiB message gets 250; during the 1 MiB
# message's body the server aborts the connection with RST (SO_LINGER 0) after
# reading 256 KiB of it. The client's write or read fails (connection reset).
# The server's receive buffer is 128 KiB and the client's send buffer 64 KiB,
# so that the client is still writing the body when the RST comes (with
# autotuned buffers the whole message may sit in the kernel by then, and the
# client would only learn of the reset when reading the reply).
NAME=reset-mid-data
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --reset-during-data 262144 --rcvbuf 131072
run_client --server 127.0.0.1:25 --sessions "2k,1m" --eod-timeout 10s --sndbuf 65536
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; 256 KiB into the next (1 MiB) message's body the server resets the connection (RST)" \
	--diag 'delivered=none:ok' --diag 'aborted=L4:reset-by-server' --param server_port=25 --param reset_after_body_bytes=262144 --param server_rcvbuf=131072 --param client_sndbuf=65536
want_streams 1
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==25 and tcp.flags.reset==1' ge 1
want 'tcp.srcport==40001 and tcp.flags.reset==1' eq 0
# the RST comes before the end-of-data of the second message
[[ $(eod_frames | wc -l) -eq 1 ]] || die "want only the first message's end-of-data"
# the client must have been cut off while still writing the body
grep '"msg":2,' "$OUT_DIR/$NAME.client.jsonl" | grep -q '"stage":"body"' || die "client not cut off in the body"
log verified
