#!/usr/bin/env bash
# The demo: builds everything, starts the real syslog-ng with windowsevent() on a built-in
# configuration (HTTPS with client certificates on 127.0.0.1), lets three simulated Windows
# forwarders push real events to it, and shows what arrived.
#
#   bash tools/demo.sh [EVENTS_PER_MACHINE]        (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
events_per_machine=${1:-2000}

bash tools/install-deps.sh
bash tools/build.sh

work=$repo/var/demo
rm -rf "$work"
mkdir -p "$work"
machines=(win01.corp.example win02.corp.example win03.corp.example)

echo "== certificates (tools/wec-certs.sh)"
client_args=()
for m in "${machines[@]}"; do client_args+=(--client "$m"); done
bash tools/wec-certs.sh "$work/pki" --server-name localhost --server-ip 127.0.0.1 --key-type ec --quiet \
  "${client_args[@]}"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/syslog-ng.conf" <<CONF
@version: 3.38

# windowsevent(): a Windows Event Collector inside syslog-ng.
source s_wec {
  windowsevent(
    ip("127.0.0.1") port($port) hostname("localhost")
    tls(key-file("$work/pki/server.key") cert-file("$work/pki/server.crt") ca-dir("$work/pki/ca.d"))
    subscription(
      name("security")
      computers("*.corp.example")
      query("<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>")
    )
    log-iw-size(10000)
  );
};

destination d_json { file("$work/windows.json" template("\$(format-json --scope dot-nv-pairs --key HOST --key PROGRAM --key ISODATE --key LEVEL)\n")); };
log { source(s_wec); destination(d_json); flags(flow-control); };
CONF

echo "== starting syslog-ng with the built module on https://127.0.0.1:$port"
/usr/sbin/syslog-ng -F --no-caps -e --module-path="$repo/build/modules:/usr/lib/syslog-ng/3.38" \
  -f "$work/syslog-ng.conf" -R "$work/syslog-ng.persist" -p "$work/syslog-ng.pid" -c "$work/syslog-ng.ctl" \
  2> "$work/internal.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  kill -0 $daemon 2>/dev/null || { cat "$work/internal.log"; exit 1; }
  sleep 0.1
done

echo "== ${#machines[@]} simulated Windows forwarders send $events_per_machine real events each"
/usr/bin/python3 tests/simulator/wef_forwarder.py \
  --url "https://localhost:$port/wsman/SubscriptionManager/WEC" --ca "$work/pki/ca-bundle.crt" \
  --cert-pattern "$work/pki/clients/{machine}.crt" --key-pattern "$work/pki/clients/{machine}.key" \
  $(for m in "${machines[@]}"; do echo --machine "$m"; done) \
  --events tests/data/events-permissive.xml --total-events "$events_per_machine" --retry-interval 1 -q \
  > "$work/simulator.json"

expected=$(( ${#machines[@]} * events_per_machine ))
for _ in $(seq 1 100); do
  [ "$(wc -l < "$work/windows.json" 2>/dev/null || echo 0)" -ge "$expected" ] && break
  sleep 0.1
done

echo
echo "== syslog-ng's log"
grep windowsevent "$work/internal.log" || true
echo
echo "== one event as it arrived ($work/windows.json)"
grep '"EventID":"4624"' "$work/windows.json" | head -n 1 | /usr/bin/python3 -m json.tool --no-ensure-ascii | head -n 60 || true
echo
echo "== events per forwarder (expected $events_per_machine each)"
/usr/bin/python3 - "$work/windows.json" <<'PY'
import collections, json, sys
counts = collections.Counter()
records = collections.defaultdict(set)
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    identity = r["_wec"]["identity"]
    counts[identity] += 1
    records[identity].add(r["_windowsevent"]["Event"]["System"]["EventRecordID"])
for identity in sorted(counts):
    print(f"{identity}: {counts[identity]} events, {len(records[identity])} distinct EventRecordIDs")
PY
