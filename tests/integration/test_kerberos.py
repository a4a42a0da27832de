"""Kerberos on HTTP beside HTTPS, against a real MIT KDC on loopback: Windows' raw "Kerberos"
scheme and Negotiate, message encryption both ways with and without tabs, Kerberos and
certificate forwarders on one source at once, and an actionable log line for every failure."""
import base64
import collections
import os
import subprocess
import sys

import pytest

import wef_forwarder as wef
from loopback_kdc import LoopbackKdc
from wec_harness import (CORPUS, REPO, SyslogNg, event_field, json_file_config, read_json_lines, subscription_block,
                         wait_for_lines)

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
        for machine in KERBEROS_MACHINES:
            short = machine.split(".")[0].upper()
            kdc.add_principal(f"{short}$")
            kdc.keytab(directory / f"{machine}.keytab", f"{short}$")
        keytab = directory / "wec.keytab"
        kdc.keytab(keytab, "HTTP/localhost", "HOST/localhost", "HTTP/stale.wec.test")
        # A keytab missing the AES256 key the KDC issues tickets with: export, drop that entry.
        single = directory / "aes128.keytab"
        kdc.keytab(single, "HTTP/aes128.wec.test")
        listing = subprocess.run(["klist", "-ke", str(single)], env=dict(os.environ, **kdc.env), capture_output=True,
                                 text=True, timeout=30, check=True).stdout.splitlines()
        entries = [line for line in listing if "@" in line]
        slot = 1 + next(i for i, line in enumerate(entries) if "aes256" in line)
        subprocess.run(["ktutil"], input=f"rkt {single}\ndelent {slot}\nwkt {keytab}\nquit\n", text=True,
                       env=dict(os.environ, **kdc.env), check=True, timeout=30, capture_output=True)
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
