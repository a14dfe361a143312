#!/usr/bin/env bash
# Measures `lexoffice-login token` on a fresh stored login: the whole process (start,
# settings, reading the store, printing), which is what a script pays per call.
#
#   bash benches/cli_token.sh            # RUNS=300 by default
#
# It builds the release binary, runs `lexoffice-login sandbox --port 0` in the
# background, logs in with `login --no-browser` driven by curl (curl plays the
# browser), then times `token` with hyperfine (`apt-get install -y hyperfine`; else a
# loop with date +%s%N) and measures its peak memory with /usr/bin/time -v (Debian
# package `time`). Once with the store in clear, once encrypted
# (LEXOFFICE_LOGIN_STORE_KEY). Everything runs on 127.0.0.1 and stops at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-300}"
WARMUP="${WARMUP:-20}"

cargo build --release --quiet -p lexoffice-login-cli --bin lexoffice-login
BIN="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
	sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/lexoffice-login"
[ -x "$BIN" ] || BIN="target/release/lexoffice-login"

WORK="$(mktemp -d)"
SANDBOX_PID=""
cleanup() {
	if [ -n "$SANDBOX_PID" ]; then
		kill -TERM "$SANDBOX_PID" 2>/dev/null || true
		wait "$SANDBOX_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# Waits (up to 10 s) until file $1 has a first line.
wait_for_line() {
	for _ in $(seq 1 100); do
		if [ -s "$1" ] && head -n 1 "$1" | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

env -u LEXOFFICE_LOGIN_ISSUER "$BIN" sandbox --port 0 --json >"$WORK/sandbox.json" 2>"$WORK/sandbox.log" &
SANDBOX_PID=$!
wait_for_line "$WORK/sandbox.json"
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$WORK/sandbox.json"; }
export LEXOFFICE_LOGIN_ENV=local
export LEXOFFICE_LOGIN_ISSUER="$(json_field issuer)"
export LEXOFFICE_LOGIN_CLIENT_SECRET="$(json_field client_secret)"
export LEXOFFICE_LOGIN_REDIRECT_URI="http://127.0.0.1:0/callback"
unset LEXOFFICE_LOGIN_STORE_KEY LEXOFFICE_LOGIN_PROFILE

# Logs in to the store in $1, curl playing the browser.
login() {
	export LEXOFFICE_LOGIN_STORE_DIR="$1"
	"$BIN" login --no-browser --timeout 30 >"$WORK/url" 2>"$WORK/login.log" &
	local pid=$!
	wait_for_line "$WORK/url"
	local location
	location="$(curl -sS -o /dev/null -w '%{redirect_url}' "$(head -n 1 "$WORK/url")")"
	curl -sS -o /dev/null "$location"
	wait "$pid"
	"$BIN" token >/dev/null
}

measure() {
	local label="$1"
	echo
	echo "== lexoffice-login token: $label (fresh token, no network)"
	if command -v hyperfine >/dev/null; then
		hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" -N \
			--export-json "$WORK/hyperfine.json" "$BIN token"
	else
		local times=()
		for _ in $(seq 1 "$WARMUP"); do "$BIN" token >/dev/null; done
		for _ in $(seq 1 "$RUNS"); do
			local t0 t1
			t0=$(date +%s%N)
			"$BIN" token >/dev/null
			t1=$(date +%s%N)
			times+=($(((t1 - t0) / 1000)))
		done
		printf '%s\n' "${times[@]}" | sort -n | awk '
			{ v[NR] = $1; s += $1 }
			END { printf "  runs %d  mean %.2f ms  median %.2f ms  min %.2f ms  max %.2f ms\n",
				NR, s / NR / 1000, v[int((NR + 1) / 2)] / 1000, v[1] / 1000, v[NR] / 1000 }'
	fi
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -v "$BIN" token 2>"$WORK/time.txt" >/dev/null
		echo "  peak memory (max RSS): $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt") KiB"
	else
		echo "  peak memory: /usr/bin/time is missing (apt-get install -y time)"
	fi
}

echo "binary: $BIN ($(du -k "$BIN" | cut -f1) KiB)"
echo "issuer: $LEXOFFICE_LOGIN_ISSUER"

login "$WORK/store-plain"
measure "store in clear"

export LEXOFFICE_LOGIN_STORE_KEY="$(head -c 32 /dev/urandom | base64)"
login "$WORK/store-encrypted"
measure "store encrypted (ChaCha20-Poly1305)"

# For comparison: a token that needs a refresh (discovery + token request over loopback).
echo
echo "== lexoffice-login token: refresh needed (discovery + refresh over loopback)"
kill -TERM "$SANDBOX_PID" 2>/dev/null || true
wait "$SANDBOX_PID" 2>/dev/null || true
env -u LEXOFFICE_LOGIN_ISSUER "$BIN" sandbox --port 0 --json --access-token-ttl 60 \
	>"$WORK/sandbox.json" 2>"$WORK/sandbox.log" &
SANDBOX_PID=$!
wait_for_line "$WORK/sandbox.json"
export LEXOFFICE_LOGIN_ISSUER="$(json_field issuer)"
login "$WORK/store-refresh"
REFRESH_RUNS=$((RUNS < 50 ? RUNS : 50))
if command -v hyperfine >/dev/null; then
	hyperfine --style basic --warmup 2 --runs "$REFRESH_RUNS" -N "$BIN token"
else
	t0=$(date +%s%N)
	for _ in $(seq 1 "$REFRESH_RUNS"); do "$BIN" token >/dev/null; done
	t1=$(date +%s%N)
	echo "  mean $(((t1 - t0) / REFRESH_RUNS / 1000)) us over $REFRESH_RUNS runs"
fi
