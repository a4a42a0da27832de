#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build windowsevent() and run its tests and demo.
# Quick when everything is already there; needs root (apt-get) otherwise.
set -euo pipefail

packages=(
  g++ cmake make pkg-config bison python3 python3-pytest openssl dpkg-dev
  clang-format  # tests: the code follows .clang-format
  syslog-ng-core syslog-ng-dev
  libglib2.0-dev libxml2-dev libssl-dev zlib1g-dev
  libmicrohttpd-dev libgnutls28-dev libkrb5-dev
  libhiredis-dev  # bookmarks(redis(...)) and wec-bookmarks
  libsqlite3-dev nlohmann-json3-dev  # wec-bookmarks: OpenWEC's database, JSON
  libcriterion-dev
  # tests: a throwaway MIT KDC, the Kerberos forwarder simulator, clock-skew provocation
  krb5-kdc krb5-admin-server krb5-user python3-gssapi faketime
  # tests: real Redis servers and Sentinels (redis-cli comes along), a real TCP balancer
  redis-server redis-tools haproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
