"""Who may talk to the collector, and what a bad request gets: the right HTTP status, one
actionable line in syslog-ng's log, no event, and the connection and other clients keep working."""
import socket
import ssl
import subprocess
import time

import pytest

import wef_forwarder as wef
from wec_harness import (SyslogNg, json_file_config, make_certs, read_json_lines, subscription_block,
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


# --- issuing CAs and revocation ------------------------------------------------------------------
# The session PKI (conftest.py) has a root with two issuing CAs: client-ca (in ca.d, its
# thumbprint advertised) and sibling-ca, which issued a certificate with win01's CN.
# CRLs: crl.d/ revokes revoked.corp.example-revoked; crl/client-ca-expired.crl.pem is expired.

HANDSHAKE_LINES = "windowsevent: TLS handshake"  # refused (verdict) or failed (anything else)


def tls_status(pki, port, cert, key):
    """One HTTPS request with a client certificate (file with the certificate, maybe followed by
    its CA). Returns the HTTP status, or None when the collector refused the TLS handshake."""
    context = ssl.create_default_context(cafile=str(pki / "ca-bundle.crt"))
    context.load_cert_chain(str(cert), str(key))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports the server's verdict on the certificate after the handshake
                tls.sendall(b"POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Length: 0\r\n\r\n")
                reply = tls.recv(100)
    except socket.timeout:
        raise
    except (ssl.SSLError, ConnectionError, OSError):
        return None
    return int(reply.split()[1]) if reply else None


def client_files(certs, name):
    """(certificate file, key file) of clients/NAME; NAME-chain.crt shares NAME.key."""
    pki = certs["dir"]
    return pki / "clients" / f"{name}.crt", pki / "clients" / f"{name.removesuffix('-chain')}.key"


def thumbprint_of(path):
    return wef.cert_thumbprint(str(path))


def issuer_thumbprints_offered(certs, port, machine="win01.corp.example", cert_name=None):
    with forwarder(certs, port, machine, cert_name) as fw:
        status, subs, _ = fw.enumerate()
        assert status == 200
        offered = {tuple(sorted(t for role, t in s.thumbprints if role == "issuer")) for s in subs}
        assert len(offered) == 1, offered  # every subscription advertises the same set
        return set(offered.pop())


def start_collector(tmp_path, certs, port, tls_extra="", ca_dir=None, computers=("*.corp.example",)):
    subscriptions = [subscription_block("security", list(computers))]
    daemon = SyslogNg(tmp_path / "syslog-ng",
                      json_file_config(windowsevent_source(port, certs["dir"], subscriptions, tls_extra=tls_extra,
                                                           ca_dir=ca_dir, extra="log-repeat-interval(0)"),
                                       tmp_path / "events.json"))
    return daemon.start(port=port)


def refused_once(daemon, before, needles):
    """Exactly one new handshake line since `before` lines, and it contains every needle."""
    lines = wait_log(daemon, HANDSHAKE_LINES, before + 1)
    time.sleep(0.3)  # a second line would come from the same handshake at once
    lines = log_lines(daemon, HANDSHAKE_LINES)
    assert len(lines) == before + 1, lines[before:]
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])
    return lines[-1]


@pytest.fixture
def sibling_ca_dir(tmp_path, certs):
    """ca-file()/ca-dir() content with both issuing CAs: root, client-ca and sibling-ca."""
    pki = certs["dir"]
    directory = tmp_path / "ca-with-sibling"
    directory.mkdir()
    for name in ("root-ca.crt", "client-ca.crt", "sibling-ca.crt"):
        (directory / name).write_bytes((pki / name).read_bytes())
    return directory


@pytest.mark.parametrize("presented", ["win01.corp.example-sibling-chain", "win01.corp.example-sibling"])
def test_certificate_from_a_sibling_ca_with_another_machines_cn_is_refused(collector, certs, port, presented):
    # The reviewer's attack: a certificate named like win01 from another issuing CA under the
    # trusted root, sent with (-chain) or without its issuing CA.
    daemon, output = collector
    before = len(log_lines(daemon, HANDSHAKE_LINES))
    assert tls_status(certs["dir"], port, *client_files(certs, presented)) is None
    line = refused_once(daemon, before, ["TLS handshake refused", "/CN=win01.corp.example",
                                         "issuer /CN=WEC Sibling Issuing CA", "unable to get local issuer certificate",
                                         "is not a CA in ca-file()/ca-dir()"])
    if presented.endswith("-chain"):
        assert "CA certificates that the client sends along are never trusted" in line
    assert read_json_lines(output) == []
    # the real win01 is still served
    with forwarder(certs, port, "win01.corp.example") as fw:
        assert fw.enumerate()[0] == 200


