#!/usr/bin/env bash
# exim-relay-stall: the seed incident with a real Exim (Debian's 4.96) as the
# sending MTA, for a main log written by Exim itself. The lab client submits
# a 2 KiB and a 1.2 MiB message to Exim (127.0.0.1:25); Exim relays each to
# the lab relay (127.0.0.2:25), which answers the 2 KiB message's
# end-of-data with 250 but never answers the 1.2 MiB one's. The smtp
# transport's final_timeout is 10 s here (10 min by default): Exim logs
# "== … defer (-46) H=127.0.0.2 [127.0.0.2]:25: SMTP timeout after end of
# data (N bytes written)". The transport avoids PIPELINING and CHUNKING:
# with them Exim 4.96 sends its FIN with the final dot when nothing else
# waits for the host, and the lab relay ends its stall when the client
# closes, so the timeout would never come (Exim logs "Remote host closed
# connection in response to end of data" instead).
#
# Debian's exim4 conflicts with postfix (both provide mail-transport-agent),
# so Exim is not installed: the script fetches Debian's packages with
# `apt-get download` (exim4-daemon-light, exim4-base, exim4-config, and
# libidn12, its one library the box may lack) into its work directory and
# unpacks them with `dpkg -x`. Exim resolves its compiled-in user
# Debian-exim at start: it runs in a mount namespace of its own whose
# /etc/passwd and /etc/group are copies with that user added, so the host's
# are untouched. Leaves in exim/: NAME.pcapng, NAME.mainlog (Exim's main
# log, log_selector +incoming_port +outgoing_port +smtp_connection
# +millisec +deliver_time), the lab peers' logs and NAME.expect.json.
set -euo pipefail
NAME=exim-relay-stall
EXIM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT_DIR=$EXIM_DIR
source "$EXIM_DIR/../scripts/lib.sh"
for t in apt-get dpkg unshare; do command -v $t >/dev/null || die "missing $t"; done
lab_init

EX=$WORK/exim
mkdir -p "$EX/deb" "$EX/root" "$EX/spool" "$EX/log"
(cd "$EX/deb" && timeout 120 apt-get download -q exim4-daemon-light exim4-base exim4-config libidn12 >/dev/null 2>&1) ||
	die "apt-get download of Debian's exim4 packages failed"
for d in "$EX"/deb/*.deb; do dpkg -x "$d" "$EX/root"; done
EXIM=$EX/root/usr/sbin/exim4
LIBS=$EX/root/usr/lib/x86_64-linux-gnu
cp /etc/passwd "$EX/passwd"
cp /etc/group "$EX/group"
echo "Debian-exim:x:64998:64998:Exim:/nonexistent:/usr/sbin/nologin" >>"$EX/passwd"
echo "Debian-exim:x:64998:" >>"$EX/group"
chown -R 64998:64998 "$EX/spool" "$EX/log"
chmod 755 "$WORK" "$EX"
cat >"$EX/exim.conf" <<CONF
primary_hostname = mta.lab.test
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment = LD_LIBRARY_PATH
exim_path = $EX/root/usr/sbin/exim4
deliver_drop_privilege = true
spool_directory = $EX/spool
log_file_path = $EX/log/%slog
log_selector = +incoming_port +outgoing_port +smtp_connection +millisec +deliver_time
daemon_smtp_ports = 25
local_interfaces = 127.0.0.1
acl_smtp_rcpt = acl_check_rcpt
host_lookup =
rfc1413_hosts =
message_size_limit = 20M
# no STARTTLS: else the daemon first makes a self-signed certificate, and
# connections wait in the listen queue meanwhile (seconds on a busy box)
tls_advertise_hosts =
begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.0/8
  deny
begin routers
relay:
  driver = manualroute
  domains = *
  transport = remote_smtp
  route_list = * 127.0.0.2
  self = send
begin transports
remote_smtp:
  driver = smtp
  port = 25
  final_timeout = 10s
  hosts_avoid_tls = *
  hosts_try_chunking =
  hosts_avoid_pipelining = *
begin retry
*  *  F,1h,1h
CONF

# exim_run ARGS...: Exim in the namespace, with Debian-exim known
exim_run() {
	nsexec unshare --mount --propagation private bash -c '
		set -euo pipefail
		ex=$1; shift
		mount --bind "$ex/passwd" /etc/passwd
		mount --bind "$ex/group" /etc/group
		export LD_LIBRARY_PATH=$ex/root/usr/lib/x86_64-linux-gnu
		exec "$ex/root/usr/sbin/exim4" -C "$ex/exim.conf" "$@"' _ "$EX" "$@"
}
[[ -d $LIBS ]] || die "no libraries unpacked"

start_capture
start_server --listen 127.0.0.2:25 --stall-above 1048576 --stall-max 60s
exim_run -bd
for _ in $(seq 50); do
	grep -q 'listening for SMTP' "$EX/log/mainlog" 2>/dev/null && break
	sleep 0.2
done
sleep 1 # let the daemon settle: a busy box delays its first accept()
for _ in $(seq 50); do
	nsexec bash -c ': </dev/tcp/127.0.0.1/25' 2>/dev/null && break
	sleep 0.2
done
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
MAINLOG=$EX/log/mainlog
for _ in $(seq 300); do
	[[ $(grep -cE ' (=>|==|\*\*) ' "$MAINLOG" 2>/dev/null || true) -ge 2 ]] && break
	sleep 0.2
done
[[ $(grep -cE ' (=>|==|\*\*) ' "$MAINLOG" 2>/dev/null || true) -ge 2 ]] || die "exim logged fewer than 2 deliveries in 60 s: $(cat "$MAINLOG" "$EX/log/paniclog" 2>/dev/null)"
for pid in $(ip netns pids "$NS"); do
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == exim4 ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
done
sleep 1
stop_server
stop_capture
editcap -F pcapng --capture-comment "smtpscope Exim lab scenario $NAME (truth: $NAME.expect.json)" \
	"$WORK/cap.pcap" "$OUT_DIR/$NAME.pcapng"
cp "$MAINLOG" "$OUT_DIR/$NAME.mainlog"
cp "$WORK/client.jsonl" "$OUT_DIR/$NAME.client.jsonl"
cp "$WORK/server.jsonl" "$OUT_DIR/$NAME.server.jsonl"
cat >"$OUT_DIR/$NAME.expect.json" <<'JSON'
{"scenario": "exim-relay-stall",
 "connections": [
  {"server": "127.0.0.1:25", "note": "the script probing that Exim listens"},
  {"client": "127.0.0.1:40001", "server": "127.0.0.1:25", "log_role": "server", "outcomes": ["delivered", "delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "delivered", "outcomes": ["delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "deferred", "log_stage": "end-of-data", "outcomes": ["no-reply"]}]}
JSON
summarize
log "capture: $FRAMES frames, $STREAMS streams; mainlog: $(wc -l <"$OUT_DIR/$NAME.mainlog") lines"
grep -q 'SMTP timeout after end of data' "$OUT_DIR/$NAME.mainlog" || die "no end-of-data timeout in the main log"
grep -q ' => ' "$OUT_DIR/$NAME.mainlog" || die "the 2 KiB message was not delivered"
want_streams 4
log verified
