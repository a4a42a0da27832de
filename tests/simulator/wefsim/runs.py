"""Complete runs of simulated machines, the way a Windows forwarder behaves: enumerate on
connection A, then per subscription a keep-alive delivery connection with a Heartbeat and
Events batches (each waiting for its Ack), resuming from the collector's bookmark after a
failure; many machines at once, one thread each."""

from __future__ import annotations

import collections
import dataclasses
import http.client
import logging
import ssl
import threading
import time
from typing import Callable, Sequence

from .errors import DeliveryError, GiveUp, InvalidSubscription, ProtocolError, SimulatorError
from .events import load_events, utf16_size
from .forwarder import Forwarder
from .kerberos import KerberosClient, KerberosError, principal_for_machine
from .soap import Subscription, build_events, delivery_header, validate_subscription
from .transport import cert_thumbprint, make_ssl_context
from .wire import (ACTION_EVENTS, BOM, DEFAULT_BATCH_SIZE, DEFAULT_MAX_ENVELOPE_SIZE,
                   DEFAULT_MAX_RETRIES, DEFAULT_RETRY_INTERVAL, STATUS_SOURCE_SHUTTING_DOWN,
                   format_bookmark, format_bookmark_raw, lower_scheme, new_uuid, xml_escape)

__all__ = [
    "StreamResult", "MachineResult", "RunOptions", "run_subscription", "run_machine",
    "machine_names", "run_machines",
]

log = logging.getLogger("wef_forwarder")


@dataclasses.dataclass
class StreamResult:
    """Counters of one (machine, subscription) stream."""
    machine: str
    subscription: str | None
    events_acked: int = 0
    batches: int = 0
    heartbeats: int = 0
    retries: int = 0
    enumerations: int = 0
    statuses: dict = dataclasses.field(default_factory=dict)
    errors: list = dataclasses.field(default_factory=list)
    start_seqs: list = dataclasses.field(default_factory=list)
    last_seq: int = 0
    bookmark: str | None = None
    bytes_sent: int = 0
    connections: int = 0
    handshakes: int = 0                     # Kerberos authentication requests
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None
    subscription_end_status: int | None = None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["statuses"] = {str(k): v for k, v in sorted(self.statuses.items(), key=str)}
        d["errors"] = self.errors[-10:]
        d["seconds"] = round(self.seconds, 3)
        return d


@dataclasses.dataclass
class MachineResult:
    machine: str
    streams: list = dataclasses.field(default_factory=list)
    statuses: dict = dataclasses.field(default_factory=dict)   # connection A statuses
    enumerate_retries: int = 0
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None

    @property
    def events_acked(self) -> int:
        return sum(s.events_acked for s in self.streams)

    def summary(self) -> dict:
        """The CLI's JSON line."""
        statuses: collections.Counter = collections.Counter()
        for k, v in self.statuses.items():
            statuses[str(k)] += v
        for s in self.streams:
            for k, v in s.statuses.items():
                statuses[str(k)] += v
        names = [s.subscription for s in self.streams]
        return {
            "machine": self.machine,
            "subscription": names[0] if len(names) == 1 else names,
            "events_acked": self.events_acked,
            "batches": sum(s.batches for s in self.streams),
            "retries": self.enumerate_retries + sum(s.retries for s in self.streams),
            "statuses": dict(sorted(statuses.items())),
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "error": self.error,
            "subscriptions": [s.as_dict() for s in self.streams],
        }


@dataclasses.dataclass
class RunOptions:
    """Options of run_subscription/run_machine/run_machines (all keyword arguments there)."""
    batch_size: int = DEFAULT_BATCH_SIZE
    total_events: int | None = None         # None: one pass over the event lines
    retry_interval: float | None = None     # None: the subscription's ConnectionRetry (60 s)
    max_retries: int | None = None          # None: ConnectionRetry Total, else 5
    deadline: float | None = 3600.0         # seconds for the whole machine run
    timeout: float = 60.0                   # socket timeout
    connect_host: str | None = None
    connect_port: int | None = None
    source_address: str | None = None       # bind the connections' local end to this address
    verify_hostname: bool = True
    tls_version: str | None = None
    key_password: str | None = None
    max_envelope_size: int | None = None    # None: the subscription's Delivery MaxEnvelopeSize
    send_heartbeat: bool = True
    subscription_end: bool = False
    subscription_end_status: str = STATUS_SOURCE_SHUTTING_DOWN
    subscription_end_fault: bool = False
    strict: bool = True                     # refuse Subscribes Windows would refuse
    issuer_ca: str | None = None            # PEM of the client's issuing CA to check thumbprints
    subscriptions: Sequence[str] | None = None   # only these SubscriptionNames
    on_ack: Callable | None = None          # on_ack(machine, sub, first_seq, last_seq)
    # Kerberos mode (http:// URL): a ready KerberosClient, or the pieces to build one
    kerberos: object | None = None          # KerberosClient shared by the machine's streams
    client_keytab: str | None = None        # the machine account's keytab
    principal: str | None = None            # e.g. WIN01$ or WIN01$@WEC.TEST
    scheme: str = "Kerberos"                # or Negotiate
    tabs: bool = False                      # spec framing (tabs) instead of Windows'
    compress: str = "auto"                  # SLDC: auto (when the subscription asks), always, never
    spn: str | None = None                  # e.g. HOST/wec.wec.test (default HTTP/<host>)
    krb5_config: str | None = None          # sets KRB5_CONFIG (process-wide)