def test_default_pins_the_issuing_cas_advertised_before(tmp_path, certs, port, sibling_ca_dir):
    # No pin: the loaded CAs that issued no other loaded CA, as advertised before the option
    # existed: both issuing CAs, not the root, and both CAs' clients are accepted.
    pki = certs["dir"]
    daemon = start_collector(tmp_path, certs, port, ca_dir=sibling_ca_dir)
    try:
        expected = {thumbprint_of(pki / "client-ca.crt"), thumbprint_of(pki / "sibling-ca.crt")}
        assert issuer_thumbprints_offered(certs, port) == expected
        assert tls_status(pki, port, *client_files(certs, "win01.corp.example-sibling")) is not None
        listening = wait_log(daemon, "windowsevent: listening")[0]
        advertised = listening.split("issuer_thumbprints='")[1].split("'")[0]
        assert set(advertised.split(",")) == expected
    finally:
        daemon.stop()


@pytest.mark.parametrize("pin", ["thumbprint", "file", "thumbprint-with-colons"])
def test_pinned_issuing_ca_admits_only_its_clients_and_is_what_is_advertised(tmp_path, certs, port,
                                                                             sibling_ca_dir, pin):
    pki = certs["dir"]
    client_ca = thumbprint_of(pki / "client-ca.crt")
    sibling_ca = thumbprint_of(pki / "sibling-ca.crt")
    tls_extra = {
        "thumbprint": f'issuer-thumbprints("{client_ca}")',
        "file": f'issuer-file("{pki}/client-ca.crt")',
        "thumbprint-with-colons": 'issuer-thumbprints("{}")'.format(
            ":".join(client_ca[i:i + 2] for i in range(0, 40, 2)).lower()),
    }[pin]
    daemon = start_collector(tmp_path, certs, port, tls_extra=tls_extra, ca_dir=sibling_ca_dir)
    try:
        assert issuer_thumbprints_offered(certs, port) == {client_ca}
        assert f"issuer_thumbprints='{client_ca}'" in wait_log(daemon, "windowsevent: listening")[0]
        # the sibling CA is loaded (a trusted CA) but not pinned: its win01 is refused
        before = len(log_lines(daemon, HANDSHAKE_LINES))
        assert tls_status(pki, port, *client_files(certs, "win01.corp.example-sibling")) is None
        refused_once(daemon, before, ["TLS handshake refused", "/CN=win01.corp.example",
                                      f"its issuing CA /CN=WEC Sibling Issuing CA (thumbprint {sibling_ca}) "
                                      "is not a pinned issuing CA", f"accepted issuing CAs: {client_ca}"])
        # ... also when it sends its CA along
        before += 1
        assert tls_status(pki, port, *client_files(certs, "win01.corp.example-sibling-chain")) is None
        refused_once(daemon, before, ["is not a pinned issuing CA"])
        # the pinned CA's clients keep working
        with forwarder(certs, port, "win02.corp.example") as fw:
            assert fw.enumerate()[0] == 200
    finally:
        daemon.stop()


def test_two_pins_admit_both_cas_and_both_are_advertised(tmp_path, certs, port, sibling_ca_dir):
    pki = certs["dir"]
    expected = {thumbprint_of(pki / "client-ca.crt"), thumbprint_of(pki / "sibling-ca.crt")}
    tls_extra = (f'issuer-thumbprints("{thumbprint_of(pki / "client-ca.crt")}") '
                 f'issuer-file("{pki}/sibling-ca.crt")')
    daemon = start_collector(tmp_path, certs, port, tls_extra=tls_extra, ca_dir=sibling_ca_dir)
    try:
        assert issuer_thumbprints_offered(certs, port) == expected
        assert tls_status(pki, port, *client_files(certs, "win01.corp.example-sibling")) is not None
    finally:
        daemon.stop()


@pytest.mark.parametrize("crl_option", ["crl-dir", "crl-file"])
def test_revoked_certificate_is_refused_with_its_serial_and_others_of_the_ca_still_work(tmp_path, certs, port,
                                                                                       crl_option):
    pki = certs["dir"]
    if crl_option == "crl-dir":
        tls_extra = f'crl-dir("{pki}/crl.d")'
    else:
        bundle = tmp_path / "crls.pem"
        bundle.write_bytes((pki / "crl" / "root-ca.crl.pem").read_bytes() +
                           (pki / "crl" / "client-ca.crl.pem").read_bytes())
        tls_extra = f'crl-file("{bundle}")'
    daemon = start_collector(tmp_path, certs, port, tls_extra=tls_extra)
    try:
        revoked_cert = pki / "clients" / "revoked.corp.example-revoked.crt"
        serial = subprocess.run(["openssl", "x509", "-in", str(revoked_cert), "-noout", "-serial"],
                                check=True, capture_output=True, text=True).stdout.strip().split("=")[1]
        before = len(log_lines(daemon, HANDSHAKE_LINES))
        assert tls_status(pki, port, *client_files(certs, "revoked.corp.example-revoked")) is None
        refused_once(daemon, before, ["TLS handshake refused", "/CN=revoked.corp.example", f"serial {serial}",
                                      "rejected: certificate revoked", "on the CRL of /CN=WEC Client Issuing CA"])
        # a certificate of the same CA that is not on the CRL
        with forwarder(certs, port, "win02.corp.example") as fw:
            assert fw.enumerate()[0] == 200
        assert not log_lines(daemon, "have no CRL")  # both CAs of the chain are covered
    finally:
        daemon.stop()


