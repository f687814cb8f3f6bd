#!/bin/bash
# `make test`: the set-up, formatting, lints, the test build, every test binary and the quick
# matrix (`experiment all --check --profile quick`), timed phase by phase, as a pipeline:
#
#   setup   scripts/setup.sh (apt packages, Kafka jars, broker image, Python venv), in the
#           background beside the build: it waits on the network and on podman, the build on
#           the cores, and the build needs nothing it installs
#   fmt     cargo fmt --check
#   build   the lints of `cargo clippy --all-targets -- -D warnings` and the test build in ONE
#           compilation: clippy-driver compiles the workspace's crates (RUSTC_WORKSPACE_WRAPPER,
#           as `cargo clippy` does) into the test binaries, so the dependencies are compiled
#           once, not once for clippy (check mode) and again for the tests. It goes in two
#           steps: the harness binary first, so the quick matrix can start (once the set-up is
#           done) while the test binaries are still compiling
#   run     the quick matrix and the test binaries, up to TEST_JOBS at a time (the matrix
#           counts as one), longest first; each binary runs its own tests one at a time
#           (--test-threads=1), as before
#
# Each phase line gives its wall time and the machine's busy CPU-seconds in it (all processes,
# brokers included, from /proc/stat), so what the cores could give and what they gave can be
# compared.
#
# Environment:
#   TEST_JOBS    how many jobs (test binaries and the matrix) run at once while the matrix runs
#                (default 2; 1 = one after another, as `cargo test` would). Their brokers share
#                the machine's node slots (src/infra/slots.rs), so a start waits while others
#                hold them.
#   TEST_JOBS_AFTER  how many test binaries run at once once the matrix is done (default 3, or 1
#                with TEST_JOBS=1): beside the matrix the cores are busy (load 10 to 15 on 2
#                cores), after it the test binaries mostly wait on their brokers (load 2 to 3
#                with two at a time; with four, peaks of 24)
#   MATRIX_JOBS  the matrix's own parallelism, passed as `--jobs` (default: the harness's default)
#   TEST_ONLY    a space-separated subset of the jobs to run (test binary names, `unit`, `matrix`)
#   TEST_SETUP   `skip` leaves the set-up out (when it has just run, as in `make setup test`)
#
# Logs: target/test-logs/<job>.log (and setup.log, build-bin.log, build.log); the last lines of
# a failed job's log are printed at the end.
set -euo pipefail
# Job control: every background job (the set-up, the matrix, each test binary) gets a process
# group of its own, so that an early exit or an interrupt can stop each one whole (below).
set -m
cd "$(dirname "$0")/.."

TEST_JOBS="${TEST_JOBS:-2}"
TEST_JOBS_AFTER="${TEST_JOBS_AFTER:-$(( TEST_JOBS == 1 ? 1 : 3 ))}"
for v in TEST_JOBS TEST_JOBS_AFTER; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "test: $v must be a whole number of 1 or more, not '${!v}'" >&2; exit 2; }
done
LOGS=target/test-logs
T_START=$(date +%s)
mkdir -p "$LOGS"

log() { echo "test: $*"; }
# Seconds since $1 (epoch seconds), as "1m 23s".
took() { local s=$(( $(date +%s) - $1 )); printf '%dm %02ds' $((s / 60)) $((s % 60)); }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# The machine's busy CPU time so far, in jiffies (user, nice, system, irq, softirq, steal).
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
HZ=$(getconf CLK_TCK)
CORES=$(nproc)
# "N CPU-s of M" since the busy count $1 and the start time $2: what the phase used of what the
# cores could give.
cpu() { echo "$(( ($(busy) - $1) / HZ )) CPU-s of $(( ($(date +%s) - $2) * CORES ))"; }
B_START=$(busy)

# --- setup, in the background ------------------------------------------------------------------
SETUP_PID=""
if [[ ${TEST_SETUP:-} != skip ]]; then
  scripts/setup.sh > "$LOGS/setup.log" 2>&1 &
  SETUP_PID=$!
  log "setup started in the background (log $LOGS/setup.log)"
