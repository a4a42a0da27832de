"""Collector nodes behind a real HAProxy in TCP mode (TLS ends on the node): with proxy-protocol(yes)
the node reads the PROXY header HAProxy writes (send-proxy-v2, send-proxy), so `.wec.peer`, the log
lines and max-connections-per-ip() see the forwarder's own address while its client certificate
still authenticates it (and Kerberos on the HTTP listener); connections from elsewhere or without the header are refused with one log
line each while the good forwarder's events keep flowing; and two nodes with the same
configuration advertise the same subscriptions, so either node serves any forwarder."""
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

import wef_forwarder as wef
from loopback_kdc import LoopbackKdc
from wec_harness import (CORPUS, SyslogNg, free_port, json_file_config, read_json_lines, subscription_block,
                         wait_for_lines, wait_for_port, windowsevent_source)

MANAGER_PATH = "/wsman/SubscriptionManager/WEC"
BALANCER = "127.0.0.1"   # HAProxy listens and connects from here: the only address in proxy-from()
FORWARDER = "127.0.0.7"  # the forwarder's own address, which the node must see
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"  # Debian's package, from tools/install-deps.sh


class Haproxy:
    """A real HAProxy in the foreground with its own configuration, on loopback."""

    def __init__(self, workdir, config_text, ports):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "haproxy.cfg"
        self.config.write_text(config_text)
        self.log = self.workdir / "haproxy.log"
        self.ports = ports
        self.proc = None

    def start(self):
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.config)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.config)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        for port in self.ports:
            wait_for_port(port, 20, host=BALANCER)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def haproxy_config(sections):
    # Health checks every 500 ms: plain TCP checks, which carry a PROXY v2 LOCAL header with send-proxy-v2.
    return f"""global
    maxconn 500
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    default-server check inter 500ms source {BALANCER}
{sections}
"""


def listen_section(name, port, servers, send_proxy="send-proxy-v2"):
    lines = [f"listen {name}", f"    bind {BALANCER}:{port}", "    balance roundrobin"]
    lines += [f"    server {server_name} {address}:{port_} {send_proxy}" for server_name, address, port_ in servers]
    return "\n".join(lines) + "\n"


def node(tmp_path, name, certs, address, port, extra="", tls_extra="proxy-protocol(yes)"):
    """A syslog-ng collector node on `address`:`port`, taking the PROXY protocol from the balancer."""
    subscriptions = [subscription_block("security", ["*.corp.example"]),
                     subscription_block("system", ["win0?.corp.example"],
                                        query="<QueryList><Query Id='0'><Select Path='System'>*</Select></Query>"
                                              "</QueryList>")]
    source = windowsevent_source(port, certs["dir"], subscriptions, ip=address, tls_extra=tls_extra,
                                 extra=f'proxy-from("{BALANCER}" "10.0.0.0/8") log-repeat-interval(600) {extra}')
    output = tmp_path / f"{name}.json"
    daemon = SyslogNg(tmp_path / name, json_file_config(source, output))
    return daemon, output


def forwarder(certs, port, machine="win01.corp.example", source=FORWARDER, connect_port=None):
    """A forwarder that reaches the collector through the balancer, from its own loopback address."""
    pki = certs["dir"]
    return wef.Forwarder(f"https://localhost:{port}{MANAGER_PATH}", str(pki / "clients" / f"{machine}.crt"),
                         str(pki / "clients" / f"{machine}.key"), str(pki / "ca-bundle.crt"), machine,
                         connect_host=BALANCER, connect_port=connect_port, source_address=(source, 0))


def first_event():
    return CORPUS.read_text(encoding="utf-8").splitlines()[0]


def local_port(fw, url):
    return fw.connection(url).sock.getsockname()[1]


