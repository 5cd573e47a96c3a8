#!/usr/bin/env bash
# banner-554: the server greets with "554 5.7.1 ..." and would wait for QUIT
# (RFC 5321 3.1); go-smtp's client closes without a command.
NAME=banner-554
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --banner-code 554 --banner-text "5.7.1 relay.lab.test No SMTP service here"
run_client --server 127.0.0.1:25 --sessions "2k"
stop_server
stop_capture
finish "one connection to 127.0.0.1:25: the greeting is 554 5.7.1; the client closes without a command; no transaction (the client bounces its message)" \
	--session-diag '*=L7:rejected' --param server_port=25
want_streams 1
want 'tcp.srcport==25 and smtp.response.code==554' eq 1
want 'smtp.req.command' eq 0
want_rst eq 0
log verified
