"""What volume costs the real syslog-ng with windowsevent(): big batches and events, a million
distinct field names, a thousand idle connections, the connection limit, and a denied identity that
hammers. One test per row of docs/hostile-input.md; hostile_support.py has the collector, its
background forwarder and the checks every row makes. Most rows here start their own syslog-ng as
well, and check the shared one afterwards.
"""
import collections
import os
import random
import socket
import threading
import time

import wef_forwarder as wef
from hostile_support import (ACK_WAIT, BACKGROUND_MACHINE, BODY_LIMIT, EVENT_NS, MANAGER_PATH,
                             assert_background_delivered_every_event_exactly_once, client_context, log_lines,
                             records_with_marker, small_event, subscription)
from hostile_support import collector, kdc, row  # noqa: F401 (fixtures: one collector per file)
from wec_harness import (CORPUS, SANITIZED, SyslogNg, event_field, free_port, json_file_config, read_json_lines,
                         subscription_block, wait_for_lines)


def tiny_event(record_id, machine):
    return (f"<Event xmlns='{EVENT_NS}'><System><Provider Name='T'/><EventID>1</EventID>"
            f"<EventRecordID>{record_id}</EventRecordID><Computer>{machine}</Computer></System></Event>")


# ------------------------------------------------------------------------------------------
# Big batches and events (row 12, events without a bookmark: test_hostile_xml_soap.py)
# ------------------------------------------------------------------------------------------

def test_ten_thousand_events_in_one_batch(collector, row):
    machine = "win02.corp.example"
    pki = collector["pki"]
    count = 10000
    with wef.Forwarder(f"https://localhost:{collector['https']}{MANAGER_PATH}",
                       str(pki / "clients" / f"{machine}.crt"), str(pki / "clients" / f"{machine}.key"),
                       str(pki / "ca-bundle.crt"), machine, timeout=ACK_WAIT) as fw:
        sub = subscription(fw, "bulk")
        events = [tiny_event(n, machine) for n in range(1, count + 1)]
        message_id = wef.new_uuid()
        body = wef.encode_body(wef.build_events(sub.notify_to, machine, events, wef.format_bookmark("Security", count),
                                                message_id=message_id, reference_headers=sub.reference_headers))
        assert len(body) <= BODY_LIMIT
        started = time.monotonic()
        status, _, reply = fw.raw_post(sub.notify_to, body, conn="delivery")
        elapsed = time.monotonic() - started
        fw.check_ack(status, reply, message_id)  # one Ack for the whole batch
        assert subscription(fw, "bulk").bookmark_records == [("Security", count)]
    deadline = time.monotonic() + 60
    seen = collections.Counter()
    while time.monotonic() < deadline:
        seen = collections.Counter(int(event_field(r, "System", "EventRecordID"))
                                   for r in read_json_lines(collector["output"])
                                   if r["_wec"]["identity"] == machine and r["_wec"]["subscription"] == "bulk")
        if len(seen) >= count:
            break
        time.sleep(0.5)
    assert set(seen) == set(range(1, count + 1)) and set(seen.values()) == {1}
    print(f"10,000 events ({len(body)} bytes) acknowledged in {elapsed:.2f}s")
    row.expect_no_lines(settle=0.2)
    row.finish()


def test_one_event_of_one_megabyte_arrives_intact(collector, row):
    machine = "win02.corp.example"
    pki = collector["pki"]
    marker = "one-megabyte-%d" % time.monotonic_ns()
    payload = "".join(random.Random(5).choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz0123456789")
                      for _ in range(1024 * 1024))
    with wef.Forwarder(f"https://localhost:{collector['https']}{MANAGER_PATH}",
                       str(pki / "clients" / f"{machine}.crt"), str(pki / "clients" / f"{machine}.key"),
                       str(pki / "ca-bundle.crt"), machine, timeout=ACK_WAIT) as fw:
        sub = subscription(fw, "bulk")
        fw.check_ack(*fw.send_events(sub, [small_event(20000, machine, marker, payload)],
                                     wef.format_bookmark("Security", 20000)))
    deadline = time.monotonic() + 30
    records = []
    while time.monotonic() < deadline and not records:
        records = records_with_marker(collector["output"], marker)
        time.sleep(0.2)
    assert len(records) == 1
    assert event_field(records[0], "EventData", "Data", "Payload") == payload
    row.expect_no_lines(settle=0.2)
    row.finish()


# ------------------------------------------------------------------------------------------
# Memory and connections
# ------------------------------------------------------------------------------------------

