"""Faults around the real syslog-ng with windowsevent(): the destination goes away for 30 s,
the configuration is reloaded twice mid-stream, the persist file's filesystem is full. In every
case no event that a forwarder saw acknowledged is lost: the output is counted by
(machine, subscription, EventRecordID); duplicates are allowed, counted and printed.
(kill -9 mid-stream is in test_end_to_end.py.)"""
import collections
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import wef_forwarder as wef
from wec_harness import (CORPUS, LineReceiver, SyslogNg, control, event_field, json_file_config, read_json_lines,
                         subscription_block, wait_for_lines, wait_for_port, windowsevent_source)

MACHINES = ["win01.corp.example", "win02.corp.example", "win03.corp.example"]
SYSTEM_QUERY = "<QueryList><Query Id='0'><Select Path='System'>*</Select></Query></QueryList>"
JSON_TEMPLATE = "$(format-json --scope dot-nv-pairs)\\n"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

class AckLog:
    """What the forwarders saw acknowledged: (time, machine, subscription, first, last) per Ack."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acks = []

    def __call__(self, machine, sub, first, last):
        with self.lock:
            self.acks.append((time.monotonic(), machine, sub.name, first, last))

    def snapshot(self):
        with self.lock:
            return list(self.acks)

    def acked_keys(self):
        return {(m, s, seq) for _, m, s, first, last in self.snapshot() for seq in range(first, last + 1)}

    def count(self):
        return sum(last - first + 1 for _, _, _, first, last in self.snapshot())

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count()

    def between(self, start, end, machines=None):
        return [a for a in self.snapshot() if start <= a[0] <= end and (machines is None or a[1] in machines)]

    def went_back(self):
        """Acks whose first event lies at or before an event the same stream already had
        acknowledged: the stream restarted from an older position than its last Ack."""
        last = {}
        back = []
        for _, m, s, first, end in self.snapshot():
            if (m, s) in last and first <= last[(m, s)]:
                back.append((m, s, first, last[(m, s)]))
            last[(m, s)] = max(last.get((m, s), 0), end)
        return back


def run_forwarders(certs, port, machines, total, acks, events=None, **options):
    pki = certs["dir"]
    options.setdefault("deadline", 200)
    return wef.run_machines(
        f"https://localhost:{port}/wsman/SubscriptionManager/WEC", machines, str(pki / "ca-bundle.crt"),
        cert_pattern=str(pki / "clients" / "{machine}.crt"), key_pattern=str(pki / "clients" / "{machine}.key"),
        events=events or str(CORPUS), total_events=total, batch_size=250, issuer_ca=str(pki / "client-ca.crt"),
        on_ack=acks, **options)


def start_forwarders(*args, **kwargs):
    """run_forwarders in a thread; returns (thread, outcome dict with 'results')."""
    outcome = {}

    def body():
        try:
            outcome["results"] = run_forwarders(*args, **kwargs)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def record_key(record):
    wec = record.get("_wec", {})
    seq = event_field(record, "System", "EventRecordID")
    return wec.get("identity"), wec.get("subscription"), int(seq) if seq is not None else None


def tally(records, machines, subscriptions, total, acked):
    """(counts per key, missing keys, acked-but-missing keys, duplicates)."""
    counts = collections.Counter(record_key(r) for r in records)
    expected = {(m, s, seq) for m in machines for s in subscriptions for seq in range(1, total + 1)}
    missing = sorted(expected - set(counts))
    lost_acked = sorted(acked - set(counts))
    duplicates = sum(n - 1 for key, n in counts.items() if n > 1)
    return counts, missing, lost_acked, duplicates


def assert_forwarders_ok(outcome, streams_per_machine, total):
    assert "error" not in outcome, outcome.get("error")
    results = outcome["results"]
    for r in results:
        assert r.ok, f"{r.machine}: {r.error}"
        assert len(r.streams) == streams_per_machine
        for s in r.streams:
            assert s.last_seq == total, (r.machine, s.subscription, s.last_seq)
    return results


def statuses(results, machines=None):
    total = collections.Counter()
    for r in results:
        if machines is None or r.machine in machines:
            for s in r.streams:
                total.update({int(k): v for k, v in s.statuses.items()})
    return total


class RssSampler:
    """Samples a process' VmRSS (KiB) once per second in a thread."""

    def __init__(self, pid, interval=1.0):
        self.pid = pid
        self.interval = interval
        self.samples = []  # (monotonic time, KiB)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def read(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def _run(self):
        while not self._stop.is_set():
            value = self.read()
            if value is not None:
                self.samples.append((time.monotonic(), value))
            self._stop.wait(self.interval)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        self.thread.join(5)

    def peak_since(self, since):
        values = [kib for t, kib in self.samples if t >= since]
        return max(values) if values else 0


