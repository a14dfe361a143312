#!/usr/bin/env bash
# The sandbox's token endpoint side by side with panva's oidc-provider (the version pinned
# in tests/interop), in one run on one machine:
#
#   bash benches/token_endpoint.sh        # REPS=5 DURATION=10 WARMUP=2 CONNECTIONS=32
#
# Two workloads, each with wrk -t2 -c$CONNECTIONS:
#   refresh  the refresh grant, one refresh token replayed (rotation off on both
#            servers), every answer with an RS256 ID token (benches/refresh.lua);
#   code     the authorization code flow: GET authorize with a logged-in session (a
#            redirect with a code, no page) then POST token with PKCE (benches/code.lua);
#            counted in whole flows.
# Every measurement starts fresh servers (oidc-provider's in-memory adapter slows down as
# it fills), warms up for $WARMUP s, then measures for $DURATION s; sandbox and
# oidc-provider alternate, $REPS times. Printed: min / median / max of each, and the
# ratio of the medians (sandbox / oidc-provider).
#
# The sandbox is benches/sandbox-server (the library's sandbox crate, OIDC profile, a
# multi-threaded tokio runtime with one worker per core, rotation off). oidc-provider
# runs tests/interop/provider.mjs with two edits made in a temporary copy: rotation off
# (`rotateRefreshToken: false`, like the sandbox) and without its per-request stderr log
# line (which only the interop tests read). Needs: wrk (apt-get install -y wrk), node,
# npm (tests/interop/node_modules, installed by `npm ci` when missing), cargo.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
REPS="${REPS:-5}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
WORKLOADS="${WORKLOADS:-refresh code}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/perf-target}"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }

# The bench server, built with the workspace's lockfile.
cp Cargo.lock benches/sandbox-server/Cargo.lock
cargo build --release --quiet --manifest-path benches/sandbox-server/Cargo.toml
SANDBOX_BIN="$CARGO_TARGET_DIR/release/sandbox-bench-server"

[ -d tests/interop/node_modules/oidc-provider ] || (cd tests/interop && npm ci --silent)
WORK="$(mktemp -d)"
SERVER_PID=""
stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}
cleanup() {
	stop_server
	exec 3>&- 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
# The servers exit when their stdin closes: hold it open on a FIFO.
mkfifo "$WORK/stdin"
exec 3<>"$WORK/stdin"

# oidc-provider as the interop tests start it, rotation off, no per-request log line.
mkdir "$WORK/op"
ln -s "$ROOT/tests/interop/node_modules" "$WORK/op/node_modules"
cp tests/interop/package.json "$WORK/op/"
sed -e 's/rotateRefreshToken: true/rotateRefreshToken: false/' \
	-e '/^  provider.use(async (ctx, next) => {$/,/^  });$/d' \
	tests/interop/provider.mjs >"$WORK/op/provider.mjs"
grep -q 'rotateRefreshToken: false' "$WORK/op/provider.mjs"
! grep -q 'provider.use(' "$WORK/op/provider.mjs"
OP_VERSION="$(node -p "require('$ROOT/tests/interop/node_modules/oidc-provider/package.json').version")"

# Waits (up to 20 s) until file $1 has a first line.
wait_for_line() {
	for _ in $(seq 1 200); do
		if [ -s "$1" ] && head -n 1 "$1" | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}
field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$1','utf8').split('\n')[0])['$2'] ?? ''))"; }

# Starts a fresh server ($1: sandbox or op) and logs in: sets the BENCH_* variables.
start_server() {
	rm -f "$WORK/server.json" "$WORK/session.json"
	local issuer client secret redirect
	case "$1" in
	sandbox)
		"$SANDBOX_BIN" <&3 >"$WORK/server.json" 2>"$WORK/server.log" &
		SERVER_PID=$!
		wait_for_line "$WORK/server.json"
		issuer="$(field "$WORK/server.json" issuer)"
		client="$(field "$WORK/server.json" client_id)"
		secret="$(field "$WORK/server.json" client_secret)"
		redirect="$(field "$WORK/server.json" redirect_uri)"
		;;
	op)
		(cd "$WORK/op" && exec node provider.mjs) <&3 >"$WORK/server.json" 2>"$WORK/server.log" &
		SERVER_PID=$!
		wait_for_line "$WORK/server.json"
		issuer="$(field "$WORK/server.json" issuer)"
		client=interop-client secret=interop-secret redirect=http://127.0.0.1:9/callback
		;;
	esac
	node benches/oauth_session.mjs "$issuer" "$client" "$secret" "$redirect" \
		"openid offline_access" >"$WORK/session.json"
	export BENCH_URL="$issuer"
	for k in cookie refresh_token token_path authorize_path redirect_uri verifier basic id_token_alg; do
		export "BENCH_$(echo "$k" | tr a-z A-Z)=$(field "$WORK/session.json" "$k")"
	done
}

