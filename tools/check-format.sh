#!/usr/bin/env bash
# Checks that the C and C++ sources follow .clang-format (clang-format 14, Debian 12's: other
# versions format some constructs differently, so they skip with exit 77).
#
#   bash tools/check-format.sh          report files that differ (exit 1)
#   bash tools/check-format.sh --fix    format them in place
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(clang-format --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
  echo "SKIPPED: the style check needs clang-format 14, found '${version:-none}'" >&2
  exit 77
fi

# cpp-start.h / cpp-end.h open and close an extern "C" block around syslog-ng's headers.
mapfile -t files < <(find modules wec-source xml-parser tests tools -type f \
  \( -name '*.cpp' -o -name '*.hpp' -o -name '*.c' -o -name '*.h' \) \
  ! -name cpp-start.h ! -name cpp-end.h ! -path 'tests/fuzz/corpus/*' | sort)

if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/dev/null; then
  echo "not formatted as .clang-format says (fix: bash tools/check-format.sh --fix):" >&2
  for f in "${files[@]}"; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f" >&2
  done
  exit 1
fi
echo "${#files[@]} files follow .clang-format"
