#!/usr/bin/env bash
# One long run of the real syslog-ng with windowsevent() under valgrind (memcheck, leaks and
# file descriptors), driven by the forwarder simulator, then a summary of what valgrind found.
#
#   bash tools/valgrind-run.sh [BUILD_DIR]          (default build/; the module is BUILD_DIR/modules)
#
# Environment: EVENTS (per machine, default 20000), MACHINES (default 3), WORK (default
# var/valgrind-run). Needs valgrind, openssl and /usr/bin/python3; runs on loopback only.
#
# What it does:
#   1. makes a throw-away PKI (tools/wec-certs.sh) and a configuration: windowsevent() on
#      127.0.0.1 → JSON file, flags(flow-control);
#   2. starts /usr/sbin/syslog-ng under valgrind --leak-check=full
#      --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite --track-fds=yes
#      --num-callers=30;
#   3. MACHINES simulated forwarders send EVENTS events each; meanwhile bad requests: an
#      identity no subscription allows (403), malformed and oversized bodies (400, 413), an
#      unknown subscription (404), handshakes refused (unknown CA, expired, no certificate),
#      a batch whose connection closes before its Ack, a request cut in the middle of its body;
#      one `syslog-ng-ctl reload` mid-stream (the old driver is torn down while acknowledgements
#      are in flight; the forwarders resume from their stored bookmarks);
#   4. stops syslog-ng with SIGTERM, waits for valgrind's report;
#   5. prints: events per machine, valgrind's error and leak summary, the loss records whose
#      stacks go through the module (libwindowsevent.so, wec::, windowsevent_*) in full, the
#      other loss records (syslog-ng, glib, gnutls, ... at exit) one line each, and the file
#      descriptors open at exit.
# Exit status: 0 when the module has no definitely/indirectly lost block and no memcheck error,
# 1 otherwise, 2 when the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build=${1:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
module_dir=$build/modules
events=${EVENTS:-20000}
machine_count=${MACHINES:-3}
work=${WORK:-$repo/var/valgrind-run}
python=/usr/bin/python3

