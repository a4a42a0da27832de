#!/usr/bin/env bash
# The module built against syslog-ng 4.11 (tools/build-syslog-ng-4.sh) and the whole integration
# suite run against that daemon. Arguments go to ctest. Skips, loudly, when the tarball is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
status=0
prefix=$(bash tools/build-syslog-ng-4.sh) || status=$?
if [ "$status" -eq 3 ]; then
  echo "=== SKIPPED: the syslog-ng 4.11 run: ../shared/vendor/syslog-ng-4.11.0.tar.gz is absent ==="
  exit 0
fi
[ "$status" -eq 0 ] || exit "$status"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cmake -S . -B build-4 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYSLOGNG_SCLDIR="$prefix/share/syslog-ng/include/scl" >/dev/null
cmake --build build-4 -j"$(nproc)"
cd build-4
WEC_SYSLOG_NG_PREFIX="$prefix" ctest --output-on-failure --timeout 1500 -R integration/ "$@"
