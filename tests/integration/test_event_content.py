"""What one event becomes: non-ASCII text round-trips from UTF-16 to UTF-8, standard macros
are filled, and prefix(".SDATA.<sd-id>.") yields valid RFC 5424 structured data through
syslog-ng's syslog() destination (the SCL block windowsevent-rfc5424())."""
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import wef_forwarder as wef
from wec_harness import (CONFIG_VERSION, DATA, REPO, SyslogNg, event_field, https_forwarder, json_file_config,
                         read_json_lines, subscription_block, wait_for_lines, windowsevent_source)

EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
ASTRAL = "\U00020BB7"  # 𠮷, a surrogate pair in UTF-16
ASTRAL_EVENT = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
                "<Provider Name='Test-Provider'/><EventID>1</EventID><Level>2</Level>"
                "<TimeCreated SystemTime='2024-05-01T10:00:00.1234567Z'/><EventRecordID>77</EventRecordID>"
                "<Execution ProcessID='636' ThreadID='700'/><Channel>Application</Channel>"
                "<Computer>win01.corp.example</Computer></System><EventData>"
                f"<Data Name='User'>吉田{ASTRAL}さん</Data><Data Name='Quote'>a \"b\" ]c\\d</Data>"
                "</EventData></Event>")


def deliver(certs, port, events):
    with https_forwarder(certs, port) as fw:
        status, subs, _ = fw.enumerate()
        assert status == 200
        fw.check_ack(*fw.send_events(subs[0], events, wef.format_bookmark("Security", 1)))


def test_rendered_japanese_text_and_astral_characters_round_trip(tmp_path, certs, port):
    events = (DATA / "synthetic-renderedtext-ja-JP.xml").read_text(encoding="utf-8").splitlines()
    output = tmp_path / "events.json"
    subscriptions = [subscription_block("ja", ["*.corp.example"], extra='content-format(rendered-text) locale("ja-JP")')]
    daemon = SyslogNg(tmp_path / "s", json_file_config(windowsevent_source(port, certs["dir"], subscriptions), output))
    daemon.start(port=port)
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            assert subs[0].content_format == "RenderedText" and subs[0].locale == "ja-JP"
        deliver(certs, port, events + [ASTRAL_EVENT])
        assert wait_for_lines(output, len(events) + 1, 30) == len(events) + 1
    finally:
        daemon.stop()
    records = read_json_lines(output)
    for line, record in zip(events, records):
        message = ET.fromstring(line).find(f"{EVENT_NS}RenderingInfo/{EVENT_NS}Message").text
        assert record["MESSAGE"] == message
        assert event_field(record, "RenderingInfo", "Message") == message
        assert event_field(record, "RenderingInfo", "_Culture") == "ja-JP"
    assert any("ログオン" in r["MESSAGE"] for r in records[:-1])
    last = records[-1]
    assert event_field(last, "EventData", "Data", "User") == f"吉田{ASTRAL}さん"
    assert last["PROGRAM"] == "Test-Provider" and last["PID"] == "636" and last["LEVEL"] == "err"
    assert last["ISODATE"] == "2024-05-01T10:00:00+00:00"
    assert event_field(last, "System", "Execution", "_ThreadID") == "700"
    assert last["_wec"] == {"identity": "win01.corp.example", "subscription": "ja", "peer": last["_wec"]["peer"],
                            "computer_verified": "1"}
    assert last["_wec"]["peer"].startswith("127.0.0.1:")