class CuttableReceiver(LineReceiver):
    """LineReceiver whose outage can start without losing what syslog-ng already counts as
    delivered.

    A network() destination acknowledges a message once write() took all of it. Bytes that
    sit in the receiver's socket buffer, or that syslog-ng writes into a socket the receiver
    has just closed with a FIN, are acknowledged although no reader ever sees them: that is
    TCP, not the collector. cut() therefore freezes syslog-ng (SIGSTOP), reads everything
    already written (the kernel still moves syslog-ng's send queue while it is stopped), closes
    the connection with a RST (so syslog-ng's next write fails instead of succeeding into a
    dead socket) and the listening socket, and lets syslog-ng run again (SIGCONT)."""

    def __init__(self, port=None):
        super().__init__(port)
        self._cut = threading.Event()
        self._cut_done = threading.Event()
        self.connections = 0

    def _serve(self):
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and not self._cut.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(0.2)
            buffer = b""
            try:
                while not self._stop.is_set() and time.monotonic() < deadline:
                    if self._cut.is_set():
                        silent_since = time.monotonic()
                        while time.monotonic() - silent_since < 0.5:
                            try:
                                chunk = conn.recv(65536)
                            except socket.timeout:
                                continue
                            except OSError:
                                break
                            if not chunk:
                                break
                            silent_since = time.monotonic()
                            buffer += chunk
                            *complete, buffer = buffer.split(b"\n")
                            self.lines.extend(line.decode("utf-8", "replace") for line in complete)
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        break
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not chunk:
                        break
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    self.lines.extend(line.decode("utf-8", "replace") for line in complete)
            finally:
                conn.close()
        self.server.close()
        self._cut_done.set()

    def cut(self, pid):
        os.kill(pid, signal.SIGSTOP)
        try:
            self._cut.set()
            assert self._cut_done.wait(20), "receiver did not stop"
            self.thread.join(5)
        finally:
            os.kill(pid, signal.SIGCONT)


def count_lines(text, needle):
    return sum(1 for line in text.splitlines() if needle in line)


# ---------------------------------------------------------------------------------------------
# destination down for 30 s
# ---------------------------------------------------------------------------------------------

OUTAGE_SECONDS = 30
OUTAGE_EVENTS = 2500   # per stream; 3 streams
OUTAGE_WINDOW = 500
# Peak RSS allowed above the RSS measured just before the outage. What the collector may hold
# while the destination is down is bounded by design: log-iw-size() = 500 LogMessages inside
# syslog-ng (a ~1.2 KB event with its name-value pairs: a few KiB each, ~2 MiB), at most one
# suspended batch per forwarder connection (≤ 512 kB of UTF-16 envelope, its UTF-8 copy and the
# parsed events: < 2 MiB each, 3 forwarders) and the TLS sessions: < 10 MiB together; measured
# ~5 MiB. 32 MiB is three times the estimate: room for malloc arenas and fragmentation, but
# memory that grows with the outage's length or with the forwarders' retries (a kept request,
# connection or 503'd batch, events posted past the window) fails it within a few retries of
# ~0.5 MB each per forwarder. Small per-request leaks are valgrind's job (tools/valgrind-run.sh).
RSS_HEADROOM_KIB = 32 * 1024


