#!/usr/bin/python3
"""A throwaway MIT Kerberos KDC on 127.0.0.1 for tests (module and command line tool).

Everything lives in one directory: ``krb5.conf`` (for clients and services of the realm),
``kdc.conf`` (for krb5kdc/kdb5_util/kadmin.local), the database, the stash file, the KDC log
and the pid file. All commands run with ``KRB5_CONFIG``/``KRB5_KDC_PROFILE`` pointing into that
directory, so ``/etc/krb5.conf`` is never read or written. The KDC listens on a free port of
127.0.0.1 only (UDP and TCP); clients are told to use TCP (``udp_preference_limit = 1``), host
names are never canonicalised (``dns_canonicalize_hostname = false``, ``rdns = false``) and only
AES enctypes are permitted. Every subprocess and every wait is bounded in time.

Module use::

    from loopback_kdc import LoopbackKdc
    with LoopbackKdc(tmpdir) as kdc:                 # realm WEC.TEST
        kdc.add_principal("HTTP/localhost")
        kdc.add_principal("WIN01$")
        kdc.keytab(tmpdir / "service.keytab", "HTTP/localhost")
        kdc.keytab(tmpdir / "win01.keytab", "WIN01$")
        env = dict(os.environ, **kdc.env)            # for the collector and the clients
        kdc.change_key("HTTP/localhost")             # kvno + 1: the old keytab is now stale

Command line (handy for demos and manual checks)::

    /usr/bin/python3 tests/kdc/loopback_kdc.py DIR --service HTTP/localhost \\
        --client 'WIN01$' --client 'WIN02$'

starts a KDC in DIR, writes ``DIR/service.keytab`` (HTTP/ and HOST/ principals of every
``--service`` host) and ``DIR/clients/<name>.keytab`` per client, prints the environment
(shell ``export`` lines) and waits until interrupted (Ctrl-C / SIGTERM), then stops the KDC.
``--keytab``, ``--stale-keytab`` and ``--keytab-enctypes`` write further keytabs (one key
version behind, or without the key the KDC issues tickets with). The last line printed
starts with ``# running`` once everything is ready; with ``--while-stdin-open`` the KDC also
stops when standard input ends, which is how the C++ unit tests (tests/unit/test_kerberos_*.cpp,
through tests/unit/kerberos-kdc-fixtures.hpp and test-kdc.hpp) run it: one KDC set-up for the
C++ and the Python tests.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

__all__ = ["LoopbackKdc", "KdcError", "DEFAULT_REALM", "DEFAULT_ENCTYPES", "main"]

DEFAULT_REALM = "WEC.TEST"
DEFAULT_ENCTYPES = ("aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96")
COMMAND_TIMEOUT = 30.0     # seconds for one kdb5_util / kadmin.local run
START_TIMEOUT = 15.0       # seconds for krb5kdc to answer on its port
STOP_TIMEOUT = 10.0


class KdcError(Exception):
    """A KDC command failed or the KDC did not start; the message has the command's output."""


def _tool(name: str) -> str:
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    found = shutil.which(name)
    if not found:
        raise KdcError("%s not found (install krb5-kdc, krb5-admin-server, krb5-user)" % name)
    return found


def _free_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port free for both TCP and UDP on ``host`` (the KDC listens on both)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
            except OSError:
                continue
            return port
    raise KdcError("no free port on %s" % host)


