# shellcheck shell=bash
# Postfix lab: a real Postfix (Debian's, a separate instance with its own
# config, queue and maillog_file) between the lab client and the lab's
# misbehaving relay, inside a network namespace of its own, while tcpdump
# records the namespace's loopback. Each scenario leaves in postfix/:
#   NAME.pcapng      both connections: lab client → Postfix smtpd (127.0.0.1:25,
#                    client ports 40000+N), Postfix smtp → lab relay (127.0.0.2:25)
#   NAME.maillog     Postfix's maillog_file (smtpd_client_port_logging = yes);
#                    postfix-relay-stall-syslog logs through syslog(3) to a
#                    real rsyslogd instead (NAME.mail.log, NAME.mail-rfc3339.log)
#   NAME.client.jsonl, NAME.server.jsonl  what the lab peers logged
#   NAME.expect.json the truth, from the peers' logs and Postfix's own log
# The first connection in each capture is pf_start probing that smtpd
# listens (Postfix logs "lost connection after CONNECT"): real, and kept.
# Source it after setting NAME; it uses ../scripts/lib.sh for the namespace,
# tcpdump and the lab peers. Needs root and the postfix package
# (scripts/setup.sh installs it with debconf's "No configuration").
set -euo pipefail
PF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT_DIR=$PF_DIR
source "$PF_DIR/../scripts/lib.sh"
PF=""

# pf_start [main.cf lines...]: configure and start the Postfix instance in
# the namespace. It relays everything to the lab relay at [127.0.0.2]:25.
pf_start() {
	command -v postfix >/dev/null || die "missing postfix (apt-get install postfix)"
	chmod 755 "$WORK"
	PF=$WORK/pf
	mkdir -p "$PF/etc" "$PF/spool" "$PF/data"
	cp /usr/share/postfix/master.cf.dist "$PF/etc/master.cf"
	cat >"$PF/etc/main.cf" <<-CF
	compatibility_level = 3.6
	queue_directory = $PF/spool
	data_directory = $PF/data
	mail_owner = postfix
	setgid_group = postdrop
	myhostname = mta.lab.test
	mydomain = lab.test
	inet_interfaces = 127.0.0.1
	inet_protocols = ipv4
	mydestination =
	alias_maps =
	alias_database =
	local_recipient_maps =
	mynetworks = 127.0.0.0/8
	smtpd_relay_restrictions = permit_mynetworks, reject
	relayhost = [127.0.0.2]:25
	smtpd_client_port_logging = yes
	smtputf8_enable = no
	biff = no
	message_size_limit = 20480000
	# one attempt per message: no retry within the run
	queue_run_delay = 1h
	minimal_backoff_time = 1h
	maximal_backoff_time = 2h
	CF
	# PF_LOG set: Postfix logs to syslog, and PF_LOG is where it lands
	if [[ -z ${PF_LOG:-} ]]; then
		printf 'maillog_file = %s\nmaillog_file_prefixes = /tmp\n' "$PF/maillog" >>"$PF/etc/main.cf"
	fi
	local kv
	for kv in "$@"; do echo "$kv" >>"$PF/etc/main.cf"; done
	# no chroot: the queue is a temporary directory without chroot files
	postconf -c "$PF/etc" -F '*/*/chroot = n'
	postfix -c "$PF/etc" set-permissions >/dev/null 2>&1 || true
	postfix -c "$PF/etc" check
	${PF_LAUNCH:-nsexec} postfix -c "$PF/etc" start
	for _ in $(seq 50); do
		nsexec bash -c ': </dev/tcp/127.0.0.1/25' 2>/dev/null && return 0
		sleep 0.2
	done
	die "postfix did not start listening"
}

# pf_wait N: wait (at most 60 s) until the log (PF_LOG, default the
# maillog_file) has N delivery lines (status=).
pf_wait() {
	local f=${PF_LOG:-$PF/maillog}
	for _ in $(seq 300); do
		[[ $(grep -c ' status=' "$f" 2>/dev/null || true) -ge $1 ]] && return 0
		sleep 0.2
	done
	die "postfix logged fewer than $1 delivery lines in 60 s: $(cat "$f")"
}

pf_stop() {
	postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	sleep 1
}

# pf_finish: copy capture, logs, and write the expect file (EXPECT_JSON).
pf_finish() {
	editcap -F pcapng --capture-comment "smtpscope Postfix lab scenario $NAME (truth: $NAME.expect.json)" \
		"$WORK/cap.pcap" "$OUT_DIR/$NAME.pcapng"
	if [[ -z ${PF_LOG:-} ]]; then cp "$PF/maillog" "$OUT_DIR/$NAME.maillog"; fi
	cp "$WORK/client.jsonl" "$OUT_DIR/$NAME.client.jsonl"
	cp "$WORK/server.jsonl" "$OUT_DIR/$NAME.server.jsonl"
	printf '%s\n' "$EXPECT_JSON" >"$OUT_DIR/$NAME.expect.json"
	summarize
	log "capture: $FRAMES frames, $STREAMS streams; log: $(wc -l <"${PF_LOG:-$PF/maillog}") lines"
}