[ -f "$module_dir/libwindowsevent.so" ] || { echo "valgrind-run: no $module_dir/libwindowsevent.so; build first" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind-run: valgrind is not installed" >&2; exit 2; }

rm -rf "$work"
mkdir -p "$work"
machines=()
for n in $(seq 1 "$machine_count"); do machines+=("$(printf 'win%02d.corp.example' "$n")"); done
extra=win99.corp.example   # its batches are the ones cut short: its bookmark never meets the real streams

echo "== certificates"
client_args=()
for m in "${machines[@]}" "$extra" intruder.other.example; do client_args+=(--client "$m"); done
bash tools/wec-certs.sh "$work/pki" --server-name localhost --server-ip 127.0.0.1 --key-type ec --quiet \
  --other-ca --expired-client expired.corp.example "${client_args[@]}" > "$work/pki.txt"

port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/syslog-ng.conf" <<CONF
@version: 3.38
options { stats-freq(0); keep-hostname(yes); };
source s_wec {
  windowsevent(
    ip("127.0.0.1") port($port) hostname("localhost")
    tls(key-file("$work/pki/server.key") cert-file("$work/pki/server.crt") ca-dir("$work/pki/ca.d"))
    subscription(name("security") computers("*.corp.example")
                 query("<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>"))
    log-iw-size(2000) commit-timeout(120)
  );
};
destination d_json { file("$work/events.json" template("\$(format-json --scope dot-nv-pairs)\n")); };
log { source(s_wec); destination(d_json); flags(flow-control); };
CONF

echo "== syslog-ng under valgrind on https://127.0.0.1:$port (log: $work/valgrind.log)"
started=$(date +%s)
G_SLICE=always-malloc G_DEBUG=gc-friendly \
valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite \
  --track-fds=yes --num-callers=30 --log-file="$work/valgrind.log" \
  /usr/sbin/syslog-ng -F --no-caps -e --module-path="$module_dir:/usr/lib/syslog-ng/3.38" \
  -f "$work/syslog-ng.conf" -R "$work/syslog-ng.persist" -p "$work/syslog-ng.pid" -c "$work/syslog-ng.ctl" \
  > "$work/internal.log" 2>&1 &
daemon=$!
stop_daemon() {
  if kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$daemon" 2>/dev/null && { echo "valgrind-run: syslog-ng did not stop in 120 s, killing it" >&2; kill -KILL "$daemon"; }
  fi
  wait "$daemon" 2>/dev/null || true
}
trap stop_daemon EXIT
up=0
for _ in $(seq 1 1800); do
  if $python -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then up=1; break; fi
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "valgrind-run: syslog-ng did not start listening" >&2
  tail -n 30 "$work/internal.log" "$work/valgrind.log" >&2
  exit 2
fi
echo "   listening after $(( $(date +%s) - started )) s"

echo "== ${#machines[@]} forwarders × $events events, and bad requests meanwhile"
machine_args=()
for m in "${machines[@]}"; do machine_args+=(--machine "$m"); done
$python tests/simulator/wef_forwarder.py \
  --url "https://localhost:$port/wsman/SubscriptionManager/WEC" --ca "$work/pki/ca-bundle.crt" \
  --cert-pattern "$work/pki/clients/{machine}.crt" --key-pattern "$work/pki/clients/{machine}.key" \
  "${machine_args[@]}" --events tests/data/events-permissive.xml --total-events "$events" \
  --retry-interval 2 --max-retries 60 --timeout 300 --deadline 3000 -q > "$work/simulator.json" &
forwarders=$!

$python - "$port" "$work/pki" "$extra" "$work/syslog-ng.ctl" > "$work/bad-requests.txt" 2>&1 <<'PY' &
import os, socket, ssl, subprocess, sys, time
sys.path.insert(0, "tests/simulator")
import wef_forwarder as wef

port, pki, extra, control = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
url = f"https://localhost:{port}/wsman/SubscriptionManager/WEC"
ca = f"{pki}/ca-bundle.crt"
def cert(name): return f"{pki}/clients/{name}.crt", f"{pki}/clients/{name}.key"
def fw(name, **kw): return wef.Forwarder(url, *cert(name), ca, name, timeout=120, **kw)
def report(what, outcome): print(f"{what}: {outcome}", flush=True)

def tls_refused(what, crt=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    if crt:
        ctx.load_cert_chain(crt, key)
    try:
        with socket.create_connection(("127.0.0.1", port), 10) as raw, \
             ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            data = s.recv(100)   # TLS 1.3: the server's refusal arrives after the client's Finished
            report(what, "refused (closed after the handshake)" if not data else f"NOT refused: {data[:40]!r}")
    except (ssl.SSLError, OSError) as e:
        report(what, f"refused ({type(e).__name__})")

def raw_tls(name):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(*cert(name))
    raw = socket.create_connection(("127.0.0.1", port), 10)
    return ctx.wrap_socket(raw, server_hostname="localhost")

def attempt(what, fn):
    try:
        report(what, fn())
    except Exception as e:   # an answer that ends the connection early is an outcome too
        report(what, f"{type(e).__name__}: {e}")

def cut_batches(round_):
    with fw(extra) as f:
        status, subs, _ = f.enumerate()
        f.end()
    if status != 200 or not subs:
        return f"enumerate: {status}"
    sub = subs[0]
    events = open("tests/data/events-permissive.xml", encoding="utf-8").read().splitlines()[:50]
    body = wef.encode_body(wef.build_events(sub.notify_to, extra, events,
                                            wef.format_bookmark("Security", 50 * (round_ + 1)),
                                            reference_headers=sub.reference_headers))
    path = "/" + sub.notify_to.split("://", 1)[1].split("/", 1)[1]
    head = (f"POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/soap+xml;"
            f"charset=UTF-16\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with raw_tls(extra) as s:        # the whole batch, then the connection closes before its Ack
        s.sendall(head + body)
    with raw_tls(extra) as s:        # a third of the body, then the connection closes
        s.sendall(head + body[: len(body) // 3])
    return "sent"

for round_ in range(3):
    time.sleep(5)
    attempt("403 identity", lambda: fw("intruder.other.example").enumerate()[0])
    attempt("malformed XML", lambda: fw("win01.corp.example").raw_post(
        "/wsman/SubscriptionManager/WEC", wef.encode_body("<s:Envelope><s:Header>"))[0])
    attempt("not XML", lambda: fw("win01.corp.example").raw_post(
        "/wsman/SubscriptionManager/WEC", b"\x00\x01garbage" * 100)[0])
    attempt("oversized body", lambda: fw("win01.corp.example").raw_post(
        "/wsman/SubscriptionManager/WEC", b"<" * (1300 * 1024))[0])
    unknown = f"https://localhost:{port}/wsman/subscriptions/0BADF00D-0000-0000-0000-000000000000"
    attempt("unknown subscription", lambda: fw("win01.corp.example").raw_post(
        unknown, wef.encode_body(wef.build_heartbeat(unknown, "win01.corp.example")))[0])
    tls_refused("handshake, unknown CA", f"{pki}/clients/win01.corp.example-foreign.crt",
                f"{pki}/clients/win01.corp.example-foreign.key")
    tls_refused("handshake, expired certificate", f"{pki}/clients/expired.corp.example-expired.crt",
                f"{pki}/clients/expired.corp.example-expired.key")
    tls_refused("handshake, no certificate")
    attempt("batch with its connection closed before the Ack, and one cut mid-body", lambda: cut_batches(round_))
    if round_ == 1:
        attempt("syslog-ng-ctl reload", lambda: subprocess.run(["syslog-ng-ctl", "reload", "-c", control],
                                                                capture_output=True, text=True, timeout=300).stdout.strip())
PY
bad=$!

set +e
wait "$forwarders"; fw_status=$?
wait "$bad"; bad_status=$?
set -e
expected=$(( ${#machines[@]} * events ))
for _ in $(seq 1 600); do
  got=$($python -c "import sys; print(sum(1 for l in open('$work/events.json','rb') if b'\"identity\":\"win99' not in l))" 2>/dev/null || echo 0)
  [ "$got" -ge "$expected" ] && break
  sleep 0.5
done
drive_seconds=$(( $(date +%s) - started ))

echo "== stopping syslog-ng (SIGTERM) and waiting for valgrind's report"
stop_daemon
trap - EXIT
[ "$fw_status" = 0 ] || echo "valgrind-run: the simulator reported failures (exit $fw_status), see $work/simulator.json" >&2
[ "$bad_status" = 0 ] || echo "valgrind-run: the bad-request driver failed (exit $bad_status), see $work/bad-requests.txt" >&2

$python - "$work" "$expected" "$drive_seconds" "$fw_status" <<'PY'
import collections, json, re, sys
work, expected, seconds, fw_status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

counts, distinct = collections.Counter(), collections.defaultdict(set)
with open(f"{work}/events.json", encoding="utf-8", errors="replace") as f:
    for line in f:
        try:
            r = json.loads(line)
        except ValueError:
            counts["(unparsable line)"] += 1
            continue
        ident = r.get("_wec", {}).get("identity")
        counts[ident] += 1
        distinct[ident].add(r.get("_windowsevent", {}).get("Event", {}).get("System", {}).get("EventRecordID"))
print(f"\n== delivery ({seconds} s under valgrind)")
for ident in sorted(counts, key=str):
    print(f"  {ident}: {counts[ident]} events, {len(distinct[ident])} distinct EventRecordIDs")
internal = open(f"{work}/internal.log", encoding="utf-8", errors="replace").read()
print("  syslog-ng's windowsevent messages:")
for message, n in collections.Counter(re.findall(r"(windowsevent: [^;\n]*)", internal)).most_common():
    print(f"    {n:6d}  {message}")
print("  bad requests:")
for line in open(f"{work}/bad-requests.txt", encoding="utf-8", errors="replace"):
    print("    " + line.rstrip())

text = open(f"{work}/valgrind.log", encoding="utf-8", errors="replace").read()
lines = [re.sub(r"^==\d+== ?", "", l) for l in text.splitlines() if re.match(r"^==\d+==", l)]
blocks, cur = [], []
for l in lines:
    if l.strip() == "":
        if cur:
            blocks.append(cur)
        cur = []
    else:
        cur.append(l)
if cur:
    blocks.append(cur)

def module_frames(block):
    return [l.strip() for l in block[1:] if re.search(r"libwindowsevent\.so|wec::|windowsevent_|\bwec_", l)]

def frame_name(l):
    m = re.match(r"\s*(?:at|by) 0x[0-9A-F]+: (.*)", l)
    return m.group(1) if m else l.strip()

# Loss records that pass through the module but are syslog-ng's own per-thread state: listed
# apart, with the reason, and not counted against the module.
KNOWN = [
    (re.compile(r"cached_localtime"),
     "syslog-ng 3.38 lib/timeutils/cache.c keeps g_strdup()ed tzname copies in thread-local state and "
     "never frees them when a thread ends: 2 small strings per thread that creates a LogMessage "
     "(here the source's worker thread, one per start or reload)"),
]

def known_reason(block):
    for pattern, reason in KNOWN:
        if any(pattern.search(l) for l in block[1:]):
            return reason
    return None

leak_re = re.compile(r"([\d,]+) (?:\(([\d,]+) direct, ([\d,]+) indirect\) )?bytes in ([\d,]+) blocks are (definitely|indirectly) lost")
module_leaks, known_leaks, other_leaks, module_errors, other_errors, fds = [], [], [], [], [], []
for b in blocks:
    head = b[0]
    if leak_re.search(head):
        if module_frames(b) and known_reason(b):
            known_leaks.append(b)
        else:
            (module_leaks if module_frames(b) else other_leaks).append(b)
    elif re.match(r"(Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination|Argument|Jump to)", head):
        (module_errors if module_frames(b) else other_errors).append(b)
    elif re.match(r"Open (file descriptor|AF_\w+ socket)", head):
        fds.append(b)

def summary_value(label):
    m = re.search(label + r": ([\d,]+) bytes in ([\d,]+) blocks", text)
    return (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) if m else (None, None)

def total(blocks_):
    t = 0
    for b in blocks_:
        m = leak_re.search(b[0])
        t += int(m.group(1).replace(",", ""))
    return t

print("\n== valgrind")
m = re.search(r"ERROR SUMMARY: .*", text)
print("  " + (m.group(0) if m else "no ERROR SUMMARY (did valgrind finish?)"))
for label in ("definitely lost", "indirectly lost", "possibly lost", "still reachable"):
    size, count = summary_value(label)
    print(f"  {label}: {size} bytes in {count} blocks" if size is not None else f"  {label}: -")
m = re.search(r"FILE DESCRIPTORS: .*", text)
print("  " + (m.group(0) if m else "FILE DESCRIPTORS: -"))

print(f"\n== loss records through the module (libwindowsevent.so / wec::): {len(module_leaks)}, "
      f"{total(module_leaks)} bytes")
for b in module_leaks:
    print("  " + b[0])
    for l in b[1:]:
        print("      " + l.strip())
print(f"\n== loss records through the module that are syslog-ng's own per-thread state: {len(known_leaks)}, "
      f"{total(known_leaks)} bytes")
for b in known_leaks:
    frames = [frame_name(l) for l in b[1:] if re.match(r"\s*(at|by) 0x", l)]
    print(f"  {b[0]}\n      " + " <- ".join(frames[2:7]) + "\n      why: " + known_reason(b))
print(f"\n== memcheck errors through the module: {len(module_errors)}")
for b in module_errors:
    print("  " + b[0])
    for l in b[1:]:
        print("      " + l.strip())
print(f"\n== other loss records (syslog-ng, glib, gnutls, ... at exit): {len(other_leaks)}, "
      f"{total(other_leaks)} bytes")
for b in other_leaks:
    frames = [frame_name(l) for l in b[1:] if re.match(r"\s*(at|by) 0x", l)]
    interesting = [f for f in frames if not re.match(r"(malloc|calloc|realloc|g_malloc|g_malloc0|g_realloc|operator new)", f)]
    print(f"  {b[0]}\n      " + " <- ".join(interesting[:4]))
print(f"\n== other memcheck errors: {len(other_errors)}")
for b in other_errors:
    frames = [frame_name(l) for l in b[1:] if re.match(r"\s*(at|by) 0x", l)]
    print(f"  {b[0]}\n      " + " <- ".join(frames[:4]))
print(f"\n== file descriptors open at exit: {len(fds)}")
for b in fds:
    frames = [frame_name(l) for l in b[1:] if re.match(r"\s*(at|by) 0x", l)]
    owner = "module" if module_frames(b) else "other"
    print(f"  [{owner}] {b[0]}" + ("\n      " + " <- ".join(frames[:5]) if frames else ""))

delivered = sum(len(v) for k, v in distinct.items() if k and not str(k).startswith("win99"))
ok = not module_leaks and not module_errors and not [b for b in fds if module_frames(b)]
print(f"\n== result: module {'clean' if ok else 'NOT clean'}; {delivered}/{expected} distinct events delivered; "
      f"simulator exit {fw_status}")
sys.exit(0 if ok and delivered >= expected and fw_status == 0 else 1)
PY