@pytest.mark.parametrize("case", ["no CRL from the root", "expired CRL"])
def test_revocation_checking_fails_closed(tmp_path, certs, port, case):
    # Decided: with revocation checking on, a chain whose CA has no CRL, or only an expired one,
    # is refused (with a warning at startup that says which CA is affected).
    pki = certs["dir"]
    bundle = tmp_path / "crls.pem"
    if case == "no CRL from the root":
        bundle.write_bytes((pki / "crl" / "client-ca.crl.pem").read_bytes())
        startup, reason = "these CAs have no CRL", "unable to get certificate CRL"
        detail = "(CA certificate /CN=WEC Client Issuing CA"
    else:
        bundle.write_bytes((pki / "crl" / "root-ca.crl.pem").read_bytes() +
                           (pki / "crl" / "client-ca-expired.crl.pem").read_bytes())
        startup, reason, detail = "CRL has expired", "CRL has expired", "has passed its nextUpdate"
    daemon = start_collector(tmp_path, certs, port, tls_extra=f'crl-file("{bundle}")')
    try:
        assert len(wait_log(daemon, startup)) == 1
        before = len(log_lines(daemon, HANDSHAKE_LINES))
        assert tls_status(pki, port, *client_files(certs, "win02.corp.example")) is None
        refused_once(daemon, before, ["/CN=win02.corp.example", reason, detail])
    finally:
        daemon.stop()


def own_pki(tmp_path):
    """A PKI of its own (EC keys: fast) for tests that change the CRLs."""
    directory = tmp_path / "pki"
    thumbprint = make_certs(directory, clients=["win01.corp.example", "win02.corp.example"],
                            extra=["--key-type", "ec", "--crl"])
    return {"dir": directory, "thumbprint": thumbprint}


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


def test_crl_replaced_while_running_takes_effect_without_restart(tmp_path, port):
    pki_certs = own_pki(tmp_path)
    pki = pki_certs["dir"]
    daemon = start_collector(tmp_path, pki_certs, port, tls_extra=f'crl-dir("{pki}/crl.d") crl-reload-interval(1)')
    try:
        win02 = client_files(pki_certs, "win02.corp.example")
        assert tls_status(pki, port, *win02) is not None
        # the CA revokes win02 and publishes its new CRL (written beside, renamed into place)
        make_certs(pki, extra=["--key-type", "ec", "--revoke", "win02.corp.example"])
        started = time.monotonic()
        assert wait_until(lambda: tls_status(pki, port, *win02) is None, 15), "the new CRL was not applied"
        assert time.monotonic() - started < 15
        assert len(wait_log(daemon, "windowsevent: CRLs reloaded")) >= 1
        assert "certificate revoked" in log_lines(daemon, "TLS handshake refused")[-1]
        assert daemon.alive()
        with forwarder(pki_certs, port, "win01.corp.example") as fw:
            assert fw.enumerate()[0] == 200
    finally:
        daemon.stop()


def test_crl_that_fails_to_load_after_a_change_keeps_the_previous_ones(tmp_path, port):
    pki_certs = own_pki(tmp_path)
    pki = pki_certs["dir"]
    make_certs(pki, extra=["--key-type", "ec", "--revoke", "win02.corp.example"])
    daemon = start_collector(tmp_path, pki_certs, port, tls_extra=f'crl-dir("{pki}/crl.d") crl-reload-interval(1)')
    try:
        win02 = client_files(pki_certs, "win02.corp.example")
        assert tls_status(pki, port, *win02) is None
        # a damaged CRL replaces the good one (by rename, as a publisher would)
        staged = pki / "crl.d" / ".client-ca.crl.pem.new"
        staged.write_text("-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n")
        staged.rename(pki / "crl.d" / "client-ca.crl.pem")
        lines = wait_log(daemon, "changed CRL files not loaded", timeout=15)
        assert len(lines) == 1 and "client-ca.crl.pem" in lines[0], lines
        time.sleep(3)  # three more checks: the same broken file is reported once
        assert len(log_lines(daemon, "changed CRL files not loaded")) == 1
        assert tls_status(pki, port, *win02) is None  # still revoked: the previous CRLs stay
        with forwarder(pki_certs, port, "win01.corp.example") as fw:
            assert fw.enumerate()[0] == 200
    finally:
        daemon.stop()
