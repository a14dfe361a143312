#!/usr/bin/env bash
# Measures `lexoffice-login token` on a fresh stored login: the whole process (start,
# settings, reading the store, printing), which is what a script pays per call, against
# a bare process start: a hello-world Rust binary built the same way (cargo build
# --release with the workspace's [profile.release] settings copied into its manifest,
# i.e. fat LTO in one codegen unit; same toolchain, same target directory), in the same
# hyperfine run.
#
#   bash benches/cli_token.sh            # RUNS=300 by default
#
# It builds the release binaries (CARGO_TARGET_DIR, default /tmp/perf-target, so as not
# to block the workspace's target directory), runs `lexoffice-login sandbox --port 0` in
# the background, logs in with `login --no-browser` driven by curl (curl plays the
# browser), then times `token` and the hello-world with hyperfine (`apt-get install -y
# hyperfine`; else a loop with date +%s%N) and measures the peak memory of both with
# /usr/bin/time -v (Debian package `time`). Once with the store in clear, once
# encrypted (LEXOFFICE_LOGIN_STORE_KEY); then a token inside the refresh margin
# (discovery + refresh over loopback). Everything runs on 127.0.0.1 and stops at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-300}"
WARMUP="${WARMUP:-20}"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/perf-target}"
cargo build --release --quiet -p lexoffice-login-cli --bin lexoffice-login
BIN="$CARGO_TARGET_DIR/release/lexoffice-login"

WORK="$(mktemp -d)"
# The reference: a bare process start, built the same way (the workspace's release
# profile, copied: from its [profile.release] line to the next blank line).
mkdir -p "$WORK/hello/src"
printf '[package]\nname = "hello-bench"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n' \
	>"$WORK/hello/Cargo.toml"
sed -n '/^\[profile\.release\]/,/^$/p' Cargo.toml >>"$WORK/hello/Cargo.toml"
echo 'fn main() { println!("hello"); }' >"$WORK/hello/src/main.rs"
cargo build --release --quiet --manifest-path "$WORK/hello/Cargo.toml"
HELLO="$CARGO_TARGET_DIR/release/hello-bench"
# Both measured from copies, as installed (`cargo install` copies the binary too): on the
# benchmark machine the same CLI binary started ~0.3 ms slower from the file the linker
# wrote in target/ than from a copy of it (presumably how the page cache holds a file
# written piecewise), and that would be measured instead of the program.
cp "$BIN" "$WORK/lexoffice-login"
BIN="$WORK/lexoffice-login"
cp "$HELLO" "$WORK/hello-bench"
HELLO="$WORK/hello-bench"
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
			--export-json "$WORK/hyperfine.json" "$HELLO" "$BIN token"
		# min / median / mean of both, and the ratio of the medians.
		node -e '
			const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
			const f = (x) => (x * 1000).toFixed(2);
			for (const b of r) console.log(`  ${b.command}: median ${f(b.median)} ms, mean ${f(b.mean)} ms, min ${f(b.min)} ms, max ${f(b.max)} ms`);
			console.log(`  ratio of medians (token / hello-world): ${(r[1].median / r[0].median).toFixed(2)}x`);
		' "$WORK/hyperfine.json" 2>/dev/null || true
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
		/usr/bin/time -v "$HELLO" 2>"$WORK/time.txt" >/dev/null
		echo "  hello-world peak memory (max RSS): $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt") KiB"
	else
		echo "  peak memory: /usr/bin/time is missing (apt-get install -y time)"
	fi
}

echo "binary: $BIN ($(du -k "$BIN" | cut -f1) KiB); hello-world: $(du -k "$HELLO" | cut -f1) KiB"
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "issuer: $LEXOFFICE_LOGIN_ISSUER"

login "$WORK/store-plain"
measure "store in clear"

export LEXOFFICE_LOGIN_STORE_KEY="$(head -c 32 /dev/urandom | base64)"
login "$WORK/store-encrypted"
measure "store encrypted (ChaCha20-Poly1305)"

# For comparison: a token that needs a refresh (discovery + token request over loopback,
# the rotated refresh token stored). `--force-refresh` makes every run refresh: with a
# short --access-token-ttl most runs would still find the token fresh (a token whose
# lifetime is shorter than the margin is refreshed after half of it).
echo
echo "== lexoffice-login token --force-refresh: refresh needed (discovery + refresh over loopback)"
REFRESH_RUNS=$((RUNS < 50 ? RUNS : 50))
if command -v hyperfine >/dev/null; then
	hyperfine --style basic --warmup 2 --runs "$REFRESH_RUNS" -N --export-json "$WORK/refresh.json" \
		"$BIN token --force-refresh"
	node -e '
		const [b] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
		const f = (x) => (x * 1000).toFixed(2);
		console.log(`  median ${f(b.median)} ms, mean ${f(b.mean)} ms, min ${f(b.min)} ms, max ${f(b.max)} ms`);
	' "$WORK/refresh.json" 2>/dev/null || true
	/usr/bin/time -v "$BIN" token --force-refresh 2>"$WORK/time.txt" >/dev/null &&
		echo "  peak memory (max RSS): $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt") KiB"
else
	t0=$(date +%s%N)
	for _ in $(seq 1 "$REFRESH_RUNS"); do "$BIN" token --force-refresh >/dev/null; done
	t1=$(date +%s%N)
	echo "  mean $(((t1 - t0) / REFRESH_RUNS / 1000)) us over $REFRESH_RUNS runs"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