def closed_by_peer(sock):
    """The node closed the connection: EOF, or a reset when it closed with our bytes unread."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def log_lines(daemon, needle):
    return [line for line in daemon.internal_log().splitlines() if needle in line]


def wait_log(daemon, needle, count=1, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(log_lines(daemon, needle)) < count:
        time.sleep(0.1)
    return log_lines(daemon, needle)


@pytest.fixture
def cluster(tmp_path, certs):
    """One node on 127.0.0.2 behind HAProxy on 127.0.0.1, both on the same port: the delivery address
    the node advertises (https://localhost:<port>/...) leads through the balancer as in production."""
    started = []

    def start(send_proxy="send-proxy-v2", extra=""):
        port = free_port()
        daemon, output = node(tmp_path, "n1", certs, "127.0.0.2", port, extra=extra)
        daemon.start(port=port, host="127.0.0.2")
        started.append(daemon)
        balancer = Haproxy(tmp_path / "haproxy",
                           haproxy_config(listen_section("wec", port, [("n1", "127.0.0.2", port)], send_proxy)),
                           [port])
        started.append(balancer.start())
        return port, daemon, output

    yield start
    for process in reversed(started):
        process.stop()


@pytest.mark.parametrize("send_proxy", ["send-proxy-v2", "send-proxy"])
def test_peer_is_the_forwarder_and_its_certificate_still_authenticates(cluster, certs, send_proxy):
    port, daemon, output = cluster(send_proxy)
    with forwarder(certs, port) as fw:
        status, subs, _ = fw.enumerate()
        assert status == 200 and sorted(s.name for s in subs) == ["security", "system"]
        sub = next(s for s in subs if s.name == "security")
        assert sub.notify_to.startswith(f"https://localhost:{port}/wsman/subscriptions/")
        fw.check_ack(*fw.send_events(sub, [first_event()], wef.format_bookmark("Security", 1)))
        peer = f"{FORWARDER}:{local_port(fw, sub.notify_to)}"
    assert wait_for_lines(output, 1, 20) == 1
    record = read_json_lines(output)[0]
    assert record["_wec"]["peer"] == peer            # not HAProxy's 127.0.0.1
    assert record["_wec"]["identity"] == "win01.corp.example"
    # HAProxy's health checks (send-proxy-v2: a LOCAL header, then close) ran all along: no line.
    time.sleep(1.5)  # three check intervals, for lines that would have to appear
    log = daemon.internal_log()
    for noise in ("PROXY", "TLS handshake failed", "connection refused"):
        assert noise not in log, log[-3000:]


def test_refusals_one_line_each_while_events_keep_flowing(cluster, certs):
    port, daemon, output = cluster()
    batches, per_batch = 30, 5
    errors = []

    def good_forwarder():
        try:
            with forwarder(certs, port) as fw:
                _, subs, _ = fw.enumerate()
                sub = next(s for s in subs if s.name == "security")
                for batch in range(batches):
                    fw.check_ack(*fw.send_events(sub, [first_event()] * per_batch,
                                                 wef.format_bookmark("Security", batch + 1)))
                    time.sleep(0.05)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=good_forwarder)
    thread.start()
    try:
        # Straight to the node from an address outside proxy-from(), with a PROXY header of its own.
        with socket.create_connection(("127.0.0.2", port), timeout=10, source_address=("127.0.0.9", 0)) as raw:
            raw.sendall(b"PROXY TCP4 10.9.9.9 127.0.0.2 1234 5986\r\n")
            assert closed_by_peer(raw)
        refused = wait_log(daemon, "its address is not in proxy-from()")
        assert len(refused) == 1 and "peer='127.0.0.9:" in refused[0], refused
        assert "proxy_from='127.0.0.1 10.0.0.0/8'" in refused[0]

        # From an allowed address, without the header: a TLS client that bypasses the balancer.
        context = ssl.create_default_context(cafile=str(certs["dir"] / "ca-bundle.crt"))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with socket.create_connection(("127.0.0.2", port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost"):
                    pass
        missing = wait_log(daemon, "no valid PROXY header")
        assert len(missing) == 1 and "TLS handshake" in missing[0] and "send-proxy-v2" in missing[0], missing
    finally:
        thread.join(120)
    assert not thread.is_alive() and not errors, errors
    assert wait_for_lines(output, batches * per_batch, 30) == batches * per_batch
    assert {r["_wec"]["peer"].split(":")[0] for r in read_json_lines(output)} == {FORWARDER}
    time.sleep(1)  # the refused connections' close, and a check interval, for lines that would have to appear
    assert len(log_lines(daemon, "its address is not in proxy-from()")) == 1
    assert len(log_lines(daemon, "no valid PROXY header")) == 1
    assert "TLS handshake failed" not in daemon.internal_log()


def test_per_address_limit_counts_forwarders_not_the_balancer(cluster, certs):
    port, daemon, _ = cluster(extra="max-connections-per-ip(2)")
    held = [socket.create_connection((BALANCER, port), timeout=10, source_address=(FORWARDER, 0)) for _ in range(3)]
    try:
        lines = wait_log(daemon, "too many connections from one address")
        assert len(lines) == 1 and f"peer='{FORWARDER}'" in lines[0], lines
        # Every connection reaches the node from HAProxy's address: another forwarder is not refused.
        with forwarder(certs, port, "win02.corp.example", source="127.0.0.8") as fw:
            assert fw.enumerate()[0] == 200
    finally:
        for sock in held:
            sock.close()
    # The held connections that closed before a TLS byte are not logged as failed handshakes.
    time.sleep(1)
    assert "TLS handshake failed" not in daemon.internal_log()


def test_two_nodes_with_one_configuration_advertise_the_same_subscriptions(tmp_path, certs):
    port, direct1, direct2 = free_port(), free_port(), free_port()
    nodes = [node(tmp_path, name, certs, address, port) for name, address in (("n1", "127.0.0.2"), ("n2", "127.0.0.3"))]
    servers = [("n1", "127.0.0.2", port), ("n2", "127.0.0.3", port)]
    balancer = Haproxy(tmp_path / "haproxy", haproxy_config(
        listen_section("wec", port, servers) +                  # the cluster address
        listen_section("only-n1", direct1, servers[:1]) +      # one node each, to compare them
        listen_section("only-n2", direct2, servers[1:])), [port, direct1, direct2])
    started = []
    try:
        for (daemon, _), address in zip(nodes, ("127.0.0.2", "127.0.0.3")):
            daemon.start(port=port, host=address)
            started.append(daemon)
        balancer.start()

        def advertised(direct_port):
            with forwarder(certs, port, connect_port=direct_port) as fw:
                status, subs, _ = fw.enumerate()
                assert status == 200
                return {s.name: (s.version, s.identifier, s.notify_to, s.end_to, s.query, tuple(s.thumbprints),
                                 tuple(sorted(s.options.items())), s.heartbeats, s.compression) for s in subs}

        from_n1, from_n2 = advertised(direct1), advertised(direct2)
        assert sorted(from_n1) == ["security", "system"]
        assert all(version and identifier for version, identifier, *_ in from_n1.values())
        assert from_n1 == from_n2
        # So a forwarder that enumerated on n1 delivers to n2 as well.
        with forwarder(certs, port, connect_port=direct1) as fw:
            _, subs, _ = fw.enumerate()
        sub = next(s for s in subs if s.name == "security")
        with forwarder(certs, port, connect_port=direct2) as fw:
            fw.check_ack(*fw.send_events(sub, [first_event()], wef.format_bookmark("Security", 7)))
        assert wait_for_lines(nodes[1][1], 1, 20) == 1
        assert read_json_lines(nodes[1][1])[0]["_wec"]["peer"].startswith(FORWARDER + ":")
    finally:
        balancer.stop()
        for daemon in started:
            daemon.stop()


def test_kerberos_listener_behind_haproxy(tmp_path):
    port = free_port()
    (tmp_path / "kdc").mkdir()
    with LoopbackKdc(tmp_path / "kdc") as kdc:
        kdc.add_principal("HTTP/localhost")
        kdc.add_principal("WIN01$")
        keytab = kdc.keytab(tmp_path / "kdc" / "wec.keytab", "HTTP/localhost")
        client_keytab = kdc.keytab(tmp_path / "kdc" / "win01.keytab", "WIN01$")
        os.environ["KRB5_CONFIG"] = kdc.env["KRB5_CONFIG"]  # for the simulator in this process
        source = (f'windowsevent(ip("127.0.0.2") hostname("localhost") '
                  f'kerberos(keytab("{keytab}") port({port}) proxy-protocol(yes)) proxy-from("{BALANCER}") '
                  f'{subscription_block("security", ["*.wec.test"])})')
        output = tmp_path / "events.json"
        daemon = SyslogNg(tmp_path / "node", json_file_config(source, output))
        balancer = Haproxy(tmp_path / "haproxy",
                           haproxy_config(listen_section("wec", port, [("n1", "127.0.0.2", port)])), [port])
        daemon.start(port=port, host="127.0.0.2", env=kdc.env)
        try:
            balancer.start()
            fw = wef.Forwarder(f"http://localhost:{port}{MANAGER_PATH}", machine="win01.wec.test",
                               kerberos=wef.KerberosClient(str(client_keytab), "WIN01$"), connect_host=BALANCER,
                               source_address=(FORWARDER, 0))
            with fw:
                status, subs, _ = fw.enumerate()
                assert status == 200, fw.last_response_headers
                fw.check_ack(*fw.send_events(subs[0], [first_event()], wef.format_bookmark("Security", 1)))
                peer = f"{FORWARDER}:{local_port(fw, subs[0].notify_to)}"
            assert wait_for_lines(output, 1, 20) == 1
            record = read_json_lines(output)[0]
            assert record["_wec"]["peer"] == peer
            assert record["_wec"]["identity"].startswith("WIN01$@")
            assert "connection refused" not in daemon.internal_log()
        finally:
            balancer.stop()
            daemon.stop()
