"""SLDC compression as Windows uses it: advertised by default, bodies labelled SLDC are
decompressed (a real Windows heartbeat included), uncompressed bodies labelled SLDC fall back
to the raw bytes, and a body that would expand past the limit gets 413."""
import sys

import wef_forwarder as wef
from wec_harness import (CORPUS, DATA, REPO, SyslogNg, https_forwarder, json_file_config, read_json_lines,
                         subscription_block, wait_for_lines, windowsevent_source)

sys.path.insert(0, str(REPO / "tests" / "simulator"))
import sldc  # noqa: E402


def start(tmp_path, certs, port, extra=""):
    output = tmp_path / "events.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(
        windowsevent_source(port, certs["dir"], [subscription_block("security", ["*.corp.example"])], extra=extra),
        output))
    daemon.start(port=port)
    return daemon, output


def test_sldc_is_advertised_and_compressed_batches_arrive_intact(tmp_path, certs, port):
    daemon, output = start(tmp_path, certs, port)
    events = CORPUS.read_text(encoding="utf-8").splitlines()[:200]
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            sub = subs[0]
            assert sub.compression == "SLDC"
            fw.check_ack(*fw.send_events(sub, events, wef.format_bookmark("Security", 200)))
            plain, wire = fw.last_request, fw.last_wire_request
            assert wire != plain and len(wire) < len(plain) / 2, (len(wire), len(plain))
            # SubscriptionEnd: labelled SLDC but sent uncompressed, like Windows
            fw.check_ack(*fw.subscription_end(sub))
            assert fw.last_wire_request[:2] == b"\xff\xfe"
        assert wait_for_lines(output, len(events), 30) == len(events)
    finally:
        daemon.stop()
    print(f"200 events: {len(plain)} bytes UTF-16, {len(wire)} bytes SLDC ({len(wire) / len(plain):.0%})")


def test_real_windows_heartbeat_is_understood(tmp_path, certs, port):
    daemon, _ = start(tmp_path, certs, port)
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            status, headers, body = fw.raw_post(
                subs[0].notify_to, (DATA / "windows-heartbeat.sldc").read_bytes(), conn="delivery",
                headers=[("Connection", "Keep-Alive"), ("Content-Type", wef.CONTENT_TYPE),
                         ("Content-Encoding", "SLDC"), ("User-Agent", wef.USER_AGENT)])
            assert status == 200
            ack = wef.parse_ack(body)
            assert ack["action"] == wef.ACTION_ACK
            assert ack["relates_to"] == "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA"
    finally:
        daemon.stop()


def test_decompression_bomb_gets_413(tmp_path, certs, port):
    daemon, output = start(tmp_path, certs, port, extra="")
    bomb = sldc.compress(b"\xff\xfe" + b"A\x00" * (3 * 1024 * 1024))  # 6 MB of UTF-16 in a few KB
    assert len(bomb) < 300000
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            status, _, _ = fw.raw_post(subs[0].notify_to, bomb, conn="delivery",
                                       headers=[("Content-Type", wef.CONTENT_TYPE), ("Content-Encoding", "SLDC")])
            assert status == 413
            assert fw.heartbeat(subs[0])[0] == 200
        lines = [l for l in daemon.internal_log().splitlines() if "SLDC body expands past the size limit" in l]
        assert len(lines) == 1
        assert read_json_lines(output) == []
    finally:
        daemon.stop()


def test_compression_no_is_not_advertised_and_changes_the_version(tmp_path, certs, port):
    versions = {}
    for setting in ("yes", "no"):
        daemon, _ = start(tmp_path / setting, certs, port, extra=f"compression({setting})")
        try:
            with https_forwarder(certs, port) as fw:
                _, subs, _ = fw.enumerate()
                versions[setting] = subs[0].version
                assert (subs[0].compression == "SLDC") == (setting == "yes")
        finally:
            daemon.stop()
    assert versions["yes"] != versions["no"]


def test_round_trip_through_the_simulator_encoder_whatever_the_subscription_says(tmp_path, certs, port):
    daemon, output = start(tmp_path, certs, port, extra="compression(no)")
    pki = certs["dir"]
    try:
        result = wef.run_machine(f"https://localhost:{port}/wsman/SubscriptionManager/WEC", "win01.corp.example",
                                 str(pki / "clients" / "win01.corp.example.crt"),
                                 str(pki / "clients" / "win01.corp.example.key"), str(pki / "ca-bundle.crt"),
                                 str(CORPUS), total_events=1500, batch_size=300, compress="always",
                                 retry_interval=0.5, max_retries=3, deadline=120)
        assert result.ok, result.error
        assert wait_for_lines(output, 1500, 30) == 1500
    finally:
        daemon.stop()