# One measurement: fresh server $2, workload $1; prints the rate (per second), the
# server's CPU time per refresh or flow (µs, all its threads) and the ID token's alg.
measure() {
	start_server "$2"
	local script="benches/$1.lua"
	if [ "$WARMUP" != 0 ]; then
		wrk -t2 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$script" "$BENCH_URL" >/dev/null
	fi
	local ticks0 ticks1
	ticks0="$(cpu_ticks "$SERVER_PID")"
	wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$script" "$BENCH_URL" >"$WORK/wrk.txt"
	ticks1="$(cpu_ticks "$SERVER_PID")"
	stop_server
	local line done bad secs
	line="$(grep '^BENCH ' "$WORK/wrk.txt")"
	done="$(echo "$line" | sed -E 's/.* (refreshes|flows)=([0-9]+).*/\2/')"
	bad="$(echo "$line" | sed -E 's/.*failed=([0-9]+).*/\1/')"
	secs="$(echo "$line" | sed -E 's/.*seconds=([0-9.]+).*/\1/')"
	if [ "$bad" != 0 ]; then
		echo "  warning: $2 $1: $bad failed requests" >&2
		grep -E 'Non-2xx|Socket errors' "$WORK/wrk.txt" >&2 || true
	fi
	awk -v n="$done" -v s="$secs" -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" \
		-v alg="$BENCH_ID_TOKEN_ALG" 'BEGIN { printf "%.0f %.0f %s\n", n / s, t / hz * 1e6 / n, alg }'
}

# CPU time (user + system, all threads) of process $1 so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "token endpoint: sandbox (benches/sandbox-server) vs oidc-provider $OP_VERSION"
echo "wrk -t2 -c$CONNECTIONS, ${WARMUP}s warm-up + ${DURATION}s per measurement, $REPS repetitions, fresh servers"
echo "machine: $(nproc) cores, $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RESULTS CPU
for rep in $(seq 1 "$REPS"); do
	for w in $WORKLOADS; do
		for server in sandbox op; do
			read -r rate cpu alg < <(measure "$w" "$server")
			RESULTS["$w $server"]+="$rate "
			CPU["$w $server"]+="$cpu "
			echo "  rep $rep  $w  $server: $rate/s, server CPU $cpu µs each (ID tokens $alg)"
		done
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

stats() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%d %d %d\n", v[1], m, v[NR] }'; }
echo
printf '| workload | sandbox min / median / max | oidc-provider %s min / median / max | ratio (medians) | server CPU per op, sandbox / oidc-provider (medians) |\n' "$OP_VERSION"
echo '|---|---|---|---|---|'
for w in $WORKLOADS; do
	read -r smin smed smax < <(echo "${RESULTS["$w sandbox"]}" | stats)
	read -r omin omed omax < <(echo "${RESULTS["$w op"]}" | stats)
	unit=$([ "$w" = refresh ] && echo "refreshes/s" || echo "flows/s")
	label=$([ "$w" = refresh ] && echo "refresh grant" || echo "authorize + code exchange")
	read -r _ scpu _ < <(echo "${CPU["$w sandbox"]}" | stats)
	read -r _ ocpu _ < <(echo "${CPU["$w op"]}" | stats)
	printf '| %s (%s) | %s / **%s** / %s | %s / **%s** / %s | **%s×** | %s µs / %s µs |\n' "$label" "$unit" \
		"$smin" "$smed" "$smax" "$omin" "$omed" "$omax" \
		"$(awk -v a="$smed" -v b="$omed" 'BEGIN { printf "%.2f", a / b }')" "$scpu" "$ocpu"
done