def test_destination_down_30s_acks_stop_memory_bounded_and_delivery_completes(tmp_path, certs, port):
    receiver = CuttableReceiver().start()
    destination = (f'network("127.0.0.1" port({receiver.port}) transport(tcp) time-reopen(1) '
                   f'template("{JSON_TEMPLATE}"))')
    source = windowsevent_source(port, certs["dir"], [subscription_block("security", ["*.corp.example"])],
                                 extra=f"log-iw-size({OUTAGE_WINDOW}) commit-timeout(10)")
    daemon = SyslogNg(tmp_path / "s", json_file_config(source, None, destination=destination))
    daemon.start(port=port)
    sampler = RssSampler(daemon.proc.pid).start()
    acks = AckLog()
    receivers = [receiver]
    total = len(MACHINES) * OUTAGE_EVENTS
    try:
        sender, outcome = start_forwarders(certs, port, MACHINES, OUTAGE_EVENTS, acks,
                                           retry_interval=1.0, max_retries=200, timeout=60)
        deadline = time.monotonic() + 120
        while len(receiver.lines) < total // 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(receiver.lines) >= total // 4, "the stream did not start"
        baseline = sampler.read()

        cut_at = time.monotonic()
        receiver.cut(daemon.proc.pid)
        delivered_before = len(receiver.lines)
        time.sleep(OUTAGE_SECONDS)
        assert daemon.alive()
        restart_at = time.monotonic()
        acks_during = acks.between(cut_at + 3, restart_at)
        # the receiver comes back on the same port
        receiver = CuttableReceiver(port=receiver.port).start()
        receivers.append(receiver)

        sender.join(150)
        assert not sender.is_alive(), "forwarders did not finish"
        results = assert_forwarders_ok(outcome, 1, OUTAGE_EVENTS)
        acked = acks.acked_keys()
        expected = {(m, "security", seq) for m in MACHINES for seq in range(1, OUTAGE_EVENTS + 1)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = {record_key(json.loads(line)) for r in receivers for line in list(r.lines)}
            if expected <= got:
                break
            time.sleep(0.5)
        peak = sampler.peak_since(cut_at)
    finally:
        sampler.stop()
        daemon.stop()
        for r in receivers:
            r.stop()

    records = [json.loads(line) for r in receivers for line in r.lines]
    counts, missing, lost_acked, duplicates = tally(records, MACHINES, ["security"], OUTAGE_EVENTS, acked)
    st = statuses(results)
    per_stream_503 = {(r.machine, s.subscription): s.statuses.get(503, 0) + s.statuses.get("503", 0)
                      for r in results for s in r.streams}
    reconnects = count_lines(daemon.internal_log(), "Syslog connection established")
    print(f"\ndestination down {OUTAGE_SECONDS}s: delivered before the cut {delivered_before}/{total}, "
          f"records {len(records)}, duplicates {duplicates}, statuses {dict(st)}, 503 per stream {per_stream_503}, "
          f"acks during the outage {len(acks_during)}, RSS baseline {baseline} KiB, peak {peak} KiB "
          f"(+{(peak - baseline) / 1024:.1f} MiB), destination connections {reconnects}")
    assert not lost_acked, f"{len(lost_acked)} acknowledged events lost, first: {lost_acked[:5]}"
    assert not missing, f"{len(missing)} events never arrived, first: {missing[:5]}"
    assert not acks_during, f"Acks while the destination was down: {acks_during[:3]}"
    assert all(n >= 1 for n in per_stream_503.values()), per_stream_503
    assert "not acknowledged by the destinations in time" in daemon.internal_log()
    assert peak < baseline + RSS_HEADROOM_KIB, f"RSS peak {peak} KiB, baseline {baseline} KiB"


# ---------------------------------------------------------------------------------------------
# syslog-ng-ctl reload, twice, mid-stream
# ---------------------------------------------------------------------------------------------

RELOAD_EVENTS = 2000   # per stream; 3 machines × 2 subscriptions


def wait_for_reload(daemon, port, reloads_before, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = daemon.internal_log()
        if count_lines(log, "Configuration reload finished") > reloads_before:
            break
        if "Error initializing new configuration" in log:
            raise AssertionError("reload failed:\n" + log[-3000:])
        time.sleep(0.1)
    else:
        raise AssertionError("reload did not finish:\n" + daemon.internal_log()[-3000:])
    wait_for_port(port, 20, daemon)


def test_reload_twice_mid_stream_keeps_bookmarks_and_loses_nothing(tmp_path, certs, port):
    subscriptions = [subscription_block("security", ["*.corp.example"]),
                     subscription_block("system", ["win0?.corp.example"], query=SYSTEM_QUERY)]
    output = tmp_path / "events.json"
    source = windowsevent_source(port, certs["dir"], subscriptions, extra="log-iw-size(2000)")
    daemon = SyslogNg(tmp_path / "s", json_file_config(source, output))
    daemon.start(port=port)
    acks = AckLog()
    total = len(MACHINES) * 2 * RELOAD_EVENTS
    acked_at_reload = []
    try:
        sender, outcome = start_forwarders(certs, port, MACHINES, RELOAD_EVENTS, acks,
                                           retry_interval=0.5, max_retries=120)
        threshold = total // 4
        for _ in range(2):
            # the second reload comes once the stream has clearly resumed after the first one
            assert acks.wait_for(threshold, 120) >= threshold
            assert sender.is_alive(), "the stream ended before the reload"
            reloads = count_lines(daemon.internal_log(), "Configuration reload finished")
            acked_at_reload.append(acks.count())
            # syslog-ng-ctl may get no answer while the daemon is busy with the stream: retry
            answer = ""
            for _ in range(5):
                answer = control(daemon, "reload")
                if answer or count_lines(daemon.internal_log(), "Configuration reload finished") > reloads:
                    break
                time.sleep(1)
            assert "reload successful" in answer or \
                count_lines(daemon.internal_log(), "Configuration reload finished") > reloads, answer
            wait_for_reload(daemon, port, reloads)
            assert daemon.alive()
            threshold = acks.count() + total // 6
        sender.join(150)
        assert not sender.is_alive(), "forwarders did not finish"
        results = assert_forwarders_ok(outcome, 2, RELOAD_EVENTS)
        wait_for_lines(output, total, 60)
        # the connections still work after the second reload: a fresh enumeration is served
        # and offers every machine its stored position
        pki = certs["dir"]
        with wef.Forwarder(f"https://localhost:{port}/wsman/SubscriptionManager/WEC",
                           str(pki / "clients" / "win01.corp.example.crt"),
                           str(pki / "clients" / "win01.corp.example.key"),
                           str(pki / "ca-bundle.crt"), "win01.corp.example") as f:
            status, subs, _ = f.enumerate()
            assert status == 200
            assert sorted(s.start_seq for s in subs) == [RELOAD_EVENTS + 1] * 2
        log = daemon.internal_log()
    finally:
        daemon.stop()

    acked = acks.acked_keys()
    counts, missing, lost_acked, duplicates = tally(read_json_lines(output), MACHINES, ["security", "system"],
                                                    RELOAD_EVENTS, acked)
    resumed = {(r.machine, s.subscription): s.start_seqs for r in results for s in r.streams}
    went_back = acks.went_back()
    print(f"\nreload ×2: events acknowledged at the reloads {acked_at_reload} of {total}, duplicates {duplicates}, "
          f"statuses {dict(statuses(results))}, stream start positions {resumed}, "
          f"503 answers at reload {count_lines(log, 'answered 503 to waiting batches')}")
    assert not lost_acked, f"{len(lost_acked)} acknowledged events lost, first: {lost_acked[:5]}"
    assert not missing, f"{len(missing)} events never arrived, first: {missing[:5]}"
    assert count_lines(log, "Configuration reload finished") == 2
    # bookmarks survived: every stream that was interrupted resumed after its last Ack
    assert not went_back, f"streams resumed before their last acknowledged event: {went_back[:5]}"
    assert any(len(starts) > 1 and max(starts[1:]) > 1 for starts in resumed.values()), \
        f"no stream resumed from a stored bookmark: {resumed}"


# ---------------------------------------------------------------------------------------------
# the persist file's filesystem is full
# ---------------------------------------------------------------------------------------------

FULL_EVENTS_FIRST = 1000    # win01 alone, before the filesystem fills: its bookmark entries exist
FULL_EVENTS = 2000          # then all three machines, per stream
CHANNEL_PADDING = 4000


def padded_corpus(path):
    """The corpus with a 4 KB channel name: the simulator puts the last event's channel into the
    batch bookmark, so every bookmark is ~4 KB and every new persist entry 8 KiB (a bookmark of
    a machine that collects many channels has that size). With such entries a new entry needs
    the persist file to grow; with 200-byte bookmarks a full filesystem would go unnoticed for
    the first few dozen entries (syslog-ng keeps ~8 KiB preallocated)."""
    pad = "-" + "x" * CHANNEL_PADDING
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:500]
    path.write_text("\n".join(re.sub(r"<Channel>([^<]*)</Channel>", lambda m: f"<Channel>{m.group(1)}{pad}</Channel>",
                                     line, count=1) for line in lines) + "\n", encoding="utf-8")
    return path


def fill_filesystem(directory):
    """Writes a file until the filesystem is full; returns its path."""
    filler = directory / "filler"
    block = b"\0" * 4096
    with open(filler, "wb", buffering=0) as f:
        while True:
            try:
                if f.write(block) < len(block):
                    break
            except OSError:
                break
    return filler


def test_disk_full_persist_file_new_bookmarks_get_503_and_delivery_completes_after_freeing(tmp_path, certs, port):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the persist file needs root")
    mnt = tmp_path / "persist-fs"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,mode=0700", "tmpfs", str(mnt)],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the persist file: {mounted.stderr.strip()}")
    daemon = None
    try:
        events = str(padded_corpus(tmp_path / "events-long-channel.xml"))
        output = tmp_path / "events.json"
        source = windowsevent_source(port, certs["dir"], [subscription_block("security", ["*.corp.example"])],
                                     extra="log-iw-size(2000)")
        daemon = SyslogNg(tmp_path / "s", json_file_config(source, output))
        daemon.persist = mnt / "syslog-ng.persist"   # -R: only the persist file is on the small filesystem
        daemon.start(port=port)
        acks = AckLog()

        # win01 delivers while there is space: both slots of its bookmark get their entries
        first = run_forwarders(certs, port, ["win01.corp.example"], FULL_EVENTS_FIRST, acks, events=events,
                               retry_interval=0.5, max_retries=10)
        assert first[0].ok, first[0].error

        filler = fill_filesystem(mnt)
        st = os.statvfs(mnt)
        assert st.f_bavail * st.f_frsize < 16384, "the filesystem is not full"
        full_at = time.monotonic()
        log_before = daemon.internal_log()

        sender, outcome = start_forwarders(certs, port, MACHINES, FULL_EVENTS, acks, events=events,
                                           retry_interval=1.0, max_retries=200)
        # the new machines' bookmarks cannot be stored: 503, and a log line each
        new = {"win02.corp.example", "win03.corp.example"}
        deadline = time.monotonic() + 60
        refused = set()
        while time.monotonic() < deadline and (refused != new or time.monotonic() - full_at < 8):
            assert daemon.alive(), "syslog-ng exited with the persist filesystem full:\n" + \
                daemon.internal_log()[len(log_before):][-3000:]
            log = daemon.internal_log()[len(log_before):]
            refused = {m for m in new for line in log.splitlines()
                       if "cannot store the bookmark" in line and f"identity='{m}'" in line}
            time.sleep(0.5)
        assert daemon.alive(), "syslog-ng exited with the persist filesystem full:\n" + \
            daemon.internal_log()[len(log_before):][-3000:]
        assert refused == new, "no 'cannot store the bookmark' for " + str(new - refused) + ":\n" + \
            daemon.internal_log()[len(log_before):][-3000:]
        freed_at = time.monotonic()
        acks_new_while_full = acks.between(full_at, freed_at, new)
        acks_old_while_full = acks.between(full_at, freed_at, {"win01.corp.example"})
        full_log = daemon.internal_log()[len(log_before):]

        filler.unlink()
        sender.join(150)
        assert not sender.is_alive(), "forwarders did not finish"
        results = assert_forwarders_ok(outcome, 1, FULL_EVENTS)
        wait_for_lines(output, len(MACHINES) * FULL_EVENTS, 60)
        assert daemon.alive()
    finally:
        if daemon is not None:
            daemon.stop()
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)

    acked = acks.acked_keys()
    counts, missing, lost_acked, duplicates = tally(read_json_lines(output), MACHINES, ["security"], FULL_EVENTS,
                                                    acked)
    refusals = count_lines(full_log, "cannot store the bookmark")
    print(f"\ndisk full: refusals {refusals}, Acks while full: win01 {len(acks_old_while_full)}, new machines "
          f"{len(acks_new_while_full)}, statuses new {dict(statuses(results, new))}, duplicates {duplicates}")
    assert not lost_acked, f"{len(lost_acked)} acknowledged events lost, first: {lost_acked[:5]}"
    assert not missing, f"{len(missing)} events never arrived, first: {missing[:5]}"
    assert not acks_new_while_full, f"Acks without a stored bookmark: {acks_new_while_full[:3]}"
    assert statuses(results, new)[503] >= 2
    # the machine whose entries exist keeps being acknowledged: its bookmark is written in place
    assert acks_old_while_full, "win01 was not acknowledged while the filesystem was full"
    assert "Can't preallocate space for persist file" not in full_log
    assert "syslog-ng shutting down" not in full_log
