"""What the hostile-input tests (test_hostile_*.py, one test per row of docs/hostile-input.md)
share: raw HTTP over TLS and TCP, request bodies, and the collector with its background forwarder
and the per-row checks.

Every file that imports the `collector` fixture gets its own syslog-ng and background forwarder
(the fixture is module-scoped). For every row the test checks the HTTP status (or, for TLS-level
rows, what happens to the connection), that the request left exactly one line in syslog-ng's
internal log with the expected message (lines are counted before and after), that the connection
or at least the process survives (syslog-ng alive, a fresh Enumerate gets 200), and that a
well-behaved forwarder running in the background all the time keeps flowing. The last test of
each file checks that every event of its background forwarder arrived exactly once.

Raw sockets and ssl produce what the simulator cannot. Every listener is on 127.0.0.1, every loop
and wait is bounded in count and time.
"""
import collections
import os
import socket
import ssl
import threading
import time

import pytest

import wef_forwarder as wef
from loopback_kdc import LoopbackKdc
from wec_harness import (CORPUS, SANITIZED, SyslogNg, event_field, free_port, json_file_config, read_json_lines,
                         subscription_block, wait_for_port)

MANAGER_PATH = "/wsman/SubscriptionManager/WEC"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
BULK_ENVELOPE = 4 * 1024 * 1024            # max-envelope-size() of the "bulk" subscription
BODY_LIMIT = 2 * BULK_ENVELOPE + 64 * 1024  # the listener's body limit that follows from it
# request-timeout() of the collector, when supported; under the sanitizers a 10,000-event batch or
# a background forwarder's request can take longer than 3 s to be read and answered.
REQUEST_TIMEOUT = 10 if SANITIZED else 3
# Under the sanitizers every allocation of the module records its full stack: the 10,000-event
# batch takes about a minute to reach the destination. commit-timeout() (default 50 s) and the
# forwarders' waits for an Ack are lengthened there, so that no batch is answered 503 and resent.
COMMIT_TIMEOUT = 300 if SANITIZED else None
ACK_WAIT = 300 if SANITIZED else 60
BACKGROUND_MACHINE = "win03.corp.example"


# ------------------------------------------------------------------------------------------
# Raw HTTP over TLS / TCP
# ------------------------------------------------------------------------------------------

class Closed(Exception):
    """The server closed the connection (or reset it) instead of answering."""


def client_context(pki, name="win01.corp.example"):
    context = ssl.create_default_context(cafile=str(pki / "ca-bundle.crt"))
    context.load_cert_chain(str(pki / "clients" / f"{name}.crt"), str(pki / "clients" / f"{name}.key"))
    return context


