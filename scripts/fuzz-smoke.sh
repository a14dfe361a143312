#!/usr/bin/env bash
# Fuzz smoke test: runs every cargo-fuzz target in fuzz/ for about 30 seconds each
# (FUZZ_SECONDS overrides), one at a time on one core, starting from the committed seeds
# in fuzz/corpus/<target>/ (what a run adds goes to fuzz/corpus-grown/<target>/, which
# is git-ignored). Prints `target: N runs, 0 crashes` per target and exits non-zero if
# any target crashes, times out or runs out of memory (the input is kept under
# fuzz/artifacts/<target>/).
#
# Needs the nightly toolchain (rustup) and cargo-fuzz (installed from crates.io if
# missing). Usage: scripts/fuzz-smoke.sh [target ...]
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}

if ! command -v rustup >/dev/null 2>&1; then
    echo "fuzz-smoke: rustup is not installed; the fuzz targets need a nightly toolchain" >&2
    exit 1
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz-smoke: no nightly toolchain (rustup toolchain list); install it with 'rustup toolchain install nightly'" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked || { echo "fuzz-smoke: cargo install cargo-fuzz failed" >&2; exit 1; }
fi

cd "$ROOT/fuzz"
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
if [ "${#TARGETS[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found" >&2
    exit 1
fi

echo "fuzz-smoke: building ${TARGETS[*]}"
cargo +nightly fuzz build -O || { echo "fuzz-smoke: build failed" >&2; exit 1; }

LOGDIR=$(mktemp -d)
trap 'rm -rf "$LOGDIR"' EXIT
failed=0
summary=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus-grown/$t" "corpus/$t" "artifacts/$t"
    log="$LOGDIR/$t.log"
    echo "fuzz-smoke: $t for ${SECONDS_PER_TARGET}s"
    # -jobs/-workers 1: one fuzzing process; libFuzzer then writes its output to
    # fuzz-0.log in the current directory (git-ignored), appended to our log below.
    rm -f fuzz-0.log
    before=$(ls "artifacts/$t" | wc -l)
    cargo +nightly fuzz run -O "$t" "corpus-grown/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
        -jobs=1 -workers=1 -print_final_stats=1 \
        -artifact_prefix="$ROOT/fuzz/artifacts/$t/" >"$log" 2>&1
    rc=$?
    if [ -f fuzz-0.log ]; then
        cat fuzz-0.log >>"$log"
        rm -f fuzz-0.log
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    [ -n "$runs" ] || runs=$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#')
    # Crashes, timeouts and OOMs each leave one input in artifacts/<target>/.
    crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        [ "$crashes" -eq 0 ] && crashes=1
        failed=1
        echo "fuzz-smoke: $t FAILED (exit $rc); last lines of its log:" >&2
        tail -40 "$log" >&2
        echo "fuzz-smoke: reproducer(s) in fuzz/artifacts/$t/:" >&2
        ls "$ROOT/fuzz/artifacts/$t" >&2
    fi
    summary+=("$t: ${runs:-0} runs, $crashes crashes")
done

echo
echo "fuzz-smoke summary (${SECONDS_PER_TARGET}s per target):"
printf '%s\n' "${summary[@]}"
exit "$failed"
