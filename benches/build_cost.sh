#!/usr/bin/env bash
# The library's clean release build against a bare crate with only the dependencies a
# client of this kind cannot do without: openidconnect (default features off, as ours)
# and reqwest (our features: json, rustls-tls). Same run, same machine, fresh target
# directories, the workspace's Cargo.lock for both (so the same versions).
#
#   bash benches/build_cost.sh        # REPS=1; JOBS defaults to the number of cores
#
# Prints the wall time of each build (`cargo build --release`, default features), the
# crates in each normal dependency tree (`cargo tree -e normal`), the crates compiled
# (cargo's "Compiling" lines, build scripts and proc-macros included) and the
# duplicated crates (`cargo tree -d -e normal`).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
REPS="${REPS:-1}"
# A library is built with its user's profile, not with this workspace's (whose release
# profile links the binaries with fat LTO in one codegen unit): both builds use cargo's
# default release settings.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
JOBS="${JOBS:-$(nproc)}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/bare/src"
cat >"$WORK/bare/Cargo.toml" <<'TOML'
[package]
name = "bare-oidc-client"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
openidconnect = { version = "4", default-features = false }
reqwest = { version = "0.12", default-features = false, features = ["json", "rustls-tls"] }
TOML
printf 'pub use openidconnect;\npub use reqwest;\n' >"$WORK/bare/src/lib.rs"
cp Cargo.lock "$WORK/bare/Cargo.lock"

# Fetch first, so that no build times a download.
cargo fetch --quiet
(cd "$WORK/bare" && cargo fetch --quiet)

build() { # $1: label, $2: directory, $3...: cargo args
	local label="$1" dir="$2"
	shift 2
	local target="$WORK/target-$label-$RANDOM"
	local t0 t1
	t0=$(date +%s.%N)
	(cd "$dir" && CARGO_TARGET_DIR="$target" cargo build --release -j "$JOBS" "$@" 2>"$WORK/$label.log")
	t1=$(date +%s.%N)
	local compiled
	compiled=$(grep -c '^ *Compiling ' "$WORK/$label.log" || true)
	rm -rf "$target"
	awk -v a="$t0" -v b="$t1" -v l="$label" -v c="$compiled" \
		'BEGIN { printf "  %-8s %6.1f s  (%d crates compiled)\n", l, b - a, c }'
	echo "$label $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >>"$WORK/times"
}

echo "clean release builds, -j $JOBS, $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 1 "$REPS"); do
	build bare "$WORK/bare"
	build library "$ROOT" -p lexoffice-login
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

tree_count() { sort -u | grep -vc '^$'; }
lib_tree=$(cargo tree -e normal -p lexoffice-login --prefix none | sed 's/ (\*)//' | tree_count)
bare_tree=$(cd "$WORK/bare" && cargo tree -e normal --prefix none | sed 's/ (\*)//' | tree_count)
lib_dups=$(cargo tree -d -e normal -p lexoffice-login --depth 0 | grep -v '^$' | sort -u | wc -l)
bare_dups=$(cd "$WORK/bare" && cargo tree -d -e normal --depth 0 | grep -v '^$' | sort -u | wc -l)
echo "crates in the normal tree: library $lib_tree, bare $bare_tree"
echo "duplicated crate versions (cargo tree -d -e normal): library $lib_dups, bare $bare_dups"
awk '{ s[$1] += $2; n[$1]++ } END {
	printf "mean build time: library %.1f s, bare %.1f s, ratio %.2fx\n",
		s["library"] / n["library"], s["bare"] / n["bare"], (s["library"] / n["library"]) / (s["bare"] / n["bare"]) }' "$WORK/times"