def tls_socket(pki, port, name="win01.corp.example", timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return client_context(pki, name).wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def peer_of(sock):
    """How the collector names this client in its log lines."""
    return "peer='127.0.0.1:%d'" % sock.getsockname()[1]


def http_head(port, path=MANAGER_PATH, content_length=None, extra=(),
              content_type="application/soap+xml;charset=UTF-16"):
    lines = [f"POST {path} HTTP/1.1", f"Host: localhost:{port}", "Connection: Keep-Alive",
             f"Content-Type: {content_type}", "User-Agent: Microsoft WinRM Client"]
    lines += list(extra)
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def http_request(port, body, path=MANAGER_PATH, content_length=None, extra=()):
    return http_head(port, path, len(body) if content_length is None else content_length, extra) + body


def read_response(sock, timeout=10):
    """(status, {header: value}, body) of one response; raises Closed if the server closes first."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += _recv(sock, deadline)
    return status, headers, body[:length]


def _recv(sock, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete answer in time")
    sock.settimeout(remaining)
    try:
        chunk = sock.recv(65536)
    except socket.timeout:
        raise TimeoutError("no complete answer in time") from None
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        raise Closed(repr(exc)) from None
    if not chunk:
        raise Closed("EOF")
    return chunk


def closed_by_server(sock, timeout):
    """True if the server closes the connection within `timeout` seconds (data is discarded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _recv(sock, deadline)
        except Closed:
            return True
        except TimeoutError:
            return False
    return False


# ------------------------------------------------------------------------------------------
# Bodies
# ------------------------------------------------------------------------------------------

def enumerate_text(port, machine="win01.corp.example"):
    return wef.build_enumerate(f"https://localhost:{port}{MANAGER_PATH}", machine)


def enumerate_body(port, machine="win01.corp.example"):
    return wef.encode_body(enumerate_text(port, machine))


def small_event(record_id, machine, marker, payload=""):
    return (f'<Event xmlns="{EVENT_NS}"><System><Provider Name="Hostile-Test"/><EventID>4242</EventID>'
            f'<Level>4</Level><TimeCreated SystemTime="2024-05-01T10:00:00.000Z"/>'
            f'<EventRecordID>{record_id}</EventRecordID><Channel>Security</Channel><Computer>{machine}</Computer>'
            f'</System><EventData><Data Name="Marker">{marker}</Data><Data Name="Payload">{payload}</Data>'
            f'</EventData></Event>')


# ------------------------------------------------------------------------------------------
# The collector, the background forwarder, the per-row checks
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kdc(tmp_path_factory):
    """A loopback KDC with the collector's HTTP/localhost key and one machine account (the pattern
    of test_kerberos.py's fixture, with only what these rows need)."""
    directory = tmp_path_factory.mktemp("kdc-hostile")
    saved = os.environ.get("KRB5_CONFIG")
    with LoopbackKdc(directory) as kdc:
        kdc.add_principal("HTTP/localhost")
        kdc.add_principal("WIN01$")
        kdc.keytab(directory / "win01.wec.test.keytab", "WIN01$")
        keytab = directory / "wec.keytab"
        kdc.keytab(keytab, "HTTP/localhost")
        os.environ["KRB5_CONFIG"] = kdc.env["KRB5_CONFIG"]  # for the simulator in this process
        try:
            yield {"kdc": kdc, "dir": directory, "keytab": keytab}
        finally:
            if saved is None:
                os.environ.pop("KRB5_CONFIG", None)
            else:
                os.environ["KRB5_CONFIG"] = saved


def request_timeout_supported(workdir, certs):
    """Whether this build knows request-timeout() (being added to the listener)."""
    source = (f'windowsevent(ip("127.0.0.1") port({free_port()}) tls(key-file("{certs["dir"]}/server.key") '
              f'cert-file("{certs["dir"]}/server.crt") ca-dir("{certs["dir"]}/ca.d")) '
              f'{subscription_block("s", ["*"])} request-timeout({REQUEST_TIMEOUT}))')
    return SyslogNg(workdir, json_file_config(source, workdir / "o.json")).syntax_check().returncode == 0


class Background:
    """A well-behaved forwarder (win03) that sends paced batches for as long as the rows run. It runs
    complete forwarder runs in rounds (each resumes from the bookmark the collector hands back), so
    it can stop at a round boundary and the exact number of events it sent is known."""

    ROUND = 200

    def __init__(self, https_port, pki):
        self.url = f"https://localhost:{https_port}{MANAGER_PATH}"
        self.pki = pki
        self.templates = wef.EventTemplates.from_files([str(CORPUS)])
        self.stop = threading.Event()
        self.acked_events = 0
        self.total = 0
        self.results = []
        self.thread = threading.Thread(target=self._run, name="background-forwarder", daemon=True)

    def _on_ack(self, machine, sub, first, last):
        self.acked_events += last - first + 1
        if not self.stop.is_set():
            time.sleep(0.1)  # paced: about 100 events/s while the rows run

    def _run(self):
        deadline = time.monotonic() + 600
        pki = self.pki
        while not self.stop.is_set() and time.monotonic() < deadline:
            total = self.total + self.ROUND
            result = wef.run_machine(
                self.url, BACKGROUND_MACHINE, str(pki / "clients" / f"{BACKGROUND_MACHINE}.crt"),
                str(pki / "clients" / f"{BACKGROUND_MACHINE}.key"), str(pki / "ca-bundle.crt"), self.templates,
                total_events=total, batch_size=10, retry_interval=0.5, max_retries=20, deadline=2 * ACK_WAIT,
                timeout=ACK_WAIT // 2, on_ack=self._on_ack)
            self.results.append(result)
            if not result.ok:
                break
            self.total = total

    def start(self):
        self.thread.start()
        return self

    def wait_progress(self, since, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.acked_events <= since:
            time.sleep(0.1)
        return self.acked_events > since

    def finish(self, timeout=ACK_WAIT + 30):
        self.stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


@pytest.fixture(scope="module")
def collector(tmp_path_factory, certs, kdc):
    """One syslog-ng for the rows: HTTPS with client certificates and HTTP with Kerberos, a normal
    subscription and a "bulk" one with max-envelope-size(4 MiB), request-timeout(3) when the build
    has it. The background forwarder runs from the first row to the last. (The connection-limit rows
    start their own syslog-ng: request-timeout(3) would close idle connections after 3 s.)"""
    tmp = tmp_path_factory.mktemp("hostile")
    pki = certs["dir"]
    https_port, kerberos_port = free_port(), free_port()
    timeout_supported = request_timeout_supported(tmp / "syntax", certs)
    subscriptions = [
        subscription_block("security", ["win0?.corp.example", "*.wec.test"]),
        subscription_block("bulk", ["win02.corp.example"], extra=f"max-envelope-size({BULK_ENVELOPE})"),
    ]
    source = (f'windowsevent(ip("127.0.0.1") hostname("localhost") '
              f'tls(port({https_port}) key-file("{pki}/server.key") cert-file("{pki}/server.crt") '
              f'ca-dir("{pki}/ca.d")) kerberos(keytab("{kdc["keytab"]}") port({kerberos_port})) '
              f'{" ".join(subscriptions)} log-iw-size(4000) log-repeat-interval(0) '
              f'{f"commit-timeout({COMMIT_TIMEOUT})" if COMMIT_TIMEOUT else ""} '
              f'{f"request-timeout({REQUEST_TIMEOUT})" if timeout_supported else ""})')
    output = tmp / "events.json"
    daemon = SyslogNg(tmp / "syslog-ng", json_file_config(source, output))
    daemon.start(port=https_port, env=kdc["kdc"].env)
    wait_for_port(kerberos_port, 20, daemon)
    background = Background(https_port, pki).start()
    try:
        yield {"daemon": daemon, "output": output, "https": https_port, "kerberos": kerberos_port, "pki": pki,
               "background": background, "request_timeout": timeout_supported, "kdc": kdc, "tmp": tmp}
    finally:
        background.finish()
        daemon.stop()


def log_lines(daemon):
    return daemon.internal_log().splitlines()


class Row:
    """Bookkeeping of one row: the log position and the background forwarder's progress before it,
    and the checks after it."""

    def __init__(self, collector):
        self.c = collector
        self.daemon = collector["daemon"]
        self.mark = len(log_lines(self.daemon))
        self.acked = collector["background"].acked_events

    def new_lines(self):
        return log_lines(self.daemon)[self.mark:]

    def expect_lines(self, needle, count=1, timeout=10, settle=0.5, also=()):
        """Waits for `count` new lines containing `needle`, then checks that no other line came:
        the request left exactly these lines (each also containing every string of `also`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(needle in line for line in self.new_lines()) >= count:
                break
            time.sleep(0.05)
        time.sleep(settle)
        lines = self.new_lines()
        assert len(lines) == count, "expected %d line(s) with %r, got:\n%s" % (count, needle, "\n".join(lines[:20]))
        for line in lines:
            assert needle in line, line
            for word in also:
                assert word in line, (word, line)
        print("\n  log: " + lines[0].split("] ", 1)[-1] + (f"  (x{count})" if count > 1 else ""))
        return lines

    def expect_no_lines(self, settle=1.0):
        time.sleep(settle)
        assert self.new_lines() == []

    def finish(self):
        """The process survives, a fresh forwarder is served, and the background one kept flowing."""
        assert self.daemon.alive(), self.daemon.internal_log()[-3000:]
        pki = self.c["pki"]
        with wef.Forwarder(f"https://localhost:{self.c['https']}{MANAGER_PATH}",
                           str(pki / "clients" / "win01.corp.example.crt"),
                           str(pki / "clients" / "win01.corp.example.key"), str(pki / "ca-bundle.crt"),
                           "win01.corp.example", timeout=15) as fw:
            assert fw.enumerate()[0] == 200
        background = self.c["background"]
        assert background.wait_progress(self.acked), ("background forwarder stalled", background.results)


@pytest.fixture
def row(collector):
    return Row(collector)


def keep_alive_still_served(sock, port):
    """The same connection answers a valid Enumerate with 200."""
    sock.sendall(http_request(port, enumerate_body(port)))
    assert read_response(sock)[0] == 200


def subscription(fw, name):
    status, subs, _ = fw.enumerate()
    assert status == 200
    return next(s for s in subs if s.name == name)


def records_with_marker(output, marker):
    return [r for r in read_json_lines(output) if event_field(r, "EventData", "Data", "Marker") == marker]


def assert_background_delivered_every_event_exactly_once(collector):
    """The last test of every file with the collector: every event that its background forwarder
    sent arrived exactly once."""
    background = collector["background"]
    assert background.finish(), "background forwarder did not stop"
    assert background.results and all(r.ok for r in background.results), [r.error for r in background.results]
    total = background.total
    assert total >= 2 * Background.ROUND
    deadline = time.monotonic() + 60
    seen = collections.Counter()
    while time.monotonic() < deadline:
        seen = collections.Counter(int(event_field(r, "System", "EventRecordID"))
                                   for r in read_json_lines(collector["output"])
                                   if r["_wec"]["identity"] == BACKGROUND_MACHINE)
        if sum(seen.values()) >= total:
            break
        time.sleep(0.5)
    assert set(seen) == set(range(1, total + 1))
    assert set(seen.values()) == {1}, [k for k, v in seen.items() if v > 1][:10]
    print(f"background forwarder: {total} events in {len(background.results)} runs, each exactly once")