def _opts(kw: dict) -> RunOptions:
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    bad = set(kw) - fields
    if bad:
        raise TypeError("unknown option(s): %s" % ", ".join(sorted(bad)))
    return RunOptions(**kw)


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return "HTTP %s" % exc.status
    if isinstance(exc, ssl.SSLError):
        return "TLS error: %s" % exc
    if isinstance(exc, ssl.CertificateError):
        return "TLS certificate error: %s" % exc
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return "connection error: %s: %s" % (type(exc).__name__, exc)
    return "%s: %s" % (type(exc).__name__, exc)


_RETRYABLE = (DeliveryError, ProtocolError, KerberosError, OSError, ssl.SSLError,
              http.client.HTTPException)


def _kerberos_mode(url: str, opts: RunOptions) -> bool:
    return (opts.kerberos is not None or bool(opts.client_keytab) or bool(opts.principal)
            or url.strip().lower().startswith("http:"))


def _kerberos_client(url: str, opts: RunOptions) -> KerberosClient | None:
    """The KerberosClient of a run (None in HTTPS mode)."""
    if not _kerberos_mode(url, opts):
        return None
    if url.strip().lower().startswith("https:"):
        raise SimulatorError("Kerberos mode needs an http:// URL (port 5985), not %s" % url)
    if opts.kerberos is not None:
        return opts.kerberos
    return KerberosClient(opts.client_keytab, opts.principal, scheme=opts.scheme,
                          spn=opts.spn, tabs=opts.tabs, krb5_config=opts.krb5_config)


def _match(subs: list[Subscription], old: Subscription) -> Subscription | None:
    for attr in ("name", "notify_to"):
        want = getattr(old, attr)
        if want:
            for s in subs:
                if getattr(s, attr) == want:
                    return s
    return subs[old.index] if old.index < len(subs) else None


def _enumerate_once(fw: Forwarder, counters) -> list[Subscription]:
    """Enumerate + End on connection A, raising on any failure."""
    try:
        status, subs, _ = fw.enumerate()
        counters[status] += 1
        if status != 200:
            raise DeliveryError("Enumerate: HTTP %d" % status, status)
        status, _ = fw.end()
        counters[status] += 1
        if status not in (200, 204):
            raise DeliveryError("End: HTTP %d" % status, status)
        return subs
    finally:
        fw.close("manager")