fi
# Waits for the set-up; on failure prints its log and stops.
setup_done() {
  [[ -n $SETUP_PID ]] || return 0
  local st=0
  wait "$SETUP_PID" || st=$?
  SETUP_PID=""
  if (( st != 0 )); then
    cat "$LOGS/setup.log"
    log "setup FAILED (exit $st) after $(took "$T_START")"
    exit 1
  fi
  log "setup ok: $(sed -n 's/^setup: \(\(done\|[a-z]* ok\) .*\)/\1/p' "$LOGS/setup.log" | paste -sd ',' | sed 's/,/, /g')"
}
# On any exit with jobs still running (a failed build, Ctrl+C, a kill): SIGTERM to each job's
# whole process group, then wait for them, so that the harness removes its brokers (it does on
# SIGTERM) and nothing holds node slots or ports for the next run.
declare -A PID_OF=()
stop_jobs() {
  local pids=("${PID_OF[@]}") p
  [[ -n $SETUP_PID ]] && pids+=("$SETUP_PID")
  (( ${#pids[@]} )) || return 0
  echo "test: stopping ${#pids[@]} running job(s)" >&2
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_jobs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- fmt -------------------------------------------------------------------------------------
t=$(date +%s)
cargo fmt --check
log "fmt ok ($(took "$t"))"

# --- build: lints + the harness, then lints + the test binaries -------------------------------
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
# What `cargo clippy -- -D warnings` hands clippy-driver (arguments joined by this separator).
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
t=$(date +%s); b=$(busy)
if ! cargo build --bin kafka-chaos 2>&1 | tee "$LOGS/build-bin.log"; then
  log "build FAILED (lints or compilation, see above) after $(took "$t")"
  exit 1
fi
log "build ok: lints and the harness ($(took "$t"), $(cpu "$b" "$t"), load $(load))"
HARNESS=target/debug/kafka-chaos

t=$(date +%s)
setup_done
log "waited $(took "$t") for the set-up ($(took "$T_START") since the start)"

# --- the jobs ----------------------------------------------------------------------------------
# Longest first (measured here: seconds with one job at a time, see README "make test"), so the
# long ones do not end up alone at the end. Binaries not listed run last.
# Seconds in CI at f00afa5: matrix 935, cluster 182, integrity 128, modes 119, faults 100,
# tutorial 82, external 80, power_loss 74, broker 61, experiments 60, external_backend 53,
# check 50, interrupt 43, report_page 21, unit 7, cli_errors 3, architecture 1.
ORDER=(matrix cluster integrity modes faults tutorial external power_loss broker experiments
       external_backend check interrupt report_page unit cli_errors architecture)
picked() { [[ -z ${TEST_ONLY:-} || " $TEST_ONLY " == *" $1 "* ]]; }

matrix() {
  local extra=()
  [[ -n ${MATRIX_JOBS:-} ]] && extra=(--jobs "$MATRIX_JOBS")
  "$HARNESS" experiment all --check --profile quick "${extra[@]}"
}
declare -A EXE=()
unit=()
run_job() {
  local j=$1
  case $j in
    matrix) matrix ;;
    unit) for u in "${unit[@]}"; do "$u" --test-threads=1 || return 1; done ;;
    *) "${EXE[$j]}" --test-threads=1 ;;
  esac
}

T_RUN=$(date +%s); B_RUN=$(busy)
declare -A START=()
failed=()
start_job() {
  local j=$1
  START[$j]=$(date +%s)
  run_job "$j" > "$LOGS/$j.log" 2>&1 &
  PID_OF[$j]=$!
}
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
wait_one() {
  local done_pid st
  set +e; wait -n -p done_pid; st=$?; set -e
  finish "$done_pid" "$st"
}

# The matrix needs only the harness: it starts now, beside the rest of the build.
if picked matrix; then
  start_job matrix
  log "matrix started beside the test build (log $LOGS/matrix.log, load $(load))"
fi

t=$(date +%s); b=$(busy)
if ! cargo test --all-targets --no-run 2>&1 | tee "$LOGS/build.log"; then
  log "build FAILED (lints or compilation, see above) after $(took "$t")"
  exit 1
fi
beside=""; picked matrix && beside=" beside the matrix"
log "build ok: lints and the test binaries ($(took "$t"), $(cpu "$b" "$t")$beside, load $(load))"

# The binaries cargo just built: "Executable tests/faults.rs (target/debug/deps/faults-…)".
while read -r src path; do
  case "$src" in
    src/*) unit+=("$path") ;;
    tests/*) name=${src#tests/}; EXE[${name%.rs}]=$path ;;
  esac
done < <(sed -n 's/^ *Executable \(unittests \)\{0,1\}\([^ ]*\) (\(.*\))$/\2 \3/p' "$LOGS/build.log")
(( ${#EXE[@]} )) || { log "no test binaries found in the build's output"; exit 1; }

for j in ${TEST_ONLY:-}; do
  [[ $j == unit || $j == matrix || -n ${EXE[$j]:-} ]] || {
    log "TEST_ONLY: no job named '$j' (jobs: unit matrix ${!EXE[*]})"; exit 2; }
done
jobs_list=()
for j in "${ORDER[@]}"; do
  [[ $j == matrix ]] && continue
  if [[ $j == unit || -n ${EXE[$j]:-} ]] && picked "$j"; then jobs_list+=("$j"); fi
done
for j in "${!EXE[@]}"; do
  [[ " ${ORDER[*]} " == *" $j "* ]] || ! picked "$j" || jobs_list+=("$j")
done

# How many jobs may run now: TEST_JOBS while the matrix runs, TEST_JOBS_AFTER once it is done.
limit() { if [[ -n ${PID_OF[matrix]:-} ]]; then echo "$TEST_JOBS"; else echo "$TEST_JOBS_AFTER"; fi; }
log "running ${#jobs_list[@]} more jobs, $TEST_JOBS at a time with the matrix, $TEST_JOBS_AFTER after it: ${jobs_list[*]} (load $(load))"
for j in "${jobs_list[@]}"; do
  while (( ${#PID_OF[@]} >= $(limit) )); do wait_one; done
  start_job "$j"
done
while (( ${#PID_OF[@]} )); do wait_one; done
log "run: $(took "$T_RUN") from the matrix's start ($(cpu "$B_RUN" "$T_RUN"))"

if (( ${#failed[@]} )); then
  for j in "${failed[@]}"; do
    echo "---- $j: the end of $LOGS/$j.log"
    tail -n 60 "$LOGS/$j.log"
  done
  log "FAILED: ${failed[*]} (after $(took "$T_START"))"
  exit 1
fi
n=${#jobs_list[@]}; picked matrix && n=$((n + 1))
log "all passed: setup, fmt, lints, build, $n jobs ($(took "$T_START"), $(cpu "$B_START" "$T_START"))"