class SyslogReceiver:
    """A loopback TCP receiver of octet-counted RFC 5425/6587 frames."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.frames = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.server.settimeout(60)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        buffer = b""
        conn.settimeout(60)
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while True:
                    space = buffer.find(b" ")
                    if space < 0:
                        break
                    length = int(buffer[:space])
                    if len(buffer) < space + 1 + length:
                        break
                    self.frames.append(buffer[space + 1:space + 1 + length].decode("utf-8"))
                    buffer = buffer[space + 1 + length:]


SD_NAME = r'[!#-<>-\\^-~]{1,32}'  # PRINTUSASCII except '=', ' ', ']', '"'
SD_PARAM = rf'{SD_NAME}="(?:[^"\\\]]|\\["\\\]])*"'
SD_ELEMENT = rf'\[{SD_NAME}(?: {SD_PARAM})*\]'
RFC5424 = re.compile(rf'^<\d{{1,3}}>1 \S+ \S+ \S+ \S+ \S+ ((?:{SD_ELEMENT})+|-)(?: (.*))?$', re.S)


def test_sdata_prefix_yields_valid_rfc5424_structured_data(tmp_path, certs, port):
    receiver = SyslogReceiver()
    pki = certs["dir"]
    config = f"""@version: {CONFIG_VERSION}
@include "{REPO}/scl/windowsevent/plugin.conf"
source s_wec {{
  windowsevent-rfc5424(sd-id("win@32473") ip("127.0.0.1") port({port}) hostname("localhost")
    tls(key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d"))
    {subscription_block("security", ["*.corp.example"])});
}};
destination d_siem {{ syslog("127.0.0.1" port({receiver.port}) transport(tcp)); }};
log {{ source(s_wec); destination(d_siem); flags(flow-control); }};
"""
    corpus = (DATA / "events-permissive.xml").read_text(encoding="utf-8").splitlines()[:300]
    daemon = SyslogNg(tmp_path / "s", config)
    daemon.start(port=port)
    try:
        deliver(certs, port, corpus + [ASTRAL_EVENT])
        deadline = time.monotonic() + 30
        while len(receiver.frames) < len(corpus) + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.stop()
    assert len(receiver.frames) == len(corpus) + 1
    for frame in receiver.frames:
        match = RFC5424.match(frame)
        assert match, frame[:400]
        assert match.group(1).startswith("[win@32473 ")
    last = receiver.frames[-1]
    assert 'EventID="1"' in last and 'Provider_Name="Test-Provider"' in last
    assert f'User="吉田{ASTRAL}さん"' in last
    assert 'Quote="a \\"b\\" \\]c\\\\d"' in last


@pytest.mark.parametrize("host_from", ["event", "identity"])
def test_host_and_whether_the_computer_is_the_authenticated_one(tmp_path, certs, port, host_from):
    """<Computer> is what the forwarder asserts: .wec.computer_verified tells whether it names the
    authenticated machine, and host-from(identity) takes HOST from the certificate instead."""
    def event(computer, record):
        return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
                "<Provider Name='P'/><EventID>1</EventID>"
                f"<EventRecordID>{record}</EventRecordID><Computer>{computer}</Computer></System></Event>")
    output = tmp_path / "events.json"
    subscriptions = [subscription_block("s", ["*.corp.example"])]
    daemon = SyslogNg(tmp_path / "s", json_file_config(
        windowsevent_source(port, certs["dir"], subscriptions, extra=f'host-from("{host_from}")'), output))
    daemon.start(port=port)
    try:
        deliver(certs, port, [event("WIN01.corp.example", 1), event("dc01.corp.example", 2), "<not-xml"])
        assert wait_for_lines(output, 3, 30) == 3
    finally:
        daemon.stop()
    own, other, unparsed = read_json_lines(output)
    assert own["_wec"]["computer_verified"] == "1"       # the certificate's CN, in any case
    assert other["_wec"]["computer_verified"] == "0"     # claims another machine
    assert unparsed["_wec"]["computer_verified"] == "0"
    assert unparsed["HOST"] == "win01.corp.example"
    if host_from == "event":
        assert (own["HOST"], other["HOST"]) == ("WIN01.corp.example", "dc01.corp.example")
    else:
        assert (own["HOST"], other["HOST"]) == ("win01.corp.example", "win01.corp.example")
