#!/usr/bin/env bash
# ipv6: the healthy traffic over [::1]:25.
NAME=ipv6
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen '[::1]:25'
run_client --server '[::1]:25' --sessions "2k,100k;1m" --eod-timeout 10s
stop_server
stop_capture
finish "two sessions to [::1]:25: 2 KiB and 100 KiB, then 1 MiB; all 250" \
	--diag '*=none:ok' --param server_port=25
want_streams 2
want ip eq 0
want ipv6 ge 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 3 ]] || die "want three 250 queued"
log verified
