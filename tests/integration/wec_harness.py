"""Runs the real /usr/sbin/syslog-ng with the built windowsevent module on loopback.

Used by the integration tests, the demo and the benchmark. Every wait is bounded.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "simulator"))
sys.path.insert(0, str(REPO / "tests" / "kdc"))

# The daemon under test: Debian's syslog-ng 3.38, or the one installed under WEC_SYSLOG_NG_PREFIX
# (tests/run-syslog-ng-4.sh sets it to a syslog-ng 4.11 built from source).
SYSLOG_NG_PREFIX = os.environ.get("WEC_SYSLOG_NG_PREFIX")
if SYSLOG_NG_PREFIX:
    SYSLOG_NG = f"{SYSLOG_NG_PREFIX}/sbin/syslog-ng"
    SYSLOG_NG_CTL = f"{SYSLOG_NG_PREFIX}/sbin/syslog-ng-ctl"
    STOCK_MODULES = f"{SYSLOG_NG_PREFIX}/lib/syslog-ng"
    CONFIG_VERSION = "4.11"
    STATS_OFF = "stats(freq(0));"  # stats-freq() is obsolete in 4.x
else:
    SYSLOG_NG = "/usr/sbin/syslog-ng"
    SYSLOG_NG_CTL = "syslog-ng-ctl"
    STOCK_MODULES = "/usr/lib/syslog-ng/3.38"
    CONFIG_VERSION = "3.38"
    STATS_OFF = "stats-freq(0);"
DATA = REPO / "tests" / "data"
CORPUS = DATA / "events-permissive.xml"


def module_dir():
    """Directory holding libwindowsevent.so (WEC_MODULE_DIR, else build/modules)."""
    path = Path(os.environ.get("WEC_MODULE_DIR", REPO / "build" / "modules"))
    if not (path / "libwindowsevent.so").exists():
        raise RuntimeError(f"libwindowsevent.so not found in {path}; build first or set WEC_MODULE_DIR")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(directory, clients=(), other_ca=False, expired=(), siblings=(), revoked=(), extra=()):
    """Creates CA, server and client certificates with tools/wec-certs.sh; returns the thumbprint.
    `siblings`: clients with a certificate from a second issuing CA under the same root;
    `revoked`: clients with a revoked certificate (CRLs in crl/ and crl.d/); `extra`: more options."""
    cmd = ["bash", str(REPO / "tools" / "wec-certs.sh"), str(directory), "--server-name", "localhost",
           "--server-ip", "127.0.0.1"]
    for c in clients:
        cmd += ["--client", c]
    if other_ca:
        cmd += ["--other-ca"]
    for c in expired:
        cmd += ["--expired-client", c]
    for c in siblings:
        cmd += ["--sibling-client", c]
    for c in revoked:
        cmd += ["--revoked-client", c]
    cmd += list(extra)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    for word in out.split():
        if len(word) == 40 and all(ch in "0123456789ABCDEF" for ch in word):
            return word
    return None


def https_forwarder(certs, port, machine="win01.corp.example", cert_name=None, **options):
    """A simulated forwarder with its client certificate, for the collector on 127.0.0.1:port."""
    import wef_forwarder
    pki = Path(certs["dir"])
    cert_name = cert_name or machine
    return wef_forwarder.Forwarder(f"https://localhost:{port}/wsman/SubscriptionManager/WEC",
                                   str(pki / "clients" / f"{cert_name}.crt"), str(pki / "clients" / f"{cert_name}.key"),
                                   str(pki / "ca-bundle.crt"), machine, **options)


def subscription_block(name, computers, query=None, extra=""):
    query = query or "<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>"
    globs = " ".join(f'"{c}"' for c in computers)
    return f'subscription(name("{name}") computers({globs}) query("{query}") {extra})'


def windowsevent_source(port, certs, subscriptions, extra="", tls_extra="", ca_dir=None, ip="127.0.0.1"):
    """`tls_extra` goes inside tls(); `ca_dir` replaces the PKI's ca.d."""
    ca_dir = ca_dir or f"{certs}/ca.d"
    return (f'windowsevent(ip("{ip}") port({port}) hostname("localhost") '
            f'tls(key-file("{certs}/server.key") cert-file("{certs}/server.crt") ca-dir("{ca_dir}") {tls_extra}) '
            f'{" ".join(subscriptions)} {extra})')


def json_file_config(source, output, log_extra="", options="", destination=None):
    destination = destination or (f'file("{output}" template("$(format-json --scope dot-nv-pairs '
                                  f'--key HOST --key PROGRAM --key PID --key MESSAGE --key ISODATE '
                                  f'--key LEVEL)\\n"))')
    return f"""@version: {CONFIG_VERSION}
options {{ {STATS_OFF} keep-hostname(yes); {options} }};
source s_wec {{ {source}; }};
destination d_out {{ {destination}; }};
log {{ source(s_wec); destination(d_out); flags(flow-control); {log_extra} }};
"""


# Under tests/run-sanitized.sh the daemon carries the ASan/UBSan runtimes and the module runs
# several times slower: tests scale their deadlines and resource bounds by this.
SANITIZED = bool(os.environ.get("WEC_DAEMON_PRELOAD"))


def daemon_env(env=None):
    """Environment of a syslog-ng process: ours plus `env`. WEC_DAEMON_PRELOAD, when set (by
    tests/run-sanitized.sh: the ASan/UBSan runtimes), becomes the daemon's LD_PRELOAD only."""
    result = dict(os.environ, **(env or {}))
    if SANITIZED:
        result["LD_PRELOAD"] = os.environ["WEC_DAEMON_PRELOAD"]
    return result


