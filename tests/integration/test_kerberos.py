"""Kerberos on HTTP beside HTTPS, against a real MIT KDC on loopback: Windows' raw "Kerberos"
scheme and Negotiate, message encryption both ways with and without tabs, Kerberos and
certificate forwarders on one source at once, and an actionable log line for every failure."""
import base64
import collections
import os
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest

import wef_forwarder as wef
from loopback_kdc import LoopbackKdc
from wec_harness import (CORPUS, REPO, SyslogNg, event_field, free_port, json_file_config, make_certs,
                         read_json_lines, subscription_block, wait_for_lines, wait_for_port)

KERBEROS_MACHINES = ["win01.wec.test", "win02.wec.test"]
EVENTS_PER_STREAM = 5000
SERVICE_HOSTS = ["localhost", "stale.wec.test", "aes128.wec.test"]


@pytest.fixture(scope="module")
def kdc(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kdc")
    with LoopbackKdc(directory) as kdc:
        for host in SERVICE_HOSTS + ["unknown.wec.test"]:
            kdc.add_principal(f"HTTP/{host}")
        kdc.add_principal("HOST/localhost")
        kdc.add_principal("alice")  # a user, not a computer
        kdc.keytab(directory / "alice.keytab", "alice")
        for machine in KERBEROS_MACHINES:
            short = machine.split(".")[0].upper()
            kdc.add_principal(f"{short}$")
            kdc.keytab(directory / f"{machine}.keytab", f"{short}$")
        keytab = directory / "wec.keytab"
        kdc.keytab(keytab, "HTTP/localhost", "HOST/localhost", "HTTP/stale.wec.test")
        # HTTP/aes128.wec.test without the AES256 key the KDC issues tickets with: only AES128.
        single = kdc.keytab(directory / "aes128.keytab", "HTTP/aes128.wec.test")
        kdc.filter_keytab(single, keytab, ["aes128-cts-hmac-sha1-96"])
        kdc.change_key("HTTP/stale.wec.test")  # the keytab now holds an old key version
        os.environ["KRB5_CONFIG"] = kdc.env["KRB5_CONFIG"]  # for the simulator in this process
        yield {"kdc": kdc, "dir": directory, "keytab": keytab}


@pytest.fixture
def collector(tmp_path, certs, kdc):
    https_port, kerberos_port = [__import__("wec_harness").free_port() for _ in range(2)]
    pki = certs["dir"]
    source = (f'windowsevent(ip("127.0.0.1") hostname("localhost") '
              f'kerberos(keytab("{kdc["keytab"]}") port({kerberos_port})) '
              f'tls(port({https_port}) key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d")) '
              f'{subscription_block("security", ["*.corp.example", "*.wec.test"])} log-iw-size(4000))')
    output = tmp_path / "events.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(source, output))
    daemon.start(port=kerberos_port, env=kdc["kdc"].env)
    yield {"daemon": daemon, "output": output, "https": https_port, "kerberos": kerberos_port}
    daemon.stop()


def kerberos_forwarder(kdc, port, machine="win01.wec.test", host="localhost", **options):
    short = machine.split(".")[0].upper()
    client = wef.KerberosClient(str(kdc["dir"] / f"{machine}.keytab"), f"{short}$", **options)
    return wef.Forwarder(f"http://{host}:{port}/wsman/SubscriptionManager/WEC", machine=machine, kerberos=client,
                         connect_host="127.0.0.1")


def log_lines(daemon, needle):
    return [line for line in daemon.internal_log().splitlines() if needle in line]


def test_two_kerberos_and_one_certificate_forwarder_at_once_every_event_once(collector, kdc, certs):
    pki = certs["dir"]
    results = {}

    def kerberos_run(machine, scheme, tabs):
        short = machine.split(".")[0].upper()
        results[machine] = wef.run_machine(
            f"http://localhost:{collector['kerberos']}/wsman/SubscriptionManager/WEC", machine, None, None, None,
            str(CORPUS), total_events=EVENTS_PER_STREAM, batch_size=250, retry_interval=0.5, max_retries=5,
            deadline=300, client_keytab=str(kdc["dir"] / f"{machine}.keytab"), principal=f"{short}$",
            scheme=scheme, tabs=tabs, connect_host="127.0.0.1")

    def certificate_run():
        results["win03.corp.example"] = wef.run_machine(
            f"https://localhost:{collector['https']}/wsman/SubscriptionManager/WEC", "win03.corp.example",
            str(pki / "clients" / "win03.corp.example.crt"), str(pki / "clients" / "win03.corp.example.key"),
            str(pki / "ca-bundle.crt"), str(CORPUS), total_events=EVENTS_PER_STREAM, batch_size=250,
            retry_interval=0.5, max_retries=5, deadline=300)

    import threading
    threads = [threading.Thread(target=kerberos_run, args=("win01.wec.test", "Kerberos", False)),
               threading.Thread(target=kerberos_run, args=("win02.wec.test", "Negotiate", True)),
               threading.Thread(target=certificate_run)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(400)
    for machine, result in results.items():
        assert result.ok, (machine, result.error)
        assert result.events_acked == EVENTS_PER_STREAM
    assert len(results) == 3
    total = 3 * EVENTS_PER_STREAM
    assert wait_for_lines(collector["output"], total, 60) == total

    seen = collections.Counter()
    for r in read_json_lines(collector["output"]):
        seen[(r["_wec"]["identity"], event_field(r, "System", "Computer"), event_field(r, "System", "EventRecordID"))] += 1
    identities = {"WIN01$@WEC.TEST": "win01.wec.test", "WIN02$@WEC.TEST": "win02.wec.test",
                  "win03.corp.example": "win03.corp.example"}
    expected = {(identity, computer, str(seq)) for identity, computer in identities.items()
                for seq in range(1, EVENTS_PER_STREAM + 1)}
    assert set(seen) == expected
    assert all(count == 1 for count in seen.values())


def test_enumerate_heartbeat_subscription_end_and_new_context_per_connection(collector, kdc):
    with kerberos_forwarder(kdc, collector["kerberos"]) as fw:
        status, subs, _ = fw.enumerate()
        assert status == 200
        sub = subs[0]
        assert sub.notify_to.startswith(f"http://localhost:{collector['kerberos']}/wsman/subscriptions/")
        assert wef.PROFILE_HTTP_KERBEROS in sub.auth_profiles and not sub.thumbprints
        assert not wef.validate_subscription(sub, False, None, kerberos=True)
        assert fw.end()[0] == 204
        fw.check_ack(*fw.heartbeat(sub))
        fw.close()  # a new TCP connection must authenticate again with a new context
        fw.check_ack(*fw.heartbeat(sub))
        fw.check_ack(*fw.send_events(sub, CORPUS.read_text(encoding="utf-8").splitlines()[:3],
                                     wef.format_bookmark("Security", 3)))
        status, body = fw.subscription_end(sub, with_fault=True, status=wef.STATUS_SOURCE_CANCELLING)
        fw.check_ack(status, body)
        assert fw.handshakes >= 3
    assert log_lines(collector["daemon"], "forwarder ended its subscription")
    records = read_json_lines(collector["output"])
    assert [r["_wec"]["identity"] for r in records] == ["WIN01$@WEC.TEST"] * 3


def test_host_spn_of_windows_server_2025_is_accepted(collector, kdc):
    with kerberos_forwarder(kdc, collector["kerberos"], spn="HOST/localhost") as fw:
        assert fw.enumerate()[0] == 200


def test_missing_credentials_get_401_with_both_schemes(collector, kdc):
    with kerberos_forwarder(kdc, collector["kerberos"]) as fw:
        status, headers, _ = fw.authenticate(authorization=None, body=wef.encode_body("<x/>"))
        assert status == 401
        offered = [v for k, v in headers if k.lower() == "www-authenticate"]
        assert "Kerberos" in offered and "Negotiate" in offered


@pytest.mark.parametrize("host,needle,extra", [
    ("stale.wec.test", "key version", ["HTTP/stale.wec.test"]),
    ("aes128.wec.test", "aes256-cts-hmac-sha1-96", ["aes128-cts-hmac-sha1-96"]),
    ("unknown.wec.test", "HTTP/unknown.wec.test", []),
])
def test_keytab_problems_get_401_and_an_actionable_line(collector, kdc, host, needle, extra):
    with kerberos_forwarder(kdc, collector["kerberos"], host=host) as fw:
        status, headers, _ = fw.authenticate()
        assert status == 401
    lines = log_lines(collector["daemon"], "Kerberos authentication failed")
    assert len(lines) == 1, lines
    assert needle in lines[0] and "peer='127.0.0.1:" in lines[0]
    for word in extra:
        assert word in lines[0]
    if host == "stale.wec.test":
        kvno = kdc["kdc"].kvno("HTTP/stale.wec.test")
        assert str(kvno) in lines[0] and str(kvno - 1) in lines[0], lines[0]
    # the listener keeps serving good clients
    with kerberos_forwarder(kdc, collector["kerberos"]) as fw:
        assert fw.enumerate()[0] == 200


def test_clock_skew_is_named(collector, kdc, tmp_path):
    # The service ticket is fetched at the true time (the KDC checks skew too); only the
    # forwarder's authenticator is then made 20 minutes in the future with libfaketime.
    ccache = f"FILE:{tmp_path}/ccache"
    env = dict(os.environ, **kdc["kdc"].env, KRB5CCNAME=ccache)
    subprocess.run(["kinit", "-k", "-t", str(kdc["dir"] / "win01.wec.test.keytab"), "WIN01$"], env=env, check=True,
                   timeout=30)
    subprocess.run(["kvno", "HTTP/localhost"], env=env, check=True, timeout=30, capture_output=True)
    cmd = ["faketime", "-f", "+20m", "/usr/bin/python3", str(REPO / "tests/simulator/wef_forwarder.py"),
           "--url", f"http://localhost:{collector['kerberos']}/wsman/SubscriptionManager/WEC",
           "--kerberos", "--machine", "win01.wec.test", "--connect-host", "127.0.0.1", "--total-events", "1",
           "--max-retries", "1", "--retry-interval", "0.1", "--deadline", "20", "-q"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = log_lines(collector["daemon"], "Kerberos authentication failed")
    assert lines and "clock skew" in lines[0].lower(), (lines, result.stderr[-2000:])


def test_bad_bodies_and_foreign_schemes_are_refused(collector, kdc):
    daemon = collector["daemon"]
    enumerate_text = wef.build_enumerate(f"http://localhost:{collector['kerberos']}/wsman/SubscriptionManager/WEC",
                                         "win01.wec.test")
    with kerberos_forwarder(kdc, collector["kerberos"]) as fw:
        status, _, _ = fw.send_corrupted(None, enumerate_text)
        assert status == 400
        assert log_lines(daemon, "encrypted request body refused")
        status, _, _ = fw.send_plain(None, enumerate_text)
        assert status == 400
        assert log_lines(daemon, "unencrypted request on a Kerberos connection refused")
        status, _, _ = fw.send_encrypted(None, enumerate_text, length=10)
        assert status == 400
        assert fw.enumerate()[0] == 200  # the connection still works

        ntlm = base64.b64encode(b"NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2" + b"\x00" * 16).decode()
        status, _, _ = fw.authenticate(authorization=f"Negotiate {ntlm}")
        assert status == 401
        assert "NTLM" in log_lines(daemon, "Kerberos authentication failed")[-1]

        status, _, _ = fw.authenticate(authorization="Basic dXNlcjpwYXNz")
        assert status == 401
        assert log_lines(daemon, "unsupported HTTP authentication scheme")

        big = base64.b64encode(os.urandom(45 * 1024)).decode()  # a 60 KB header, like a large PAC
        status, _, _ = fw.authenticate(authorization=f"Kerberos {big}")
        assert status == 401, "a 60 KB Authorization header must reach the Kerberos layer"


def test_bad_keytabs_are_reported_by_syntax_check_and_at_startup(tmp_path, kdc):
    garbage = tmp_path / "garbage.keytab"
    garbage.write_bytes(os.urandom(64))
    empty = tmp_path / "empty.keytab"
    empty.write_bytes(b"\x05\x02")
    for keytab in (garbage, empty):
        config = json_file_config(
            f'windowsevent(kerberos(keytab("{keytab}")) {subscription_block("s", ["*"])})', tmp_path / "o.json")
        result = SyslogNg(tmp_path / keytab.stem, config).syntax_check(env=kdc["kdc"].env)
        assert result.returncode != 0
        assert "keytab" in result.stderr and str(keytab) in result.stderr, result.stderr


def kerberos_source(kdc, port, computers, extra=""):
    return (f'windowsevent(ip("127.0.0.1") hostname("localhost") kerberos(keytab("{kdc["keytab"]}") port({port})) '
            f'{subscription_block("security", computers)} {extra})')


def test_a_user_principal_is_not_admitted_by_a_host_name_glob(tmp_path, kdc):
    """Host names are derived from machine accounts only: "a*" once admitted alice@WEC.TEST."""
    port = free_port()
    daemon = SyslogNg(tmp_path / "s", json_file_config(kerberos_source(kdc, port, ["a*", "win01.wec.test"]),
                                                       tmp_path / "o.json"))
    daemon.start(port=port, env=kdc["kdc"].env)
    try:
        alice = wef.KerberosClient(str(kdc["dir"] / "alice.keytab"), "alice")
        with wef.Forwarder(f"http://localhost:{port}/wsman/SubscriptionManager/WEC", machine="alice",
                           kerberos=alice, connect_host="127.0.0.1") as fw:
            assert fw.enumerate()[0] == 403
        with kerberos_forwarder(kdc, port) as fw:  # WIN01$@WEC.TEST: its FQDN win01.wec.test
            assert fw.enumerate()[0] == 200
    finally:
        daemon.stop()
    assert "identity='alice@WEC.TEST'" in log_lines(daemon, "identity matches no subscription")[0]


def test_a_certificate_named_like_a_principal_never_gets_the_principals_bookmark(tmp_path, kdc):
    """Bookmarks are kept per authentication method and identity: a certificate whose CN is
    'WIN01$@WEC.TEST' (any CA may issue such a name) must not learn or move the Kerberos machine's
    position."""
    pki = tmp_path / "pki"
    make_certs(pki)
    name = "WIN01$@WEC.TEST"
    (pki / "clients").mkdir(exist_ok=True)
    (tmp_path / "ext.cnf").write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                    "-keyout", str(pki / "clients" / f"{name}.key"), "-out", str(tmp_path / "req.csr")],
                   check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "x509", "-req", "-in", str(tmp_path / "req.csr"), "-CA", str(pki / "client-ca.crt"),
                    "-CAkey", str(pki / "client-ca.key"), "-set_serial", "4242", "-days", "30",
                    "-extfile", str(tmp_path / "ext.cnf"), "-out", str(pki / "clients" / f"{name}.crt")],
                   check=True, capture_output=True, timeout=60)
    https_port, kerberos_port = free_port(), free_port()
    source = (f'windowsevent(ip("127.0.0.1") hostname("localhost") '
              f'kerberos(keytab("{kdc["keytab"]}") port({kerberos_port})) '
              f'tls(port({https_port}) key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d")) '
              f'{subscription_block("security", ["*$@WEC.TEST"])})')
    daemon = SyslogNg(tmp_path / "s", json_file_config(source, tmp_path / "o.json"))
    daemon.start(port=kerberos_port, env=kdc["kdc"].env)
    event = CORPUS.read_text(encoding="utf-8").splitlines()[0]
    try:
        with kerberos_forwarder(kdc, kerberos_port) as fw:
            _, subs, _ = fw.enumerate()
            fw.check_ack(*fw.send_events(subs[0], [event], wef.format_bookmark("Security", 4242)))
        with wef.Forwarder(f"https://localhost:{https_port}/wsman/SubscriptionManager/WEC",
                           str(pki / "clients" / "WIN01$@WEC.TEST.crt"), str(pki / "clients" / "WIN01$@WEC.TEST.key"),
                           str(pki / "ca-bundle.crt"), "WIN01$@WEC.TEST") as fw:
            status, subs, _ = fw.enumerate()
            assert status == 200 and subs[0].bookmark_xml is None  # not the Kerberos machine's 4242
            fw.check_ack(*fw.send_events(subs[0], [event], wef.format_bookmark("Security", 1)))
        with kerberos_forwarder(kdc, kerberos_port) as fw:
            _, subs, _ = fw.enumerate()
            assert 'RecordId="4242"' in subs[0].bookmark_xml  # untouched by the certificate
    finally:
        daemon.stop()


