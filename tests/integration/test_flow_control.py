"""Flow control reaches the forwarder: while syslog-ng's window is full the batch's
connection waits (suspended, not buffered), other forwarders are still served, and
everything is delivered once the destination comes back."""
import socket
import threading
import time

import wef_forwarder as wef
from wec_harness import (CORPUS, LineReceiver, SyslogNg, control, json_file_config, subscription_block,
                         windowsevent_source)

WINDOW = 100
BATCH = 300


def test_full_window_suspends_only_that_batch_and_delivery_resumes(tmp_path, certs, port):
    receiver = LineReceiver()
    destination = (f'network("127.0.0.1" port({receiver.port}) transport(tcp) time-reopen(1) '
                   f'template("$(format-json --scope dot-nv-pairs)\\n"))')
    source = windowsevent_source(port, certs["dir"], [subscription_block("security", ["*.corp.example"])],
                                 extra=f"log-iw-size({WINDOW})")
    daemon = SyslogNg(tmp_path / "s", json_file_config(source, None, destination=destination))
    daemon.start(port=port)
    pki = certs["dir"]
    url = f"https://localhost:{port}/wsman/SubscriptionManager/WEC"

    def fw(machine):
        return wef.Forwarder(url, str(pki / "clients" / f"{machine}.crt"), str(pki / "clients" / f"{machine}.key"),
                             str(pki / "ca-bundle.crt"), machine, timeout=120)

    events = CORPUS.read_text(encoding="utf-8").splitlines()[:BATCH]
    outcome = {}

    def send_batch():
        with fw("win01.corp.example") as f:
            _, subs, _ = f.enumerate()
            started = time.monotonic()
            outcome["status"], outcome["body"] = f.send_events(subs[0], events, wef.format_bookmark("Security", BATCH))
            outcome["seconds"] = time.monotonic() - started
            outcome["ack"] = f.check_ack(outcome["status"], outcome["body"])

    try:
        sender = threading.Thread(target=send_batch)
        sender.start()
        time.sleep(3)
        assert sender.is_alive(), "the batch was acknowledged although the destination is down"
        stats = control(daemon, "stats")
        processed = [line for line in stats.splitlines() if line.startswith("src.windowsevent;") and ";processed;" in line]
        assert processed and int(processed[0].rsplit(";", 1)[1]) == WINDOW, stats

        # another forwarder is served meanwhile
        with fw("win02.corp.example") as other:
            started = time.monotonic()
            status, subs, _ = other.enumerate()
            assert status == 200
            other.check_ack(*other.heartbeat(subs[0]))
            assert time.monotonic() - started < 2

        receiver.start()
        sender.join(120)
        assert not sender.is_alive()
        assert outcome["status"] == 200
        deadline = time.monotonic() + 30
        while len(receiver.lines) < BATCH and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(receiver.lines) == BATCH
    finally:
        daemon.stop()
        receiver.stop()


def test_batch_not_acknowledged_in_time_gets_503_and_a_log_line(tmp_path, certs, port):
    # bound but never listening: connections are refused, and no other server can take the port
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    closed_port = blocker.getsockname()[1]
    destination = f'network("127.0.0.1" port({closed_port}) transport(tcp) time-reopen(60))'
    source = windowsevent_source(port, certs["dir"], [subscription_block("security", ["*.corp.example"])],
                                 extra="commit-timeout(2)")
    daemon = SyslogNg(tmp_path / "s", json_file_config(source, None, destination=destination))
    daemon.start(port=port)
    pki = certs["dir"]
    try:
        with wef.Forwarder(f"https://localhost:{port}/wsman/SubscriptionManager/WEC",
                           str(pki / "clients" / "win01.corp.example.crt"), str(pki / "clients" / "win01.corp.example.key"),
                           str(pki / "ca-bundle.crt"), "win01.corp.example") as f:
            _, subs, _ = f.enumerate()
            started = time.monotonic()
            status, _ = f.send_events(subs[0], CORPUS.read_text(encoding="utf-8").splitlines()[:5],
                                      wef.format_bookmark("Security", 5))
            waited = time.monotonic() - started
            assert status == 503
            assert 1.5 < waited < 10
            # the bookmark was not stored: a new enumeration offers none
            _, subs, _ = f.enumerate()
            assert subs[0].bookmark_xml is None
        lines = [l for l in daemon.internal_log().splitlines() if "not acknowledged by the destinations in time" in l]
        assert len(lines) == 1 and "identity='win01.corp.example'" in lines[0]
    finally:
        daemon.stop()
        blocker.close()