class ChildProcess:
    """alive()/stop()/kill9() of one child process in `self.proc` (None before it started)."""

    proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)


class SyslogNg(ChildProcess):
    """One syslog-ng process with its own persist file, control socket and internal log."""

    def __init__(self, workdir, config_text):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "syslog-ng.conf"
        self.config.write_text(config_text)
        self.persist = self.workdir / "syslog-ng.persist"
        self.pidfile = self.workdir / "syslog-ng.pid"
        self.control = self.workdir / "syslog-ng.ctl"
        self.stderr_path = self.workdir / "internal.log"
        self.proc = None

    def command(self, *extra):
        return [SYSLOG_NG, "-F", "--no-caps", "-e", f"--module-path={module_dir()}:{STOCK_MODULES}",
                "-f", str(self.config), "-R", str(self.persist), "-p", str(self.pidfile),
                "-c", str(self.control), *extra]

    def syntax_check(self, env=None):
        return subprocess.run(self.command("--syntax-only"), capture_output=True, text=True, timeout=60,
                              env=daemon_env(env))

    def start(self, port=None, timeout=20, extra=(), env=None, host="127.0.0.1"):
        starts_before = self.internal_log().count("syslog-ng starting up")
        log = open(self.stderr_path, "a")
        self.proc = subprocess.Popen(self.command(*extra), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     env=daemon_env(env))
        log.close()
        if port:
            wait_for_port(port, timeout, self, host)
            # syslog-ng 4.x writes its start-up lines after the listeners opened: wait for them, so
            # that a test's log position taken now comes after them
            deadline = time.monotonic() + timeout
            while self.internal_log().count("syslog-ng starting up") <= starts_before and time.monotonic() < deadline:
                time.sleep(0.05)
        return self

    def internal_log(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def cpu_seconds(self):
        """User + system CPU time the daemon used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


def wait_for_port(port, timeout, daemon=None, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon is not None and not daemon.alive():
            raise RuntimeError("syslog-ng exited:\n" + daemon.internal_log()[-4000:])
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def read_json_lines(path):
    records = []
    if not Path(path).exists():
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def wait_for_lines(path, count, timeout):
    """Waits until the output file holds at least `count` lines; returns the count seen."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        if Path(path).exists():
            with open(path, "rb") as f:
                seen = sum(1 for _ in f)
            if seen >= count:
                return seen
        time.sleep(0.2)
    return seen


def event_field(record, *path):
    """record['_windowsevent']['Event'][...] without KeyErrors."""
    node = record.get("_windowsevent", {}).get("Event", {})
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    # format-json nests "X" and "X._Attr" as {"X": value, "_Attr": ...}
    if isinstance(node, dict) and path and path[-1] in node:
        node = node[path[-1]]
    return node


class LineReceiver:
    """Loopback TCP receiver that collects newline-terminated messages; can start late."""

    def __init__(self, port=None):
        import threading
        self.port = port or free_port()
        self.lines = []
        self._threading = threading
        self._stop = threading.Event()
        self.thread = None

    def start(self):
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.5)
        self.thread = self._threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            conn.settimeout(0.5)
            buffer = b""
            with conn:
                while not self._stop.is_set() and time.monotonic() < deadline:
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not chunk:
                        break
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    self.lines.extend(line.decode("utf-8", "replace") for line in complete)

    def stop(self):
        self._stop.set()
        if self.thread:
            self.thread.join(5)
            self.server.close()


def control(daemon, command):
    """syslog-ng-ctl against one daemon's control socket."""
    return subprocess.run([SYSLOG_NG_CTL, *command.split(), "-c", str(daemon.control)],
                          capture_output=True, text=True, timeout=30).stdout


class RedisServer(ChildProcess):
    """A redis-server on 127.0.0.1 in its own directory: plain, a replica (`replica_of`), or a
    Sentinel (`sentinel_config`: the lines after `port`/`bind`/`dir`). `persistent` keeps the data
    across stop()/start() (append-only file, fsync always), as a production Redis would.
    `password`: clients must log in with it (requirepass); cli() does."""

    def __init__(self, workdir, port=None, persistent=False, replica_of=None, sentinel_config=None, extra=(),
                 password=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.workdir / f"redis-{self.port}.log"
        if sentinel_config is not None:
            conf = self.workdir / f"sentinel-{self.port}.conf"
            conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n{sentinel_config}")
            self.args = [str(conf), "--sentinel"]
        else:
            self.args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                         "--dbfilename", f"dump-{self.port}.rdb", "--save", ""]
            self.args += (["--appendonly", "yes", "--appendfsync", "always",
                           "--appendfilename", f"appendonly-{self.port}.aof"] if persistent
                          else ["--appendonly", "no"])
            if replica_of:
                self.args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.password = password
        if password:
            self.args += ["--requirepass", password]
        self.args += list(extra)

    def start(self, timeout=20):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(["redis-server", *self.args], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log_path.read_text()[-2000:]}")
            if self.cli("PING") == "PONG":
                return self
            time.sleep(0.05)
        raise TimeoutError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def cli(self, *command, password=None):
        """redis-cli's raw answer to one command (lines of an array joined by newlines), or '' when
        Redis does not answer within 5 s. `password` (else the server's) goes in REDISCLI_AUTH."""
        password = password or self.password
        env = dict(os.environ, REDISCLI_AUTH=password) if password else None
        try:
            result = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw", *command],
                                    capture_output=True, text=True, timeout=5, env=env)
        except subprocess.TimeoutExpired:
            return ""
        return result.stdout.rstrip("\n")

    def hgetall(self, key):
        lines = self.cli("HGETALL", key).split("\n")
        return dict(zip(lines[0::2], lines[1::2])) if lines != [""] else {}
