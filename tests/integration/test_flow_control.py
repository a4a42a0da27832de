"""Flow control reaches the forwarder: while syslog-ng's window is full the batch's
connection waits (suspended, not buffered), other forwarders are still served, and
everything is delivered once the destination comes back."""
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
