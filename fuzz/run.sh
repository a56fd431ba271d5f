#!/usr/bin/env bash
# Builds the fuzz targets once (nightly, cargo-fuzz, no sanitizer: the code under test is
# safe Rust, so a sanitizer buys little and costs build and run time), then runs each target
# for SECONDS with the seeds in fuzz/seeds/TARGET plus a scratch corpus (kept between runs in
# $FUZZ_TARGET_DIR/corpus), JOBS targets at a time. Any crash, timeout (an input taking more
# than 10 s: a hang) or OOM (RSS over 1 GiB) fails the run and leaves the input in
# fuzz/artifacts/TARGET/. Prints what was covered: target, seconds, runs, corpus size, edges.
#
# usage: fuzz/run.sh SECONDS [TARGET...]      (default: every target)
#        fuzz/run.sh build                     (only the build; CI runs it during make test)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...] | fuzz/run.sh build}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ] && [ "$seconds" != build ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
jobs=${FUZZ_JOBS:-$(nproc)}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/../target-fuzz}
corpus_root=$CARGO_TARGET_DIR/corpus
logs=$CARGO_TARGET_DIR/logs
mkdir -p "$corpus_root" "$logs"

build_start=$(date +%s)
# 16 codegen units: a much faster build for slightly slower fuzzing (cargo-fuzz uses 1).
cargo +nightly fuzz build --sanitizer none --codegen-units 16 >"$logs/build.log" 2>&1 || {
  tail -n 40 "$logs/build.log"
  exit 1
}
echo "fuzz: built the targets in $(( $(date +%s) - build_start )) s"
[ "$seconds" = build ] && exit 0

bin_dir=$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release

# The binaries directly (what `cargo fuzz run` does after building): no second build, no
# waiting on cargo's locks while other targets run.
run_one() {
  local target=$1
  mkdir -p "$corpus_root/$target" "seeds/$target" "artifacts/$target"
  "$bin_dir/$target" "$corpus_root/$target" "seeds/$target" \
    -artifact_prefix="artifacts/$target/" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=1024 -print_final_stats=1 >"$logs/$target.log" 2>&1
}

failed=0
pids=()
names=()
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  run_one "$target" &
  pids+=($!)
  names+=("$target")
done
printf '%-16s %8s %12s %8s %8s  %s\n' target seconds runs corpus edges result
for i in "${!pids[@]}"; do
  target=${names[$i]}
  if wait "${pids[$i]}"; then result=ok; else result=FAILED; failed=1; fi
  log=$logs/$target.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  corpus=$(find "$corpus_root/$target" -type f | wc -l)
  printf '%-16s %8s %12s %8s %8s  %s\n' "$target" "$seconds" "${runs:-?}" "$corpus" "${edges:-?}" "$result"
  if [ "$result" = FAILED ]; then
    grep -v '^ *[0-9]*: \|^ *at ' "$log" | tail -n 40
  fi
done
exit $failed
