# shellcheck shell=bash
# Helpers for the TLS scenarios (tls-*.sh). Source after lib.sh.
#
# Every TLS scenario keeps the client's TLS secrets (NSS key log format, as
# SSLKEYLOGFILE writes) beside its capture as captures/NAME.keys, so that
# decryption can be tested against tshark (`tshark -o tls.keylog_file:...`).
# The secrets belong to throw-away keys made for one run inside the
# namespace; they protect nothing.

KEYS_FILE=""
init_keys() {
	KEYS_FILE="$WORK/keys"
	: >"$KEYS_FILE"
}

# keep_keys: copy the key log beside the capture
keep_keys() {
	cp "$KEYS_FILE" "$OUT_DIR/$NAME.keys"
	log "kept $(grep -c . "$KEYS_FILE" || true) key log line(s) in $NAME.keys"
}

# tsk ARGS...: tshark on the capture, decrypting with the key log
tsk() { ts -o "tls.keylog_file:$KEYS_FILE" "$@"; }
countk() { tsk -Y "$1" -T fields -e frame.number | wc -l; }
wantk() {
	local n
	n=$(countk "$1")
	test "$n" "-$2" "$3" || die "want count($1) with keys -$2 $3, got $n"
}
