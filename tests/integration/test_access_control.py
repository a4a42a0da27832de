"""Who may talk to the collector, and what a bad request gets: the right HTTP status, one
actionable line in syslog-ng's log, no event, and the connection and other clients keep working."""
import socket
import ssl
import time

import pytest

import wef_forwarder as wef
from wec_harness import (SyslogNg, json_file_config, read_json_lines, subscription_block,
                         windowsevent_source)

MANAGER_PATH = "/wsman/SubscriptionManager/WEC"


@pytest.fixture
def collector(tmp_path, certs, port):
    subscriptions = [subscription_block("security", ["win0?.corp.example"]),
                     subscription_block("only-win01", ["win01.corp.example"])]
    output = tmp_path / "events.json"
    daemon = SyslogNg(tmp_path / "syslog-ng",
                      json_file_config(windowsevent_source(port, certs["dir"], subscriptions,
                                                           extra="log-repeat-interval(2)"), output))
    daemon.start(port=port)
    yield daemon, output
    daemon.stop()


def forwarder(certs, port, machine, cert_name=None):
    pki = certs["dir"]
    cert_name = cert_name or machine
    return wef.Forwarder(f"https://localhost:{port}{MANAGER_PATH}", str(pki / "clients" / f"{cert_name}.crt"),
                         str(pki / "clients" / f"{cert_name}.key"), str(pki / "ca-bundle.crt"), machine)


def log_lines(daemon, needle):
    return [line for line in daemon.internal_log().splitlines() if needle in line]