def run_subscription(url: str, machine: str, sub: Subscription, events, *,
                     ssl_context: ssl.SSLContext | None = None, opts: RunOptions | None = None,
                     deadline_at: float | None = None,
                     kerberos: KerberosClient | None = None, **options) -> StreamResult:
    """Deliver all events of one (machine, subscription) stream: Heartbeat, Events batches
    with bookmarks, retry with re-enumeration. ``sub`` comes from Forwarder.enumerate();
    ``events`` is an EventTemplates or event file(s); options as in RunOptions (or ``opts``).
    ``ssl_context`` is needed for https, ``kerberos`` (or the Kerberos options) for http.
    ``deadline_at`` is a time.monotonic() value. Raises GiveUp (with ``.result``) when retries
    or time run out, InvalidSubscription when strict checks fail."""
    opts = opts or _opts(options)
    if kerberos is None:
        kerberos = _kerberos_client(url, opts)
    events = load_events(events)
    if deadline_at is None and opts.deadline:
        deadline_at = time.monotonic() + opts.deadline
    t0 = time.monotonic()
    res = StreamResult(machine=machine, subscription=sub.name or sub.key)
    statuses: collections.Counter = collections.Counter()
    total = opts.total_events if opts.total_events is not None else len(events)
    machine_u16 = utf16_size(machine)
    https = url.lower().startswith("https:")
    issuer = cert_thumbprint(opts.issuer_ca) if opts.issuer_ca else None
    consecutive = 0
    resubscribe = False

    fw = Forwarder(url, machine=machine, ssl_context=ssl_context,
                   connect_host=opts.connect_host, connect_port=opts.connect_port,
                   timeout=opts.timeout, kerberos=kerberos, compress=opts.compress,
                   source_address=(opts.source_address, 0) if opts.source_address else None)
    next_seq = sub.start_seq
    res.start_seqs.append(next_seq)
    try:
        while True:
            if deadline_at is not None and time.monotonic() > deadline_at:
                raise GiveUp("%s/%s: deadline reached after %d retries (last error: %s)"
                             % (machine, res.subscription, res.retries, res.error), res)
            try:
                if resubscribe:
                    fw.close()
                    res.enumerations += 1
                    subs = _enumerate_once(fw, statuses)
                    new = _match(subs, sub)
                    if new is None:
                        raise ProtocolError("subscription %r no longer offered" % sub.key)
                    sub = new
                    next_seq = sub.start_seq
                    res.start_seqs.append(next_seq)
                    resubscribe = False
                if opts.strict:
                    problems = validate_subscription(sub, https, issuer,
                                                     kerberos=kerberos is not None)
                    if problems:
                        raise InvalidSubscription("%s/%s: %s" % (machine, sub.key,
                                                                 "; ".join(problems)))
                if opts.send_heartbeat:
                    status, body = fw.heartbeat(sub)
                    statuses[status] += 1
                    fw.check_ack(status, body)
                    res.heartbeats += 1
                max_env = (opts.max_envelope_size or sub.max_envelope_size or
                           DEFAULT_MAX_ENVELOPE_SIZE)
                # Budget: MaxEnvelopeSize minus BOM, header (with the longest bookmark) and tail.
                probe = build_events(sub.notify_to, machine, [],
                                     format_bookmark(events.max_channel, 10 ** 19),
                                     reference_headers=sub.reference_headers,
                                     max_envelope_size=fw.max_envelope_size,
                                     locale=fw.locale, data_locale=fw.data_locale)
                budget = max_env - 2 - utf16_size(probe)
                batch_max = opts.batch_size
                if sub.max_elements:
                    batch_max = min(batch_max, sub.max_elements)
                to = xml_escape(lower_scheme(sub.notify_to), quote=False)
                refs = "".join(sub.reference_headers)
                session_id = fw.connection(sub.notify_to).wef_session_id
                tail = "</w:Events></s:Body></s:Envelope>"
                while next_seq <= total:
                    pieces, count, last, channel = events.build_batch(
                        next_seq, total, batch_max, budget, machine, machine_u16)
                    bookmark = format_bookmark_raw(channel, last)
                    mid = new_uuid()
                    head = delivery_header(ACTION_EVENTS, to, machine, mid, session_id,
                                            new_uuid(), refs, fw.max_envelope_size,
                                            fw.locale, fw.data_locale, "PT60.000S")
                    body = BOM + (head + "<w:Bookmark>" + bookmark +
                                  "</w:Bookmark><w:AckRequested/></s:Header><s:Body><w:Events>" +
                                  "".join(pieces) + tail).encode("utf-16-le")
                    if len(body) > max_env and count > 1:
                        log.warning("batch of %d bytes exceeds MaxEnvelopeSize %d",
                                    len(body), max_env)
                    res.bytes_sent += len(body)
                    status, rbody = fw.send_prepared(sub, body, mid)
                    statuses[status] += 1
                    fw.check_ack(status, rbody, mid)
                    if opts.on_ack:
                        opts.on_ack(machine, sub, next_seq, last)
                    res.events_acked += count
                    res.batches += 1
                    res.last_seq = max(res.last_seq, last)
                    res.bookmark = bookmark
                    next_seq = last + 1
                    consecutive = 0
                if opts.subscription_end:
                    status, body = fw.subscription_end(sub, opts.subscription_end_fault,
                                                       opts.subscription_end_status)
                    statuses[status] += 1
                    res.subscription_end_status = status
                    if status not in (200, 204):
                        raise DeliveryError("SubscriptionEnd: HTTP %d" % status, status)
                    status, body = fw.end(sub)
                    statuses[status] += 1
                    if status not in (200, 204):
                        raise DeliveryError("End after SubscriptionEnd: HTTP %d" % status, status)
                res.ok = True
                res.error = None
                return res
            except _RETRYABLE as exc:
                kind = _error_kind(exc)
                res.error = kind
                res.errors.append(kind)
                consecutive += 1
                max_retries = opts.max_retries
                if max_retries is None:
                    max_retries = sub.connection_retry_total or DEFAULT_MAX_RETRIES
                if consecutive > max_retries:
                    raise GiveUp("%s/%s: giving up after %d retries (last error: %s)"
                                 % (machine, res.subscription, consecutive - 1, kind),
                                 res) from exc
                res.retries += 1
                wait = opts.retry_interval
                if wait is None:
                    wait = sub.connection_retry_interval or DEFAULT_RETRY_INTERVAL
                if deadline_at is not None:
                    wait = min(wait, max(0.0, deadline_at - time.monotonic()))
                log.info("%s/%s: %s; retry %d in %.2fs", machine, res.subscription, kind,
                         consecutive, wait)
                fw.close()
                time.sleep(wait)
                resubscribe = True
    except BaseException as exc:
        res.ok = False
        if not isinstance(exc, GiveUp):
            res.error = _error_kind(exc)
        raise
    finally:
        fw.close()
        res.connections = fw.connects
        res.handshakes = fw.handshakes
        res.statuses = dict(statuses)
        res.seconds = time.monotonic() - t0