class LoopbackKdc:
    """An MIT KDC for realm ``realm`` whose files all live in ``directory``.

    ``start()`` creates the configuration and the database and starts ``krb5kdc -n``;
    ``stop()`` terminates it (the directory is kept; a later ``start()`` reuses the database
    but picks a new port). Also a context manager. ``env`` holds the environment variables a
    client or a service of this realm needs (``KRB5_CONFIG``, plus ``KRB5_KDC_PROFILE`` for the
    admin tools and ``KRB5RCACHEDIR`` so replay caches stay in the directory).
    """

    def __init__(self, directory, realm: str = DEFAULT_REALM, *, host: str = "127.0.0.1",
                 enctypes=DEFAULT_ENCTYPES, domains=("localhost", ".wec.test", "wec.test"),
                 ticket_lifetime: str = "10h"):
        self.directory = os.path.abspath(os.fspath(directory))
        self.realm = realm
        self.host = host
        self.enctypes = tuple(enctypes)
        self.domains = tuple(domains)
        self.ticket_lifetime = ticket_lifetime
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.krb5_conf = os.path.join(self.directory, "krb5.conf")
        self.kdc_conf = os.path.join(self.directory, "kdc.conf")
        self.database = os.path.join(self.directory, "principal")
        self.stash = os.path.join(self.directory, "stash")
        self.log_file = os.path.join(self.directory, "kdc.log")
        self.pid_file = os.path.join(self.directory, "krb5kdc.pid")
        self.rcache_dir = os.path.join(self.directory, "rcache")

    # -- environment -----------------------------------------------------------------------
    @property
    def env(self) -> dict:
        """Variables for processes that use this realm (merge into os.environ)."""
        return {"KRB5_CONFIG": self.krb5_conf, "KRB5_KDC_PROFILE": self.kdc_conf,
                "KRB5RCACHEDIR": self.rcache_dir}

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KRB5") or k == "KRB5_TRACE"}
        env.update(self.env)
        env["KRB5CCNAME"] = "MEMORY:loopback-kdc"   # the admin tools never need a ccache
        return env

    # -- configuration -----------------------------------------------------------------------
    def _write_config(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        os.makedirs(self.rcache_dir, exist_ok=True)
        enc = " ".join(self.enctypes)
        addr = "%s:%d" % (self.host, self.port)
        domain_realm = "".join("    %s = %s\n" % (d, self.realm) for d in self.domains)
        krb5 = (
            "[libdefaults]\n"
            "    default_realm = {realm}\n"
            "    dns_lookup_kdc = false\n"
            "    dns_lookup_realm = false\n"
            "    dns_canonicalize_hostname = false\n"
            "    rdns = false\n"
            "    udp_preference_limit = 1\n"
            "    permitted_enctypes = {enc}\n"
            "    default_tkt_enctypes = {enc}\n"
            "    default_tgs_enctypes = {enc}\n"
            "    ticket_lifetime = {life}\n"
            "    forwardable = false\n"
            "    ignore_acceptor_hostname = false\n"
            "\n"
            "[realms]\n"
            "    {realm} = {{\n"
            "        kdc = {addr}\n"
            "        admin_server = {host}\n"
            "        default_domain = wec.test\n"
            "    }}\n"
            "\n"
            "[domain_realm]\n"
            "{domain_realm}"
        ).format(realm=self.realm, enc=enc, life=self.ticket_lifetime, addr=addr,
                 host=self.host, domain_realm=domain_realm)
        supported = " ".join("%s:normal" % e for e in self.enctypes)
        kdc = (
            "[kdcdefaults]\n"
            "    kdc_ports = {addr}\n"
            "    kdc_tcp_ports = {addr}\n"
            "\n"
            "[realms]\n"
            "    {realm} = {{\n"
            "        kdc_ports = {addr}\n"
            "        kdc_tcp_ports = {addr}\n"
            "        database_name = {db}\n"
            "        key_stash_file = {stash}\n"
            "        acl_file = {acl}\n"
            "        master_key_type = {master}\n"
            "        supported_enctypes = {supported}\n"
            "        max_life = {life}\n"
            "        max_renewable_life = 0\n"
            "    }}\n"
            "\n"
            "[logging]\n"
            "    kdc = FILE:{log}\n"
            "    admin_server = FILE:{log}\n"
            "    default = FILE:{log}\n"
        ).format(addr=addr, realm=self.realm, db=self.database, stash=self.stash,
                 acl=os.path.join(self.directory, "kadm5.acl"), master=self.enctypes[0],
                 supported=supported, life=self.ticket_lifetime, log=self.log_file)
        for path, text in ((self.krb5_conf, krb5), (self.kdc_conf, kdc),
                           (os.path.join(self.directory, "kadm5.acl"), "")):
            with open(path, "w", encoding="ascii") as fh:
                fh.write(text)

    def _run(self, argv: list, timeout: float = COMMAND_TIMEOUT, input: str | None = None) -> str:
        try:
            cp = subprocess.run(argv, env=self._env(), cwd=self.directory, input=input,
                                capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise KdcError("%s timed out after %.0fs" % (" ".join(argv), timeout)) from None
        out = (cp.stdout or "") + (cp.stderr or "")
        if cp.returncode != 0:
            raise KdcError("%s failed (exit %d): %s" % (" ".join(argv), cp.returncode, out.strip()))
        return out

    def kadmin(self, query: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run one ``kadmin.local -q`` query; raises KdcError if it reports an error."""
        out = self._run([_tool("kadmin.local"), "-r", self.realm, "-q", query], timeout)
        # kadmin.local -q exits 0 for most failed queries; errors look like
        # "add_principal: Principal or policy already exists while creating ..." or
        # "kadmin.local: Principal nosuch does not exist." or "usage: ...".
        for line in out.splitlines():
            if (re.match(r"^[A-Za-z_.]+: .* while ", line) or line.startswith("kadmin.local: ")
                    or line.lower().startswith("usage:")):
                raise KdcError("kadmin.local -q %r: %s" % (query, out.strip()))
        return out

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, attempts: int = 5) -> "LoopbackKdc":
        if self.proc is not None and self.proc.poll() is None:
            return self
        os.makedirs(self.directory, exist_ok=True)
        last = None
        for _ in range(attempts):
            self.port = _free_port(self.host)
            self._write_config()
            if not os.path.exists(self.stash):
                self._run([_tool("kdb5_util"), "-r", self.realm, "create", "-s", "-P",
                           secrets.token_urlsafe(24)])
            try:
                self._spawn()
                return self
            except KdcError as exc:   # port taken between probing and binding: try another
                last = exc
        raise KdcError("krb5kdc did not start after %d attempts: %s" % (attempts, last))

    def _spawn(self) -> None:
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        self._log = open(os.path.join(self.directory, "krb5kdc.stderr"), "ab")
        self.proc = subprocess.Popen(
            [_tool("krb5kdc"), "-n", "-r", self.realm, "-P", self.pid_file],
            env=self._env(), cwd=self.directory, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)      # no stray KDC when a test run ends without stop()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        tail = self._log_tail()
        self.stop()
        raise KdcError("krb5kdc on %s:%d did not come up: %s" % (self.host, self.port, tail))

    def _log_tail(self, lines: int = 15) -> str:
        out = []
        for p in (os.path.join(self.directory, "krb5kdc.stderr"), self.log_file):
            try:
                with open(p, encoding="utf-8", errors="replace") as fh:
                    out.extend(fh.read().splitlines()[-lines:])
            except OSError:
                pass
        return " | ".join(out)

    def stop(self) -> None:
        """Terminate krb5kdc (SIGTERM, then SIGKILL after 10 s); the directory is kept."""
        atexit.unregister(self.stop)
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- principals and keytabs -----------------------------------------------------------------
    def principal(self, name: str) -> str:
        """``name`` with ``@REALM`` appended unless it has a realm."""
        return name if "@" in name else "%s@%s" % (name, self.realm)

    def _enc_arg(self, enctypes) -> list:
        if not enctypes:
            return []
        if isinstance(enctypes, str):
            enctypes = enctypes.replace(",", " ").split()
        return ["-e", ",".join(e if ":" in e else e + ":normal" for e in enctypes)]

    def add_principal(self, name: str, randkey: bool = True, enctypes=None,
                      password: str | None = None) -> str:
        """Create a principal with random keys (or ``password``); returns its full name."""
        full = self.principal(name)
        args = ["addprinc"] + self._enc_arg(enctypes)
        if password is not None:
            args += ["-pw", password]
        elif randkey:
            args += ["-randkey"]
        else:
            args += ["-nokey"]
        self.kadmin(" ".join(args + [full]))
        return full

    def keytab(self, path, *principals: str, enctypes=None, norandkey: bool = True) -> str:
        """Export the keys of ``principals`` into the keytab ``path`` (appended if it exists).
        ``norandkey`` (default) keeps the current keys; False makes new keys (kvno + 1)."""
        path = os.path.abspath(os.fspath(path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not principals:
            raise ValueError("no principal given")
        args = ["ktadd", "-k", path] + (["-norandkey"] if norandkey else []) + \
            self._enc_arg(enctypes)
        self.kadmin(" ".join(args + [self.principal(p) for p in principals]))
        return path

    def keytab_entries(self, path) -> list:
        """The entries of keytab ``path`` in file order: [(kvno, principal, enctype)]."""
        out = self._run([_tool("klist"), "-ke", os.fspath(path)])
        entries = []
        for line in out.splitlines():
            m = re.match(r"^\s*(\d+)\s+(\S+@\S+)\s+\(([^)]+)\)", line)
            if m:
                entries.append((int(m.group(1)), m.group(2), m.group(3)))
        return entries

    def filter_keytab(self, source, target, enctypes) -> str:
        """Copy the entries of keytab ``source`` whose enctype is in ``enctypes`` into the
        keytab ``target`` (appended if it exists); returns ``target``. With ktadd's keys kept
        (-norandkey) kadmin cannot choose the enctypes: export, then filter. A keytab that
        lacks the key the KDC issues tickets with is how an enctype mismatch looks."""
        if isinstance(enctypes, str):
            enctypes = enctypes.replace(",", " ").split()
        keep = {e.split(":", 1)[0] for e in enctypes}
        source, target = os.path.abspath(os.fspath(source)), os.path.abspath(os.fspath(target))
        entries = self.keytab_entries(source)
        drop = [slot for slot, (_, _, enctype) in enumerate(entries, 1) if enctype not in keep]
        if len(drop) == len(entries):
            raise KdcError("keytab %s has no entry of %s" % (source, ", ".join(sorted(keep))))
        # ktutil numbers the entries it read from 1 and renumbers after delent: go backwards.
        script = "rkt %s\n%swkt %s\nquit\n" % (
            source, "".join("delent %d\n" % slot for slot in reversed(drop)), target)
        out = self._run([_tool("ktutil")], input=script)
        # ktutil exits 0 after a failed command; the failure is a "rkt: ... while ..." line.
        if re.search(r"^(rkt|delent|wkt): ", out, re.M):
            raise KdcError("ktutil could not filter %s into %s: %s" % (source, target, out.strip()))
        return target

    @staticmethod
    def empty_keytab(path) -> str:
        """A keytab file with the version header (0x0502) and no entries."""
        path = os.path.abspath(os.fspath(path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"\x05\x02")
        return path

    def change_key(self, principal: str, enctypes=None) -> int:
        """New random keys for ``principal`` (``cpw -randkey``); returns the new kvno."""
        self.kadmin(" ".join(["cpw", "-randkey"] + self._enc_arg(enctypes) +
                             [self.principal(principal)]))
        return self.kvno(principal)

    def kvno(self, principal: str) -> int:
        """The current key version number of ``principal``."""
        out = self.kadmin("getprinc " + self.principal(principal))
        vnos = [int(v) for v in re.findall(r"^Key: vno (\d+)", out, re.M)]
        if not vnos:
            raise KdcError("no key found for %s: %s" % (principal, out.strip()))
        return max(vnos)

    def list_principals(self) -> list:
        out = self.kadmin("listprincs")
        return [l.strip() for l in out.splitlines() if "@" in l and not l.startswith("Auth")]

    def delete_principal(self, principal: str) -> None:
        self.kadmin("delprinc -force " + self.principal(principal))


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------

def _service_principals(spec: str) -> list:
    """``HTTP/host`` -> [HTTP/host, HOST/host]; ``host`` -> the same; ``X/host`` -> [X/host]."""
    if "/" not in spec:
        return ["HTTP/" + spec, "HOST/" + spec]
    svc, host = spec.split("/", 1)
    if svc.upper() in ("HTTP", "HOST"):
        return ["HTTP/" + host, "HOST/" + host]
    return [spec]


def _file_spec(text: str) -> tuple:
    """``FILE=A,B`` -> ("FILE", ["A", "B"]); ``FILE=`` -> ("FILE", [])."""
    name, sep, values = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("%r is not FILE=NAME[,NAME...]" % text)
    return name, [v for v in values.split(",") if v]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loopback_kdc.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start a throwaway MIT KDC on 127.0.0.1, export keytabs, print the "
                    "environment and wait until interrupted.",
        epilog="""\
Output: '# ...' comment lines and one 'export NAME=VALUE' line per environment variable
(KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5RCACHEDIR, KRB5_KTNAME), shell-quoted. Unless --once, the
last line starts with '# running': the KDC then answers and every keytab is written. A program
that starts this tool waits for that line (the C++ Kerberos unit test does, with
--while-stdin-open).

Keytab FILE names are relative to DIRECTORY. Order: principals are created, then service.keytab,
the client keytabs and every --keytab are exported, then each --stale-keytab is exported and
its principals get new keys, then --keytab-enctypes filters.""")
    p.add_argument("directory", help="working directory (created; reused if it has a database)")
    p.add_argument("--realm", default=DEFAULT_REALM, help="realm (default %(default)s)")
    p.add_argument("--service", action="append", default=[], metavar="SVC/HOST",
                   help="service host; HTTP/ and HOST/ principals go to service.keytab "
                        "(repeatable; default HTTP/localhost)")
    p.add_argument("--client", action="append", default=[], metavar="NAME",
                   help="client principal, e.g. 'WIN01$'; keytab clients/NAME.keytab "
                        "(repeatable)")
    p.add_argument("--clients", type=int, default=0, metavar="N",
                   help="also create N clients named by --principal-pattern")
    p.add_argument("--principal-pattern", default="WIN{n:02d}$",
                   help="client name pattern for --clients, n = 1..N (default %(default)s)")
    p.add_argument("--enctypes", help="enctypes of new keys (default the realm's AES types)")
    p.add_argument("--keytab", action="append", default=[], type=_file_spec,
                   metavar="FILE=PRINCIPAL[,...]",
                   help="export the current keys of these principals (created when missing) "
                        "into FILE; 'FILE=' writes a keytab with no entries (repeatable)")
    p.add_argument("--stale-keytab", action="append", default=[], type=_file_spec,
                   metavar="FILE=PRINCIPAL[,...]",
                   help="the same, then the principals get new keys in the KDC: FILE is one "
                        "key version behind (repeatable)")
    p.add_argument("--keytab-enctypes", action="append", default=[], type=_file_spec,
                   metavar="FILE=ENCTYPE[,...]",
                   help="keep only these enctypes in FILE (a --keytab or --stale-keytab), "
                        "while the KDC keeps issuing tickets with its strongest key "
                        "(repeatable)")
    p.add_argument("--once", action="store_true",
                   help="print the environment and exit at once, stopping the KDC "
                        "(only useful to check the setup)")
    p.add_argument("--while-stdin-open", action="store_true",
                   help="also stop when standard input reaches its end: a parent process "
                        "holding the pipe takes the KDC with it when it exits, even when "
                        "killed")
    return p


def _setup(kdc: LoopbackKdc, args) -> tuple:
    """Principals and keytabs of the command line; returns (services, clients, service keytab)."""
    existing = set(kdc.list_principals())
    services = []
    for spec in args.service or ["HTTP/localhost"]:
        services.extend(_service_principals(spec))
    clients = list(args.client) + [args.principal_pattern.format(n=n, i=n - 1)
                                   for n in range(1, args.clients + 1)]
    extra = [name for _, names in args.keytab + args.stale_keytab for name in names]
    for name in dict.fromkeys(services + clients + extra):
        if kdc.principal(name) not in existing:
            kdc.add_principal(name, enctypes=args.enctypes)

    def path(name: str) -> str:
        return os.path.join(kdc.directory, name)

    service_kt = path("service.keytab")
    exports = ([(service_kt, services)] + [(path("clients/%s.keytab" % c), [c]) for c in clients]
               + [(path(f), names) for f, names in args.keytab + args.stale_keytab])
    for target, _ in exports:          # ktadd appends: start every keytab afresh
        if os.path.exists(target):
            os.unlink(target)
    for target, names in exports:
        if names:
            kdc.keytab(target, *names)
        else:
            kdc.empty_keytab(target)
    for _, names in args.stale_keytab:
        for name in names:
            kdc.change_key(name)
    exported = {path(f) for f, _ in args.keytab + args.stale_keytab}
    for name, enctypes in args.keytab_enctypes:
        target = path(name)
        if target not in exported:
            raise KdcError("--keytab-enctypes %s: no --keytab or --stale-keytab writes it" % name)
        everything = target + ".all"
        os.replace(target, everything)
        kdc.filter_keytab(everything, target, enctypes)
        os.unlink(everything)
    return services, clients, service_kt


def _wait(kdc: LoopbackKdc, stop: threading.Event, watch_stdin: bool) -> int:
    """Until a signal, the end of standard input (``watch_stdin``) or the KDC's exit."""
    while not stop.is_set():
        if watch_stdin:
            readable, _, _ = select.select([sys.stdin], [], [], 1.0)
            if readable and not os.read(sys.stdin.fileno(), 4096):
                return 0
        else:
            stop.wait(1.0)
        if not kdc.running:
            print("krb5kdc exited: %s" % kdc._log_tail(), file=sys.stderr)
            return 1
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    kdc = LoopbackKdc(args.directory, args.realm)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        kdc.start()
        services, clients, service_kt = _setup(kdc, args)
        print("# loopback KDC for %s on %s:%d (pid %d), directory %s"
              % (kdc.realm, kdc.host, kdc.port, kdc.proc.pid, kdc.directory))
        for k, v in kdc.env.items():
            print("export %s=%s" % (k, shlex.quote(v)))
        print("export KRB5_KTNAME=%s" % shlex.quote(service_kt))
        print("# service principals: %s" % ", ".join(kdc.principal(s) for s in services))
        for c in clients:
            print("# client %s: %s" % (kdc.principal(c),
                                       os.path.join(kdc.directory, "clients", c + ".keytab")))
        if clients:
            print("# e.g. /usr/bin/python3 tests/simulator/wef_forwarder.py --kerberos --url "
                  "http://%s:5985/wsman/SubscriptionManager/WEC --client-keytab "
                  "'%s/clients/{principal}.keytab' --machines %d --machine-pattern "
                  "'win{n:02d}.wec.test'%s"
                  % (services[0].split("/", 1)[1], kdc.directory, len(clients),
                     " --principal-pattern '%s'" % args.principal_pattern
                     if args.clients and not args.client else ""))
        sys.stdout.flush()
        if args.once:
            return 0
        print("# running; %s stops it" % ("the end of standard input, Ctrl-C or SIGTERM"
                                          if args.while_stdin_open else "Ctrl-C or SIGTERM"),
              flush=True)
        return _wait(kdc, stop, args.while_stdin_open)
    except KdcError as exc:
        print("loopback_kdc.py: %s" % exc, file=sys.stderr)
        return 1
    finally:
        kdc.stop()


if __name__ == "__main__":
    sys.exit(main())
