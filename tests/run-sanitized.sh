#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (gcc).
#
#   bash tests/run-sanitized.sh [CTEST_FILTER_ARGS...]      e.g.  bash tests/run-sanitized.sh -E kerberos
#
# Builds everything with -DWEC_SANITIZE=ON into ./build-asan, then
#  * runs the unit tests (instrumented executables) directly;
#  * runs each integration test with the real /usr/sbin/syslog-ng loading the instrumented
#    module: the harness (tests/integration/wec_harness.py) puts WEC_DAEMON_PRELOAD, the
#    libasan/libubsan runtimes, into the daemon's LD_PRELOAD (and nowhere else: Python and the
#    other tools run uninstrumented). Full malloc stacks (fast_unwind_on_malloc=0) so that
#    leak reports through glib name their callers; tests/lsan.supp suppresses leaks that are
#    syslog-ng's or glib's own (never the module's).
# Every sanitizer writes its reports to build-asan/sanitizer-logs/<test>/ (ASAN_OPTIONS and
# UBSAN_OPTIONS log_path). The run fails when a test fails or when any report was written;
# the reports are printed at the end (an intermittent crash of LeakSanitizer's own tracer at
# exit is only a warning: it reports no finding).
#
# Exit status: 0 all passed and no sanitizer report; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash tools/install-deps.sh

build=build-asan
CC=gcc CXX=g++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEC_SANITIZE=ON -DWEC_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

logs="$root/$build/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"

# The daemon is not instrumented, so libasan initialises lazily, at the first malloc(). With
# Debian 12's syslog-ng that first malloc() comes from libgpg-error's constructor, inside
# bindtextdomain() with glibc's gettext lock held for writing; ASan's initialisation then calls
# dlsym("swift_demangle") + dlerror(), whose gettext call on the same lock underflows its reader
# count, and the next bindtextdomain() (libkrb5's, when a kerberos() listener starts) hangs
# forever. A stub swift_demangle() (returns NULL: "not demangled") makes that dlsym() succeed, so
# no gettext call happens during the initialisation. It is preloaded after the runtimes.
stub_dir="$root/$build/sanitizer-preload"
mkdir -p "$stub_dir"
cat >"$stub_dir/swift-demangle-stub.c" <<'STUB'
#include <stddef.h>
#include <stdint.h>
char *swift_demangle(const char *name, size_t length, char *buffer, size_t *buffer_size, uint32_t flags)
{
  return NULL;
}
STUB
gcc -shared -fPIC -O2 -w -o "$stub_dir/libswift-demangle-stub.so" "$stub_dir/swift-demangle-stub.c"

preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so):$stub_dir/libswift-demangle-stub.so"
for lib in ${preload//:/ }; do
  [ -e "$lib" ] || { echo "sanitizer runtime $lib not found" >&2; exit 1; }
done

asan_common="detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:verify_asan_link_order=0"
ubsan_common="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"

failed=0
results=()

# The tests to run: all, or those CTEST_FILTER_ARGS select; told apart by their prefix, so that a
# filter never runs an integration test without the daemon's sanitizer environment.
mapfile -t selected < <(ctest --test-dir "$build" -N "$@" | sed -n 's/^ *Test *#[0-9]*: *//p')
unit=()
integration=()
for test in "${selected[@]}"; do
  case "$test" in
    unit/*) unit+=("$test") ;;
    integration/*) integration+=("$test") ;;
  esac
done

# --- unit tests --------------------------------------------------------------------------------
if [ ${#unit[@]} -ne 0 ]; then
  mkdir -p "$logs/unit"
  status=0
  names=$(IFS='|'; echo "${unit[*]}")
  ASAN_OPTIONS="$asan_common:detect_stack_use_after_return=1:log_path=$logs/unit/asan" \
  UBSAN_OPTIONS="$ubsan_common:log_path=$logs/unit/ubsan" \
    ctest --test-dir "$build" -R "^(${names//./\\.})\$" --output-on-failure --timeout 1500 || status=$?
  results+=("unit tests (${#unit[@]}): ctest exit $status")
  [ "$status" -eq 0 ] || failed=1
fi

# --- integration tests, one at a time so that reports can be told apart --------------------------
for test in "${integration[@]}"; do
  dir="$logs/$test"
  mkdir -p "$dir"
  status=0
  # verify_asan_link_order=0: a test that runs /usr/sbin/syslog-ng itself, not through the
  # harness (e.g. --module-registry), loads the runtime with the module instead of preloading it.
  # quarantine_size_mb=16 (default 256): freed memory held back to catch use-after-free would
  # otherwise count against the RSS bounds the fault tests assert.
  WEC_DAEMON_PRELOAD="$preload" \
  ASAN_OPTIONS="$asan_common:fast_unwind_on_malloc=0:malloc_context_size=40:quarantine_size_mb=16:verify_asan_link_order=0:log_path=$dir/asan" \
  UBSAN_OPTIONS="$ubsan_common:log_path=$dir/ubsan" \
    ctest --test-dir "$build" -R "^${test}\$" --output-on-failure --timeout 1500 || status=$?
  results+=("$test: ctest exit $status")
  [ "$status" -eq 0 ] || failed=1
done

# --- sanitizer reports ------------------------------------------------------------------------
# Every file is a report, except one that holds only "LeakSanitizer has encountered a fatal error"
# (the leak checker's own thread crashed at exit, an intermittent LSan problem: the process's
# leaks were not checked, nothing was found): listed as a warning.
reports=()
lsan_crashes=()
while IFS= read -r f; do
  if ! grep -qE "ERROR: |runtime error:|SUMMARY: " "$f" && grep -q "LeakSanitizer has encountered a fatal error" "$f"; then
    lsan_crashes+=("$f")
  else
    reports+=("$f")
  fi
done < <(find "$logs" -type f | sort)

echo
echo "=== sanitized suite"
printf '%s\n' "${results[@]}"
for f in "${lsan_crashes[@]}"; do
  echo "warning: leak check skipped, LeakSanitizer crashed at exit: ${f#"$root/"}"
done
if [ ${#reports[@]} -ne 0 ]; then
  failed=1
  echo "=== ${#reports[@]} sanitizer report(s) (build-asan/sanitizer-logs):"
  for f in "${reports[@]}"; do
    echo "--- ${f#"$root/"}"
    head -c 20000 "$f"
  done
else
  echo "no sanitizer reports"
fi
exit "$failed"