def run_machine(url: str, machine: str, cert: str | None, key: str | None, ca: str | None,
                events=None, **options) -> MachineResult:
    """Run one machine: Enumerate + End (with retries), then one thread per subscription
    (run_subscription). ``events``: EventTemplates, a file or a list of files (default the
    repository's tests/data/events-permissive.xml). Options: see RunOptions. Never raises for
    delivery problems: check ``.ok`` / ``.error`` and each stream's result.

    Kerberos mode (http:// URL): cert/key/ca are not used; the options ``kerberos`` (a
    KerberosClient) or ``client_keytab``/``principal``/``scheme``/``tabs``/``spn`` give the
    machine's credentials (all streams of the machine share them)."""
    opts = _opts(options)
    t0 = time.monotonic()
    res = MachineResult(machine=machine)
    deadline_at = t0 + opts.deadline if opts.deadline else None
    statuses: collections.Counter = collections.Counter()
    try:
        templates = load_events(events)
        kerberos = _kerberos_client(url, opts)
        ctx = None
        if kerberos is None:
            try:
                ctx = make_ssl_context(cert, key, ca, opts.verify_hostname, opts.key_password,
                                       opts.tls_version)
            except (OSError, ssl.SSLError) as exc:
                raise SimulatorError("cannot load TLS material (cert=%s, key=%s, ca=%s): %s"
                                     % (cert, key, ca, exc)) from None
        fw = Forwarder(url, machine=machine, ssl_context=ctx, connect_host=opts.connect_host,
                       connect_port=opts.connect_port, timeout=opts.timeout,
                       kerberos=kerberos, compress=opts.compress,
                       source_address=(opts.source_address, 0) if opts.source_address else None)
        attempts = 0
        while True:
            try:
                subs = _enumerate_once(fw, statuses)
                break
            except _RETRYABLE as exc:
                attempts += 1
                res.error = _error_kind(exc)
                limit = opts.max_retries if opts.max_retries is not None else DEFAULT_MAX_RETRIES
                if attempts > limit or (deadline_at and time.monotonic() >= deadline_at):
                    raise GiveUp("%s: enumeration failed %d times (last error: %s)"
                                 % (machine, attempts, res.error)) from exc
                res.enumerate_retries += 1
                wait = opts.retry_interval if opts.retry_interval is not None \
                    else DEFAULT_RETRY_INTERVAL
                if deadline_at:
                    wait = min(wait, max(0.0, deadline_at - time.monotonic()))
                log.info("%s: enumeration failed (%s); retry in %.2fs", machine, res.error, wait)
                time.sleep(wait)
        res.error = None
        if opts.subscriptions:
            subs = [s for s in subs if s.name in opts.subscriptions]
        log.info("%s: %d subscription(s): %s", machine, len(subs),
                 ", ".join("%s@%s" % (s.key, s.start_seq) for s in subs))
        results: list = [None] * len(subs)
        errors: list = []

        def worker(i: int, s: Subscription):
            try:
                results[i] = run_subscription(url, machine, s, templates, ssl_context=ctx,
                                              opts=opts, deadline_at=deadline_at,
                                              kerberos=kerberos)
            except GiveUp as exc:
                results[i] = exc.result
                errors.append(str(exc))
            except Exception as exc:   # InvalidSubscription and bugs
                results[i] = StreamResult(machine=machine, subscription=s.key,
                                          error=_error_kind(exc))
                errors.append("%s/%s: %s" % (machine, s.key, _error_kind(exc)))
                if not isinstance(exc, SimulatorError):
                    log.exception("%s/%s: unexpected error", machine, s.key)

        threads = [threading.Thread(target=worker, args=(i, s), name="%s/%s" % (machine, s.key),
                                    daemon=True) for i, s in enumerate(subs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        res.streams = [r for r in results if r is not None]
        res.ok = not errors and all(r.ok for r in res.streams)
        res.error = "; ".join(errors) or None
    except GiveUp as exc:
        res.error = str(exc)
    except Exception as exc:
        res.error = str(exc) if isinstance(exc, SimulatorError) else _error_kind(exc)
        if not isinstance(exc, (SimulatorError, OSError, ssl.SSLError, ValueError)):
            log.exception("%s: unexpected error", machine)
    res.statuses = dict(statuses)
    res.seconds = time.monotonic() - t0
    return res


def machine_names(count: int, pattern: str = "win{n:02d}.corp.example") -> list[str]:
    """Names for ``count`` machines: pattern formatted with n = 1..count (and i = n - 1)."""
    return [pattern.format(n=n, i=n - 1) for n in range(1, count + 1)]


def run_machines(url: str, machines, ca: str | None = None, *, cert: str | None = None,
                 key: str | None = None, cert_pattern: str | None = None,
                 key_pattern: str | None = None, events=None,
                 machine_pattern: str = "win{n:02d}.corp.example",
                 raise_on_error: bool = False, client_keytab_pattern: str | None = None,
                 principal_pattern: str | None = None, realm: str | None = None,
                 **options) -> list[MachineResult]:
    """Run several machines concurrently (one thread per machine, each with one thread per
    subscription). ``machines`` is a count (names from ``machine_pattern``) or a list of
    names. Each machine uses ``cert_pattern``/``key_pattern`` formatted with ``{machine}``
    (and ``{n}``), or the shared ``cert``/``key``. With ``raise_on_error`` a GiveUp listing the
    failed machines is raised after all have finished (``.result`` = the result list).

    Kerberos mode (http:// URL or Kerberos options): each machine gets its own
    KerberosClient with the principal ``principal_pattern`` (default ``{SHORT}$``: machine
    win01.wec.test -> WIN01$; placeholders {machine} {n} {i} {short} {SHORT}; ``realm``
    appended when given, else krb5's default realm) unless the option ``principal`` fixes
    one, and the keytab ``client_keytab_pattern`` (placeholders as above plus {principal},
    the principal without realm) or the shared option ``client_keytab``."""
    names = machine_names(machines, machine_pattern) if isinstance(machines, int) \
        else list(machines)
    templates = load_events(events)
    base = _opts(options)   # validate early
    kerberos = (_kerberos_mode(url, base) or bool(client_keytab_pattern)
                or bool(principal_pattern)) and base.kerberos is None
    results: list = [None] * len(names)

    def one(i: int, name: str):
        c = cert_pattern.format(machine=name, n=i + 1) if cert_pattern else cert
        k = key_pattern.format(machine=name, n=i + 1) if key_pattern else key
        if cert_pattern and not key_pattern:
            k = None
        opts = options
        if kerberos:
            opts = dict(options)
            principal = options.get("principal") or principal_for_machine(
                name, i + 1, principal_pattern, realm)
            opts["principal"] = principal
            if client_keytab_pattern:
                short = name.split(".", 1)[0]
                opts["client_keytab"] = client_keytab_pattern.format(
                    machine=name, n=i + 1, i=i, short=short, SHORT=short.upper(),
                    principal=principal.split("@", 1)[0])
        results[i] = run_machine(url, name, c, k, ca, templates, **opts)

    if len(names) == 1:
        one(0, names[0])
    else:
        threads = [threading.Thread(target=one, args=(i, n), name=n, daemon=True)
                   for i, n in enumerate(names)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if raise_on_error and not all(r.ok for r in results):
        raise GiveUp("; ".join("%s: %s" % (r.machine, r.error) for r in results if not r.ok),
                     results)
    return results