def wait_log(daemon, needle, count=1, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(log_lines(daemon, needle)) >= count:
            break
        time.sleep(0.1)
    return log_lines(daemon, needle)


def test_enumerate_offers_each_allowed_subscription_with_issuer_thumbprint(collector, certs, port):
    with forwarder(certs, port, "win01.corp.example") as fw:
        status, subs, _ = fw.enumerate()
        assert status == 200
        assert sorted(s.name for s in subs) == ["only-win01", "security"]
        for s in subs:
            assert s.delivery_mode == wef.DELIVERY_MODE_EVENTS
            assert ("issuer", certs["thumbprint"]) in s.thumbprints
            assert s.notify_to.startswith(f"https://localhost:{port}/wsman/subscriptions/")
            assert s.send_bookmarks and s.bookmark_xml is None
            assert not wef.validate_subscription(s, True, None)
        assert fw.end()[0] == 204
    with forwarder(certs, port, "win02.corp.example") as fw:
        status, subs, _ = fw.enumerate()
        assert [s.name for s in subs] == ["security"]


def test_identity_matching_no_subscription_gets_403_and_repeats_are_summarised(collector, certs, port):
    daemon, output = collector
    with forwarder(certs, port, "intruder.other.example") as fw:
        for _ in range(50):
            status, subs, _ = fw.enumerate()
            assert status == 403 and subs == []
        lines = wait_log(daemon, "identity matches no subscription", 1)
        assert len(lines) == 1 and "identity='intruder.other.example'" in lines[0]
        # after log-repeat-interval(2): one line with the count, and the next refusal is logged again
        lines = wait_log(daemon, "identity matches no subscription", 2, timeout=10)
        assert len(lines) == 2 and "repeated='49', interval='2'" in lines[1], lines
        assert fw.enumerate()[0] == 403
        assert len(wait_log(daemon, "identity matches no subscription", 3)) == 3
    assert read_json_lines(output) == []


def test_delivery_by_identity_outside_computers_gets_403(collector, certs, port):
    daemon, output = collector
    with forwarder(certs, port, "win01.corp.example") as fw:
        _, subs, _ = fw.enumerate()
        only = next(s for s in subs if s.name == "only-win01")
    with forwarder(certs, port, "win02.corp.example") as fw:
        status, _ = fw.send_events(only, ["<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'/>"],
                                   wef.format_bookmark("Security", 1))
        assert status == 403
    assert "subscription='only-win01'" in wait_log(daemon, "not allowed by computers() of the subscription")[0]
    assert read_json_lines(output) == []


@pytest.mark.parametrize("cert_name,reason", [
    ("intruder.other.example-foreign", "unable to get local issuer certificate"),
    ("expired.corp.example-expired", "certificate has expired"),
    (None, "the client sent no certificate"),
])
def test_bad_client_certificates_fail_the_handshake(collector, certs, port, cert_name, reason):
    daemon, _ = collector
    pki = certs["dir"]
    context = ssl.create_default_context(cafile=str(pki / "ca-bundle.crt"))
    if cert_name:
        context.load_cert_chain(str(pki / "clients" / f"{cert_name}.crt"), str(pki / "clients" / f"{cert_name}.key"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports the client certificate verdict after the handshake: make a request
                tls.sendall(b"POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
                if not tls.recv(100):
                    raise ConnectionError("closed without answer")
    lines = wait_log(daemon, "TLS handshake refused")
    assert lines and reason in lines[-1], lines
    # the listener keeps serving good clients
    with forwarder(certs, port, "win01.corp.example") as fw:
        assert fw.enumerate()[0] == 200


def test_http_errors_are_answered_and_logged_once_and_the_connection_survives(collector, certs, port):
    daemon, output = collector
    with forwarder(certs, port, "win01.corp.example") as fw:
        _, subs, _ = fw.enumerate()
        sub = next(s for s in subs if s.name == "security")
        delivery = sub.notify_to

        cases = [
            ("unknown path", "/wsman/other", wef.encode_body(wef.build_enumerate(fw.url, fw.machine)), 404,
             "unknown path"),
            ("unknown subscription", "/wsman/subscriptions/00000000-0000-0000-0000-000000000000",
             wef.encode_body(wef.build_heartbeat(delivery, fw.machine)), 404, "unknown subscription"),
            ("not XML", MANAGER_PATH, wef.encode_body("this is not XML"), 400, "malformed SOAP request"),
            ("not SOAP", MANAGER_PATH, wef.encode_body("<a/>"), 400, "not a SOAP 1.2 envelope"),
            ("odd UTF-16", MANAGER_PATH, b"\xff\xfe<\x00a", 400, "not UTF-16 or UTF-8"),
            ("unsupported action", delivery,
             wef.encode_body(wef.build_enumerate(delivery, fw.machine)), 400, "unsupported action on a subscription"),
        ]
        for name, path, body, status, needle in cases:
            before = len(log_lines(daemon, needle))
            got, _, _ = fw.raw_post(path, body, conn="delivery")
            assert got == status, name
            assert len(wait_log(daemon, needle, before + 1)) == before + 1, name

        # still the same keep-alive connection, still served
        assert fw.heartbeat(sub)[0] == 200
        fw.check_ack(*fw.heartbeat(sub))

        # 405 for anything but POST
        conn = fw.connection(delivery)
        conn.request("GET", "/wsman/SubscriptionManager/WEC")
        response = conn.getresponse()
        response.read()
        assert response.status == 405
        assert wait_log(daemon, "only POST is served")

    # 413 before the body is read
    with forwarder(certs, port, "win01.corp.example") as fw:
        status, _, _ = fw.raw_post(MANAGER_PATH, b"\xff\xfe" + b"<\x00" * (600 * 1024))
        assert status == 413
        assert wait_log(daemon, "request body too large")
    assert read_json_lines(output) == []


def test_utf8_bodies_are_accepted_and_replies_are_utf16_with_bom(collector, certs, port):
    with forwarder(certs, port, "win01.corp.example") as fw:
        fw.last_message_id = message_id = wef.new_uuid()
        body = wef.build_enumerate(fw.url, fw.machine, message_id).encode("utf-8")
        status, headers, reply = fw.raw_post(MANAGER_PATH, body)
        assert status == 200
        assert reply[:2] == b"\xff\xfe"
        assert dict((k.lower(), v) for k, v in headers)["content-type"] == "application/soap+xml;charset=UTF-16"
        relates_to, subs = wef.parse_enumerate_response(wef.decode_body(reply))
        assert relates_to == message_id and len(subs) == 2


def test_subscription_end_with_fault_is_acked_and_logged(collector, certs, port):
    daemon, _ = collector
    with forwarder(certs, port, "win01.corp.example") as fw:
        _, subs, _ = fw.enumerate()
        sub = subs[0]
        status, body = fw.subscription_end(sub, with_fault=True, status=wef.STATUS_SOURCE_CANCELLING)
        fw.check_ack(status, body)
        assert fw.end(sub)[0] in (200, 204)
    lines = wait_log(daemon, "forwarder ended its subscription")
    assert "SourceCancelling" in lines[0] and "fault_code='" in lines[0]


def test_version_is_stable_across_restarts_and_changes_with_visible_options(tmp_path, certs, port):
    def versions(extra):
        subscriptions = [subscription_block("security", ["*.corp.example"], extra=extra)]
        daemon = SyslogNg(tmp_path / f"v{len(extra)}",
                          json_file_config(windowsevent_source(port, certs["dir"], subscriptions), tmp_path / "o.json"))
        daemon.start(port=port)
        try:
            with forwarder(certs, port, "win01.corp.example") as fw:
                _, subs, _ = fw.enumerate()
                return subs[0].version, subs[0].notify_to
        finally:
            daemon.stop()

    first, url = versions("")
    again, url_again = versions(" ")  # a new process and persist file, same visible options
    changed, url_changed = versions("heartbeat(60)")
    assert first == again and url == url_again
    assert changed != first and url_changed == url
