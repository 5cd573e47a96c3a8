#!/usr/bin/env bash
# postfix-relay-stall-syslog: postfix-relay-stall with Postfix logging the
# classic way, through syslog(3) to a real rsyslogd (Debian's), instead of
# to maillog_file. rsyslogd writes every mail message twice: in its
# traditional file format ("Dec  2 01:30:00 mta postfix/smtp[…]: …", what
# Debian 12's rsyslog.conf selects) to NAME.mail.log, and in RFC 3339 with
# microseconds (RSYSLOG_FileFormat, rsyslog's own default) to
# NAME.mail-rfc3339.log.
# glibc's syslog(3) writes to /dev/log. So that nothing reaches the host's
# /dev or names the host, rsyslogd and Postfix run in a mount namespace of
# their own, whose /dev is a private directory (null, zero, full, random,
# urandom bound from the host's, and the socket rsyslogd makes), and in a
# UTS namespace whose host name is "mta". Needs the rsyslog package
# (binary only: the service is never started).
NAME=postfix-relay-stall-syslog
source "$(dirname "$0")/lib.sh"
command -v rsyslogd >/dev/null || die "missing rsyslogd (apt-get install rsyslog)"
command -v unshare >/dev/null || die "missing unshare (util-linux)"
lab_init
SYSLOG=$WORK/syslog
PF_LOG=$SYSLOG/mail.log
mkdir -p "$WORK/dev" "$SYSLOG"
cat >"$WORK/rsyslog.conf" <<CONF
global(workDirectory="$SYSLOG")
module(load="imuxsock") # /dev/log, with the receiving time
mail.* action(type="omfile" file="$SYSLOG/mail.log" template="RSYSLOG_TraditionalFileFormat")
mail.* action(type="omfile" file="$SYSLOG/mail-rfc3339.log" template="RSYSLOG_FileFormat")
CONF
rsyslogd -N1 -f "$WORK/rsyslog.conf" >/dev/null 2>&1 || die "rsyslog.conf: $(rsyslogd -N1 -f "$WORK/rsyslog.conf" 2>&1)"

# pf_launch CMD...: run CMD (postfix start) in the namespace, in a private
# /dev with rsyslogd listening on its /dev/log.
pf_launch() {
	nsexec unshare --mount --uts --propagation private bash -c '
		set -euo pipefail
		w=$1; shift
		for n in null zero full random urandom; do
			touch "$w/dev/$n"; mount --bind "/dev/$n" "$w/dev/$n"
		done
		mount --rbind "$w/dev" /dev
		hostname mta
		rsyslogd -f "$w/rsyslog.conf"
		for _ in $(seq 50); do [[ -S /dev/log ]] && break; sleep 0.1; done
		[[ -S /dev/log ]] || { echo "rsyslogd made no /dev/log" >&2; exit 1; }
		exec "$@"' _ "$WORK" "$@"
}
PF_LAUNCH=pf_launch

start_capture
start_server --listen 127.0.0.2:25 --stall-above 1048576 --stall-max 60s
pf_start "smtp_data_done_timeout = 10s"
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
pf_wait 2
pf_stop
# rsyslogd writes its files as it goes; TERM lets it close them.
for pid in $(ip netns pids "$NS"); do
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == rsyslogd ]]; then
		kill -TERM "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
done
stop_server
stop_capture
EXPECT_JSON='{"scenario": "postfix-relay-stall-syslog",
 "logs": {"mail.log": "rsyslog RSYSLOG_TraditionalFileFormat", "mail-rfc3339.log": "rsyslog RSYSLOG_FileFormat"},
 "connections": [
  {"server": "127.0.0.1:25", "log_role": "server", "log_stage": "connect", "outcomes": [], "note": "pf_start probing the port"},
  {"client": "127.0.0.1:40001", "server": "127.0.0.1:25", "log_role": "server", "outcomes": ["delivered", "delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "sent", "outcomes": ["delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "deferred", "log_stage": "end-of-data", "outcomes": ["no-reply"]}]}'
cp "$SYSLOG/mail.log" "$OUT_DIR/$NAME.mail.log"
cp "$SYSLOG/mail-rfc3339.log" "$OUT_DIR/$NAME.mail-rfc3339.log"
pf_finish
for f in mail.log mail-rfc3339.log; do
	grep -q 'timed out while sending end of data' "$OUT_DIR/$NAME.$f" || die "no data-done timeout in $f"
	grep -q 'status=sent' "$OUT_DIR/$NAME.$f" || die "the 2 KiB message was not sent ($f)"
	grep -q ' mta postfix/smtpd\[' "$OUT_DIR/$NAME.$f" || die "$f does not name the host mta"
done
want_streams 4
log verified
