#!/usr/bin/env bash
# banner-421: the server greets with "421 4.3.2 ..." and closes at once
# (RFC 5321 4.3.2); the client gives up without sending a command.
NAME=banner-421
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --banner-code 421 --banner-text "4.3.2 relay.lab.test Service not available, closing transmission channel"
run_client --server 127.0.0.1:25 --sessions "2k"
stop_server
stop_capture
finish "one connection to 127.0.0.1:25: the greeting is 421 4.3.2 and the server closes; no transaction (the client defers its message)" \
	--session-diag '*=L7:deferred' --param server_port=25
want_streams 1
want 'tcp.srcport==25 and smtp.response.code==421' eq 1
want 'smtp.req.command' eq 0
want_rst eq 0
log verified
