#!/usr/bin/env bash
# Builds syslog-ng 4.11 from the upstream snapshot in ../shared/vendor into a cache directory
# outside the clone (once; later runs reuse it) and prints its prefix. Exit status 3 when the
# tarball is absent. Usage: tools/build-syslog-ng-4.sh [tarball]
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=${1:-${WEC_SYSLOGNG4_TARBALL:-../shared/vendor/syslog-ng-4.11.0.tar.gz}}
cache=${WEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/windowsevent}
prefix=$cache/syslog-ng-4.11
[ -f "$tarball" ] || exit 3
if [ -x "$prefix/sbin/syslog-ng" ] && [ -f "$prefix/lib/pkgconfig/syslog-ng.pc" ]; then
  echo "$prefix"
  exit 0
fi

packages=(autoconf automake libtool autoconf-archive bison flex gperf pkg-config libglib2.0-dev
          libivykis-dev libjson-c-dev libpcre2-dev libssl-dev libcap-dev libxml2-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

work=$cache/src
rm -rf "$work" && mkdir -p "$work"
tar -xzf "$tarball" -C "$work"
cd "$work"/syslog-ng-4.11*
log=$cache/build.log
echo "building syslog-ng 4.11 into $prefix (log: $log)" >&2
{
  skip_submodules=1 ./autogen.sh
  ./configure --prefix="$prefix" --with-ivykis=system --disable-all-modules \
    --enable-json --enable-xml --enable-cpp --disable-java --disable-python
  make -j"$(nproc)"
  make install
} >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
rm -rf "$work"
echo "$prefix"