def rss_kib(daemon):
    with open(f"/proc/{daemon.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_idle(port, pki, plain, handshaken):
    """`plain` TCP connections that never start TLS and `handshaken` TLS connections that never
    send a request."""
    sockets = []
    try:
        for _ in range(plain):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        context = client_context(pki)
        for _ in range(handshaken):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(context.wrap_socket(raw, server_hostname="localhost"))
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return sockets


def limited_collector(workdir, pki, port, extra):
    source = (f'windowsevent(ip("127.0.0.1") port({port}) hostname("localhost") '
              f'tls(key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d")) '
              f'{subscription_block("security", ["win0?.corp.example"])} {extra})')
    output = workdir / "events.json"
    return SyslogNg(workdir, json_file_config(source, output)).start(port=port), output


def test_a_million_distinct_field_names_keep_memory_flat(tmp_path, certs, row):
    """The review: every distinct <Data Name=...> became a syslog-ng name for good (its registry never
    frees names), about 2 MB more RSS per batch of 6,000 new names, for ever. Now a source registers at
    most 4,096 names; fields with further names are kept in .wec.overflow_fields (one JSON object),
    and one warning a minute says so. 1,000,000 distinct names in 200 batches: RSS flat after the
    first 20."""
    pki = certs["dir"]
    port = free_port()
    output = tmp_path / "names" / "events.txt"
    source = (f'windowsevent(ip("127.0.0.1") port({port}) hostname("localhost") compression(no) '
              f'tls(key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d")) '
              f'{subscription_block("security", ["win0?.corp.example"])})')
    destination = f'file("{output}" template("$(length ${{.wec.overflow_fields}})\\n"))'
    daemon = SyslogNg(tmp_path / "names", json_file_config(source, output, destination=destination))
    daemon.start(port=port)
    names_per_event, events_per_batch, batches = 1000, 5, 200
    rss = []
    try:
        with wef.Forwarder(f"https://localhost:{port}{MANAGER_PATH}", str(pki / "clients" / "win01.corp.example.crt"),
                           str(pki / "clients" / "win01.corp.example.key"), str(pki / "ca-bundle.crt"),
                           "win01.corp.example", timeout=60) as fw:
            sub = subscription(fw, "security")
            serial = 0
            for batch in range(batches):
                events = []
                for _ in range(events_per_batch):
                    data = "".join(f"<Data Name='F{serial + n:07d}'>v</Data>" for n in range(names_per_event))
                    serial += names_per_event
                    events.append("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
                                  f"<EventRecordID>{batch}</EventRecordID><Computer>win01.corp.example</Computer>"
                                  f"</System><EventData>{data}</EventData></Event>")
                fw.check_ack(*fw.send_events(sub, events, wef.format_bookmark("Security", batch)))
                if batch % 20 == 19:
                    rss.append(rss_kib(daemon))
        assert wait_for_lines(output, batches * events_per_batch, 60) == batches * events_per_batch
        lines = [line for line in log_lines(daemon) if "field name budget reached" in line]
    finally:
        daemon.stop()
    print(f"VmRSS after every 100,000 names: {rss} KiB")
    assert serial == 1000000
    assert rss[-1] - rss[0] < 4 * 1024, rss  # flat once the budget is full (in the first 20 batches)
    assert len(lines) == 1 and "budget='4096'" in lines[0], lines  # one warning a minute
    lengths = [int(line) for line in output.read_text().split()]
    assert lengths[0] == 0 or lengths[-1] > 0  # later events carry their fields in .wec.overflow_fields
    assert lengths[-1] > names_per_event * 20


def test_one_thousand_idle_connections(tmp_path, certs, row):
    """Its own syslog-ng with the default request-timeout() (60 s) and max-connections(1100): 500 TCP
    connections that never start TLS and 500 TLS connections that never send a request are held
    while a forwarder sends 300 events and a fresh one enumerates; twice, to see that RSS does not
    keep growing. Closing idle connections is not logged."""
    pki = certs["dir"]
    port = free_port()
    daemon, output = limited_collector(tmp_path / "idle", pki, port, "max-connections(1100) max-connections-per-ip(0)")
    url = f"https://localhost:{port}{MANAGER_PATH}"
    try:
        time.sleep(0.5)
        mark = len(log_lines(daemon))
        before = rss_kib(daemon)
        measured = []
        total = 0
        for round_ in range(2):
            sockets = open_idle(port, pki, 500, 500)
            try:
                time.sleep(1)
                held = rss_kib(daemon)
                fds = len(os.listdir(f"/proc/{daemon.proc.pid}/fd"))
                total += 150
                result = wef.run_machine(url, BACKGROUND_MACHINE, str(pki / "clients" / f"{BACKGROUND_MACHINE}.crt"),
                                         str(pki / "clients" / f"{BACKGROUND_MACHINE}.key"), str(pki / "ca-bundle.crt"),
                                         str(CORPUS), total_events=total, batch_size=10, retry_interval=0.5,
                                         max_retries=5, deadline=60, timeout=15)
                assert result.ok, result.error
                with wef.Forwarder(url, str(pki / "clients" / "win01.corp.example.crt"),
                                   str(pki / "clients" / "win01.corp.example.key"), str(pki / "ca-bundle.crt"),
                                   "win01.corp.example", timeout=15) as fw:
                    assert fw.enumerate()[0] == 200
            finally:
                for s in sockets:
                    s.close()
            time.sleep(1)
            measured.append((held, rss_kib(daemon), fds))
        assert daemon.alive()
        assert log_lines(daemon)[mark:] == []  # closing idle connections is not worth a log line
        assert wait_for_lines(output, total, 30) == total
        seen = collections.Counter(int(event_field(r, "System", "EventRecordID")) for r in read_json_lines(output))
        assert set(seen) == set(range(1, total + 1)) and set(seen.values()) == {1}
    finally:
        daemon.stop()
    per_connection = (measured[0][0] - before) / 1000
    print(f"VmRSS {before} KiB before, {measured[0][0]} KiB with 1,000 idle connections "
          f"({per_connection:.1f} KiB each), {measured[0][1]} KiB after closing; second round "
          f"{measured[1][0]} KiB held, {measured[1][1]} KiB after; {measured[0][2]} descriptors held")
    assert measured[0][2] >= 1000  # they were really held open by syslog-ng
    assert per_connection < 64
    assert measured[1][0] - measured[0][0] < 8 * 1024  # a second round does not grow it again
    row.finish()


def test_max_connections_limit_makes_new_clients_wait_in_the_backlog(tmp_path, certs, row):
    """max-connections(200): with 200 idle connections open, a valid forwarder's TCP connection waits
    in the kernel's listen backlog (no TLS handshake yet); once some of the idle ones close it is
    accepted and served."""
    pki = certs["dir"]
    port = free_port()
    daemon, _ = limited_collector(tmp_path / "limited", pki, port, "max-connections(200) max-connections-per-ip(0)")
    try:
        time.sleep(0.5)  # the start-up probe of wait_for_port is closed and cleaned up
        mark = len(log_lines(daemon))
        idle = open_idle(port, pki, 200, 0)
        try:
            time.sleep(0.5)
            outcome = {}

            def client():
                started = time.monotonic()
                try:
                    with wef.Forwarder(f"https://localhost:{port}{MANAGER_PATH}",
                                       str(pki / "clients" / "win01.corp.example.crt"),
                                       str(pki / "clients" / "win01.corp.example.key"),
                                       str(pki / "ca-bundle.crt"), "win01.corp.example", timeout=20) as fw:
                        outcome["status"] = fw.enumerate()[0]
                except Exception as exc:  # reported below
                    outcome["error"] = repr(exc)
                outcome["seconds"] = time.monotonic() - started

            waiting = threading.Thread(target=client, daemon=True)
            waiting.start()
            waiting.join(2)
            assert waiting.is_alive() and not outcome  # not served while the limit is reached
            closing_at = time.monotonic()
            for s in idle[:20]:
                s.close()
            waiting.join(15)
            assert outcome.get("status") == 200, outcome
            print(f"served {time.monotonic() - closing_at:.2f}s after 20 idle connections closed")
        finally:
            for s in idle:
                s.close()
        time.sleep(0.5)
        assert daemon.alive()
        assert log_lines(daemon)[mark:] == []
    finally:
        daemon.stop()
    row.finish()


# ------------------------------------------------------------------------------------------
# Access control
# ------------------------------------------------------------------------------------------

def test_denied_identity_hammering_enumerate(tmp_path, certs, row):
    """Its own syslog-ng with log-repeat-interval(3) (the shared one logs every refusal, for the rows
    above): 500 refused Enumerates make one line at once and one with the count 3 s later. (Under the
    sanitizers the 500 requests take longer than 3 s: the interval is 15 s there.)"""
    pki = certs["dir"]
    port = free_port()
    interval = 15 if SANITIZED else 3
    daemon, _ = limited_collector(tmp_path / "hammer", pki, port, f"log-repeat-interval({interval})")
    count = 500
    try:
        mark = len(log_lines(daemon))
        with wef.Forwarder(f"https://localhost:{port}{MANAGER_PATH}",
                           str(pki / "clients" / "intruder.other.example.crt"),
                           str(pki / "clients" / "intruder.other.example.key"), str(pki / "ca-bundle.crt"),
                           "intruder.other.example", timeout=15) as fw:
            started = time.monotonic()
            statuses = collections.Counter(fw.enumerate()[0] for _ in range(count))
            elapsed = time.monotonic() - started
            connections = fw.connection(fw.url, "manager").wef_connects
        assert statuses == {403: count}
        assert connections == 1  # all on one keep-alive connection
        # syslog-ng 4.x may write its start-up lines after the port opened: look at refusals only
        needle = "identity matches no subscription's computers()"
        refusals = lambda: [line for line in log_lines(daemon)[mark:] if "windowsevent: listening" not in line]
        deadline = time.monotonic() + interval + 12
        while time.monotonic() < deadline and len(refusals()) < 2:
            time.sleep(0.1)
        time.sleep(0.5)
        lines = refusals()
        assert len(lines) == 2 and all(needle in line and "identity='intruder.other.example'" in line
                                       for line in lines), lines
        assert "repeated=" not in lines[0] and f"repeated='{count - 1}', interval='{interval}'" in lines[1]
        assert daemon.alive()
    finally:
        daemon.stop()
    print(f"{count} denied Enumerates in {elapsed:.2f}s: 2 log lines\n  log: {lines[1].split('] ', 1)[-1]}")
    row.finish()


# ------------------------------------------------------------------------------------------
# Last: the background forwarder
# ------------------------------------------------------------------------------------------

def test_zz_background_forwarder_delivered_every_event_exactly_once(collector):
    assert_background_delivered_every_event_exactly_once(collector)
