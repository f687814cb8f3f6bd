#!/bin/bash
# `make test` after the set-up: formatting, lints, the test build, every test binary and the
# quick matrix (`experiment all --check --profile quick`), timed phase by phase.
#
#   fmt     cargo fmt --check
#   build   the lints of `cargo clippy --all-targets -- -D warnings` and the test build in ONE
#           compilation: clippy-driver compiles the workspace's crates (RUSTC_WORKSPACE_WRAPPER,
#           as `cargo clippy` does) into the test binaries, so the dependencies are compiled
#           once, not once for clippy (check mode) and again for the tests
#   run     the test binaries and the quick matrix, up to TEST_JOBS at a time, longest first;
#           each binary runs its own tests one at a time (--test-threads=1), as before
#
# Environment:
#   TEST_JOBS    how many test binaries (and the matrix) run at once (default 2; 1 = one after
#                another, as `cargo test` would). Their brokers share the machine's node slots
#                (src/infra/slots.rs), so a start waits while others hold them.
#   MATRIX_JOBS  the matrix's own parallelism, passed as `--jobs` when the harness has that flag
#                (default: the harness's default); without the flag the matrix runs in
#                MATRIX_SHARDS processes (default 2), each with its own broker and run folder
#   TEST_ONLY    a space-separated subset of the jobs to run (test binary names, `unit`, `matrix`)
#
# Logs: target/test-logs/<job>.log; the last lines of a failed job's log are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_JOBS="${TEST_JOBS:-2}"
MATRIX_SHARDS="${MATRIX_SHARDS:-2}"
LOGS=target/test-logs
T_START=$(date +%s)

log() { echo "test: $*"; }
# Seconds since $1 (epoch seconds), as "1m 23s".
took() { local s=$(( $(date +%s) - $1 )); printf '%dm %02ds' $((s / 60)) $((s % 60)); }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# --- fmt -------------------------------------------------------------------------------------
t=$(date +%s)
cargo fmt --check
log "fmt ok ($(took "$t"))"

# --- build: lints + test binaries in one compilation -----------------------------------------
t=$(date +%s)
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
# What `cargo clippy -- -D warnings` hands clippy-driver (arguments joined by this separator).
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
mkdir -p "$LOGS"
if ! cargo test --all-targets --no-run 2>&1 | tee "$LOGS/build.log"; then
  log "build FAILED (lints or compilation, see above) after $(took "$t")"
  exit 1
fi
log "build ok: lints and test binaries ($(took "$t"), load $(load))"

# The binaries cargo just built: "Executable tests/faults.rs (target/debug/deps/faults-…)".
declare -A EXE=()
unit=()
while read -r src path; do
  case "$src" in
    src/*) unit+=("$path") ;;
    tests/*) name=${src#tests/}; EXE[${name%.rs}]=$path ;;
  esac
done < <(sed -n 's/^ *Executable \(unittests \)\{0,1\}\([^ ]*\) (\(.*\))$/\2 \3/p' "$LOGS/build.log")
(( ${#EXE[@]} )) || { log "no test binaries found in the build's output"; exit 1; }
HARNESS=target/debug/kafka-chaos

# --- run -------------------------------------------------------------------------------------
# Longest first (measured here: seconds with one job at a time, see README "make test"), so the
# long ones do not end up alone at the end. Binaries not listed run last.
# Seconds in CI at f00afa5: matrix 935, cluster 182, integrity 128, modes 119, faults 100,
# tutorial 82, external 80, power_loss 74, broker 61, experiments 60, external_backend 53,
# check 50, interrupt 43, report_page 21, unit 7, cli_errors 3, architecture 1.
ORDER=(matrix cluster integrity modes faults tutorial external power_loss broker experiments
       external_backend check interrupt report_page unit cli_errors architecture)
jobs_list=()
for j in "${ORDER[@]}"; do
  if [[ $j == unit || $j == matrix || -n ${EXE[$j]:-} ]]; then jobs_list+=("$j"); fi
done
for j in "${!EXE[@]}"; do
  [[ " ${ORDER[*]} " == *" $j "* ]] || jobs_list+=("$j")
done
if [[ -n ${TEST_ONLY:-} ]]; then
  picked=()
  for j in "${jobs_list[@]}"; do [[ " $TEST_ONLY " == *" $j "* ]] && picked+=("$j"); done
  jobs_list=("${picked[@]}")
fi

# The quick matrix: one run with --jobs when the harness has it, else shards of the spec list.
matrix() {
  local extra=()
  if "$HARNESS" experiment --help 2>/dev/null | grep -q -- '--jobs'; then
    [[ -n ${MATRIX_JOBS:-} ]] && extra=(--jobs "$MATRIX_JOBS")
    "$HARNESS" experiment all --check --profile quick "${extra[@]}"
    return
  fi
  # Shards: every spec once, in spec order (specs of one cluster shape stay together and
  # share their cluster), dealt in contiguous slices of about equal count.
  local names=() n i per rc=0 pids=()
  mapfile -t names < <(find experiments -maxdepth 1 -name '*.toml' -printf '%f\n' | sed 's/\.toml$//' | LC_ALL=C sort)
  n=${#names[@]}
  per=$(( (n + MATRIX_SHARDS - 1) / MATRIX_SHARDS ))
  for (( i = 0; i < n; i += per )); do
    "$HARNESS" experiment "${names[@]:i:per}" --check --profile quick > "$LOGS/matrix-$((i / per + 1)).log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then rc=1; fi
    cat "$LOGS/matrix-$((i + 1)).log"
  done
  return $rc
}

run_job() {
  local j=$1
  case $j in
    matrix) matrix ;;
    unit) for u in "${unit[@]}"; do "$u" --test-threads=1 || return 1; done ;;
    *) "${EXE[$j]}" --test-threads=1 ;;
  esac
}

t=$(date +%s)
log "running ${#jobs_list[@]} jobs, $TEST_JOBS at a time: ${jobs_list[*]} (load $(load))"
declare -A PID_OF=() START=()
failed=()
finish() {   # $1 = pid that ended, $2 = its status
  local j
  for j in "${!PID_OF[@]}"; do
    if [[ ${PID_OF[$j]} == "$1" ]]; then
      unset "PID_OF[$j]"
      if [[ $2 == 0 ]]; then
        log "  ok    $j ($(took "${START[$j]}"), load $(load))"
      else
        log "  FAIL  $j ($(took "${START[$j]}"), log $LOGS/$j.log)"
        failed+=("$j")
      fi
      return
    fi
  done
}
for j in "${jobs_list[@]}"; do
  while (( ${#PID_OF[@]} >= TEST_JOBS )); do
    set +e; wait -n -p done_pid; st=$?; set -e
    finish "$done_pid" "$st"
  done
  START[$j]=$(date +%s)
  run_job "$j" > "$LOGS/$j.log" 2>&1 &
  PID_OF[$j]=$!
done
while (( ${#PID_OF[@]} )); do
  set +e; wait -n -p done_pid; st=$?; set -e
  finish "$done_pid" "$st"
done
log "run: $(took "$t") for ${#jobs_list[@]} jobs"

if (( ${#failed[@]} )); then
  for j in "${failed[@]}"; do
    echo "---- $j: the end of $LOGS/$j.log"
    tail -n 60 "$LOGS/$j.log"
  done
  log "FAILED: ${failed[*]} (after $(took "$T_START"))"
  exit 1
fi
log "all passed: fmt, lints, build, ${#jobs_list[@]} jobs ($(took "$T_START"))"