def test_replayed_and_reordered_encrypted_bodies_are_refused(tmp_path, kdc):
    port = free_port()
    output = tmp_path / "o.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(kerberos_source(kdc, port, ["*.wec.test"]), output))
    daemon.start(port=port, env=kdc["kdc"].env)
    events = CORPUS.read_text(encoding="utf-8").splitlines()[:3]
    try:
        with kerberos_forwarder(kdc, port) as fw:
            _, subs, _ = fw.enumerate()
            sub = subs[0]
            conn = fw.connection(sub.notify_to, "delivery")
            fw.check_ack(*fw.heartbeat(sub))  # authenticates the delivery connection
            text = wef.build_events(sub.notify_to, fw.machine, events, wef.format_bookmark("Security", 3),
                                    **fw._delivery_args(sub, sub.notify_to))
            wire, content_type = conn.wef_krb.encrypt(wef.encode_body(text))
            post = lambda body: fw.raw_post(sub.notify_to, body, headers=[("Content-Type", content_type)],
                                            conn=conn)[0]
            # the same encrypted body twice on one connection: a replay
            assert post(wire) == 200
            assert post(wire) == 400
            assert "is a replay of an earlier message" in log_lines(daemon, "encrypted request body refused")[-1]

            # two bodies encrypted in order, sent in the other order (the first never arrives first)
            fw.check_ack(*fw.heartbeat(sub))  # a new connection and context after the refusal
            first, _ = conn.wef_krb.encrypt(wef.encode_body(text))
            second, _ = conn.wef_krb.encrypt(wef.encode_body(text))
            assert post(second) == 400
            assert "follows a gap" in log_lines(daemon, "encrypted request body refused")[-1]
    finally:
        daemon.stop()
    assert wait_for_lines(output, 3, 10) == 3
    time.sleep(0.5)
    assert len(read_json_lines(output)) == 3  # the replayed batch was not delivered again


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_unauthenticated_bodies_are_refused_before_they_are_read(tmp_path, kdc):
    """The review: 150 connections without Authorization, each sending all but the last byte of a
    1 MB body, took RSS from 17 MB to 252 MB. Now the 401 comes with the headers and the body is
    never read. 1,000 such connections from ten addresses, then 150 idle ones from one address (the
    50 past max-connections-per-ip()'s default of 100 are refused at accept), while a Kerberos
    forwarder sends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    port = free_port()
    output = tmp_path / "o.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(kerberos_source(kdc, port, ["*.wec.test"]), output))
    daemon.start(port=port, env=kdc["kdc"].env)
    body_size = 1024 * 1024
    head = (f"POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: localhost:{port}\r\n"
            f"Content-Type: application/soap+xml;charset=UTF-16\r\nContent-Length: {body_size}\r\n\r\n").encode()
    chunk = b"<\x00" * (body_size // 2 - 1) + b"<"
    result = {}

    def forwarder():
        result["run"] = wef.run_machine(
            f"http://localhost:{port}/wsman/SubscriptionManager/WEC", "win01.wec.test", None, None, None,
            str(CORPUS), total_events=3000, batch_size=20, retry_interval=0.5, max_retries=10, deadline=120,
            client_keytab=str(kdc["dir"] / "win01.wec.test.keytab"), principal="WIN01$", connect_host="127.0.0.1")

    sockets = []
    peak = before = rss_kib(daemon.proc.pid)
    sender = threading.Thread(target=forwarder)
    try:
        sender.start()
        for n in range(1000):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + n // 100}", 0))
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(head)
                s.setblocking(False)
                s.send(chunk)  # as much as the kernel takes; the server may have answered already
            except OSError:
                pass
            sockets.append(s)
            if n % 100 == 99:
                peak = max(peak, rss_kib(daemon.proc.pid))
        time.sleep(1)
        peak = max(peak, rss_kib(daemon.proc.pid))
        # connections that stay open (idle) count against max-connections-per-ip(): 150 from one address
        for n in range(150):
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.12", 0))
            sockets.append(s)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not log_lines(daemon, "too many connections from one address"):
            time.sleep(0.1)
        sender.join(150)
    finally:
        for s in sockets:
            s.close()
        daemon.stop()
    print(f"VmRSS {before} KiB before, at most {peak} KiB with 1,150 unauthenticated uploads")
    assert result["run"].ok and result["run"].events_acked == 3000, result["run"].error
    # growth, not the absolute figure: the sanitizers' shadow memory raises the baseline
    assert peak - before < 48 * 1024
    refused = log_lines(daemon, "connection refused, too many connections from one address")
    assert refused and "peer='127.0.0.12'" in refused[0] and "limit='100'" in refused[0]
