#!/usr/bin/env bash
# Fuzzes the parsers that see untrusted bytes with libFuzzer (clang) + ASan + UBSan.
#
#   bash tools/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#
# 1. installs clang and libclang-rt-14-dev if missing (and the build dependencies);
# 2. configures ./build-fuzz with clang: -DWEC_FUZZ=ON -DWEC_SANITIZE=ON -DWEC_BUILD_TESTS=OFF
#    (the libraries get ASan/UBSan from WEC_SANITIZE and coverage from tests/fuzz/CMakeLists.txt);
# 3. builds the targets of tests/fuzz: fuzz_soap_message, fuzz_event_xml, fuzz_sldc,
#    fuzz_encrypted_mime;
# 4. writes seed corpora into build-fuzz/fuzz/seeds/<target> (tests/fuzz/make_corpora.py);
# 5. runs each target for SECONDS_PER_TARGET (-max_total_time, -rss_limit_mb=2048, -timeout=10)
#    with its dictionary; inputs that add coverage accumulate in build-fuzz/fuzz/corpus/<target>
#    (kept between runs), logs go to build-fuzz/fuzz/logs/<target>.log;
# 6. prints per target: executions, execs/s, run time, coverage (cov/ft), crash or not and where
#    the crashing input was written (build-fuzz/fuzz/artifacts/<target>/crash-*, leak-*,
#    timeout-*, oom-*). Reproduce one with: build-fuzz/tests/fuzz/<target> <file>
#
# Exits 1 when any target crashed (or found a leak, timeout, out-of-memory), 0 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: bash tools/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi

# --- toolchain -------------------------------------------------------------------------------
bash tools/install-deps.sh
fuzz_packages=(clang libclang-rt-14-dev python3)
missing=()
for p in "${fuzz_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "Installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- build -----------------------------------------------------------------------------------
build=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWEC_FUZZ=ON -DWEC_SANITIZE=ON -DWEC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz_targets -j"$(nproc)"

# --- corpora ---------------------------------------------------------------------------------
work="$build/fuzz"
rm -rf "$work/seeds"
python3 tests/fuzz/make_corpora.py "$work/seeds" >/dev/null

# target:seed directory:dictionary
targets=(
  "fuzz_soap_message:soap:soap.dict"
  "fuzz_event_xml:event_xml:event_xml.dict"
  "fuzz_sldc:sldc:sldc.dict"
  "fuzz_encrypted_mime:encrypted_mime:encrypted_mime.dict"
)

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# --- run -------------------------------------------------------------------------------------
failed=0
summary=()
for entry in "${targets[@]}"; do
  IFS=: read -r target seeds dict <<<"$entry"
  corpus="$work/corpus/$target"
  artifacts="$work/artifacts/$target"
  log="$work/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  echo "=== $target: ${seconds}s"
  start=$(date +%s)
  status=0
  # -max_total_time bounds the fuzzing; the outer timeout bounds a hang in startup/shutdown.
  timeout --kill-after=30 $((seconds + 300)) "$build/tests/fuzz/$target" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -dict="tests/fuzz/$dict" -artifact_prefix="$artifacts/" \
    "$corpus" "$work/seeds/$seeds" >"$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  if [ "$status" -eq 0 ]; then
    result="no crash"
  else
    failed=1
    kind=$(grep -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-zA-Z-]+|runtime error:|property violated|deadly signal' "$log" | head -1 || true)
    result="CRASH (exit $status${kind:+, $kind}); input: ${artifact:-none written}; log: $log"
  fi
  line=$(printf '%-20s executions %-10s execs/s %-7s time %4ss  %-18s %s' \
    "$target" "${execs:-?}" "${rate:-?}" "$elapsed" "${cov:-cov: ?}" "$result")
  echo "$line"
  summary+=("$line")
done

echo
echo "=== summary (${seconds}s per target; corpora in $work/corpus, logs in $work/logs)"
printf '%s\n' "${summary[@]}"
exit "$failed"
