"""The Forwarder: one Windows machine's WinRM client for single requests (Enumerate and End on
connection A; Heartbeat, Events, SubscriptionEnd on a delivery connection), over HTTPS with a
client certificate or over HTTP with Kerberos and encrypted bodies, SLDC-compressed when the
subscription asks for it, with the low-level helpers the tests use to send what Windows would
not."""

from __future__ import annotations

import collections
import logging
import select
import socket
import ssl
import urllib.parse
import uuid
from typing import Iterable, Sequence

from .errors import DeliveryError, ProtocolError
from .kerberos import KerberosClient, KerberosError, offered_schemes, www_authenticate_values
from .soap import (Subscription, build_end, build_enumerate, build_events, build_heartbeat,
                   build_subscription_end, parse_ack, parse_enumerate_response)
from .transport import HttpsConnection, PlainConnection, make_ssl_context, split_url
from .wire import (ACTION_ACK, CONTENT_TYPE, DEFAULT_MAX_ENVELOPE_SIZE,
                   STATUS_SOURCE_SHUTTING_DOWN, USER_AGENT, decode_body, encode_body, new_uuid,
                   sldc_compress)

__all__ = ["Forwarder"]

log = logging.getLogger("wef_forwarder")
_DEFAULT_AUTH = object()     # "generate a real token" marker of Forwarder.authenticate()


class Forwarder:
    """One forwarding machine's WinRM client, for single requests.

    ``Forwarder(url, cert, key, ca, machine, connect_host=None, connect_port=None,
    verify_hostname=True, timeout=60, key_password=None, ssl_context=None,
    max_envelope_size=512000, locale='en-US', data_locale='en-US', tls_version=None,
    source_address=None)``

    ``url`` is the SubscriptionManager URL of the GPO (``https://wec:5986/wsman/
    SubscriptionManager/WEC``); ``machine`` the FQDN sent as MachineID and written into events.
    Connection A (manager) and the delivery connections (one per collector host:port) are
    separate keep-alive HTTPS connections. ``source_address`` ``(host, port)`` binds every
    connection's local end (``("127.0.0.7", 0)``: another loopback address). Methods:

    * ``enumerate()`` -> ``(status, [Subscription], raw_body_bytes)``; raises ProtocolError if
      a 200 reply's a:RelatesTo is not our MessageID or the reply cannot be parsed.
    * ``end(sub=None, operation_id=None, close=True)`` -> ``(status, body)``: End on
      connection A for the last Enumerate (then closes A), or, with ``sub``, to its EndTo
      address for the last SubscriptionEnd.
    * ``heartbeat(sub)`` -> ``(status, body)``
    * ``send_events(sub, events, bookmark_xml)`` -> ``(status, body)``; ``events`` are Event
      XML strings (wrapped in CDATA here), ``bookmark_xml`` a BookmarkList or None.
    * ``subscription_end(sub, with_fault=False, status=STATUS_SOURCE_SHUTTING_DOWN)`` ->
      ``(status, body)``
    * ``raw_post(path, body_bytes, headers=None, conn=None, auto_headers=True,
      authenticate=False)`` -> ``(status, headers, body)``: the bytes as they are (never
      encrypted); ``authenticate`` first runs the Kerberos handshake on that connection.
    * ``check_ack(status, body)`` raises DeliveryError/ProtocolError unless it is the Ack of
      the last request.

    Kerberos mode: ``Forwarder("http://wec:5985/wsman/SubscriptionManager/WEC",
    machine=..., kerberos=KerberosClient(keytab, "WIN01$"))``. Every http:// connection then
    starts with the authentication request and encrypts all bodies; the methods above are
    unchanged (their bodies are the decrypted replies). Low-level helpers for tests:

    * ``authenticate(url=None, role=None, authorization=<real token>, body=b"",
      new_connection=True)`` -> ``(status, headers, body)``: the first request of a
      connection; ``authorization`` a header value of your own, or None for no header.
      With the real token a 200 reply completes the context (mutual authentication checked).
    * ``send_plain(url, text_or_bytes, role=None)``: an unencrypted SOAP body on an
      authenticated connection -> ``(status, headers, body)``.
    * ``send_encrypted(url, text_or_bytes, role=None, corrupt=False, length=None,
      tabs=None)`` / ``send_corrupted(url, text_or_bytes)`` (one ciphertext byte flipped)
      -> ``(status, headers, body)`` (body decrypted when the reply is encrypted).

    After each request ``last_message_id``, ``last_operation_id``, ``last_request`` (the SOAP
    body bytes; in Kerberos mode the plaintext, ``last_wire_request`` the encrypted bytes),
    ``last_status``, ``last_response_headers``, ``last_www_authenticate`` (WWW-Authenticate
    values of the last reply) and ``last_response_encrypted`` are set. Every 401 appends its
    WWW-Authenticate values to ``challenges`` (a 401 must offer both Kerberos and Negotiate;
    ``challenge_problems`` lists the 401s that did not). ``statuses`` counts HTTP statuses
    (authentication requests included; ``handshakes`` counts those). Not thread-safe: use
    one Forwarder per thread (they can share an ``ssl_context`` and a ``KerberosClient``).
    """

    def __init__(self, url: str, cert: str | None = None, key: str | None = None,
                 ca: str | None = None, machine: str | None = None, *,
                 connect_host: str | None = None, connect_port: int | None = None,
                 verify_hostname: bool = True, timeout: float = 60.0,
                 key_password: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
                 locale: str | None = "en-US", data_locale: str | None = "en-US",
                 tls_version: str | None = None, kerberos: KerberosClient | None = None,
                 compress: str = "auto", source_address: tuple | None = None):
        self.url = url
        split_url(url)   # validate
        self.machine = machine or socket.getfqdn()
        self.kerberos = kerberos
        self._tls_args = (cert, key, ca, verify_hostname, key_password, tls_version)
        if ssl_context is None and (url.lower().startswith("https:") or cert):
            ssl_context = make_ssl_context(*self._tls_args)
        self.ctx = ssl_context
        self.connect_host = connect_host
        self.connect_port = connect_port
        self.source_address = source_address
        self.timeout = timeout
        self.max_envelope_size = max_envelope_size
        if compress not in ("auto", "always", "never"):
            raise ValueError("compress must be auto, always or never, not %r" % compress)
        self.compress = compress   # auto: SLDC when the subscription asks for it, as Windows
        self.locale = locale
        self.data_locale = data_locale
        self.statuses: collections.Counter = collections.Counter()
        self.connects = 0
        self._conns: dict = {}
        self.enumerate_operation_id: str | None = None
        self.subscription_end_operation_id: str | None = None
        self.last_message_id: str | None = None
        self.last_operation_id: str | None = None
        self.last_request: bytes | None = None
        self.last_wire_request: bytes | None = None
        self.last_status: int | None = None
        self.last_response_headers: list = []
        self.last_www_authenticate: list = []
        self.last_response_encrypted = False
        self.challenges: list = []            # WWW-Authenticate values of each 401
        self.challenge_problems: list = []    # 401s without both Kerberos and Negotiate
        self.handshakes = 0
        self.client_identifiers: dict = {}

    # -- connections ---------------------------------------------------------------------
    def connection(self, url: str, role: str = "delivery") -> HttpsConnection:
        """The keep-alive connection used for ``url`` (``role`` 'manager' = connection A,
        'delivery' = connection B): HTTPS for https:// URLs, plain HTTP for http:// ones."""
        host, port, _, _ = split_url(url)
        https = url.strip().lower().startswith("https:")
        key = (role, host.lower(), port) if https else (role, host.lower(), port, "http")
        conn = self._conns.get(key)
        if conn is None:
            if https:
                if self.ctx is None:
                    self.ctx = make_ssl_context(*self._tls_args)
                conn = HttpsConnection(host, port, self.ctx, self.connect_host, self.connect_port,
                                       self.timeout, self.source_address)
            else:
                conn = PlainConnection(host, port, self.connect_host, self.connect_port, self.timeout,
                                       self.source_address)
            self._conns[key] = conn
        return conn

    def _kerberos_for(self, conn) -> KerberosClient | None:
        return self.kerberos if isinstance(conn, PlainConnection) else None

    def close(self, role: str | None = None) -> None:
        """Close all connections, or those of one role."""
        for key in list(self._conns):
            if role is None or key[0] == role:
                conn = self._conns.pop(key)
                self.connects += conn.wef_connects
                conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _exchange(self, conn, path: str, hdrs: list, body: bytes) -> tuple[int, list, bytes]:
        """Send one request on ``conn`` (connected) and read the reply."""
        try:
            conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for name, value in hdrs:
                conn.putheader(name, value)
            try:
                conn.endheaders(body)
            except (OSError, ssl.SSLError) as send_error:
                # A server may answer (413) and close before the body is read; the write then
                # fails, but the answer is already in the socket's receive queue: read it.
                if not self._answered_before_close(conn):
                    raise send_error
            conn.wef_requests += 1
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        headers = resp.getheaders()
        if resp.will_close:
            conn.close()
        self.statuses[resp.status] += 1
        self.last_status = resp.status
        self.last_response_headers = headers
        self.last_www_authenticate = www_authenticate_values(headers)
        self.last_response_encrypted = False
        if resp.status == 401:
            self.challenges.append(list(self.last_www_authenticate))
            schemes = {x.lower() for x in offered_schemes(headers)}
            missing = [x for x in ("Kerberos", "Negotiate") if x.lower() not in schemes]
            if missing:
                self.challenge_problems.append(
                    "401 on %s without WWW-Authenticate %s (got %r)"
                    % (path, " and ".join(missing), self.last_www_authenticate))
        return resp.status, headers, data

    @staticmethod
    def _answered_before_close(conn, wait: float = 5.0) -> bool:
        """After a failed write: did the server send something (its answer) to read?"""
        sock = conn.sock
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            readable, _, _ = select.select([sock], [], [], wait)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def _ensure_connected(self, conn) -> None:
        if conn.sock is not None and conn.wef_requests and conn.dropped():
            log.debug("keep-alive connection to %s:%s was closed by the peer, reconnecting",
                      conn.host, conn.port)
            conn.close()
        if conn.sock is None:
            conn.connect()

    def _handshake(self, conn, path: str, hosthdr: str, authorization=_DEFAULT_AUTH,
                   body: bytes = b"", content_type: str = CONTENT_TYPE,
                   check: bool = True) -> tuple[int, list, bytes]:
        """The authentication request of a fresh TCP connection (as Windows: empty body,
        Authorization after Content-Type). With the real token and ``check``, anything but a
        200 carrying the AP-REP raises DeliveryError/KerberosError."""
        krb = self.kerberos
        ctx = None
        if authorization is _DEFAULT_AUTH:
            if krb is None:
                raise KerberosError("no KerberosClient given to this Forwarder")
            ctx = krb.new_context(conn.host)
            authorization = ctx.authorization
        hdrs = [("Connection", "Keep-Alive"), ("Content-Type", content_type)]
        if authorization is not None:
            hdrs.append(("Authorization", authorization))
        hdrs += [("User-Agent", USER_AGENT), ("Content-Length", str(len(body))),
                 ("Host", hosthdr)]
        self.last_request = self.last_wire_request = body
        status, headers, data = self._exchange(conn, path, hdrs, body)
        self.handshakes += 1
        conn.wef_handshakes += 1
        if ctx is not None and status == 200:
            ctx.complete(headers)          # raises KerberosError: no or bad AP-REP
            if conn.sock is None:
                raise ProtocolError("the collector closed the connection after authenticating")
            conn.wef_krb = ctx
        elif ctx is not None and check:
            extra = ""
            if status == 401:
                extra = " (WWW-Authenticate: %s)" % (", ".join(self.last_www_authenticate)
                                                     or "none")
            err = DeliveryError("Kerberos authentication on %s: HTTP %d%s"
                                % (path, status, extra), status)
            err.www_authenticate = list(self.last_www_authenticate)
            raise err
        return status, headers, data

    def _post(self, conn: HttpsConnection, path: str, hosthdr: str, body: bytes,
              headers: Sequence[tuple[str, str]] | None = None,
              auto_headers: bool = True, secure: bool | None = None,
              corrupt: bool = False, length: int | None = None,
              tabs: bool | None = None, compress: bool = True) -> tuple[int, list, bytes]:
        """POST ``body``. In Kerberos mode (http connection of a Forwarder with a
        KerberosClient, ``secure`` not False) the connection is authenticated first if it is
        new, the body is encrypted and an encrypted reply is decrypted; ``secure=False``
        sends the bytes as they are (raw_post)."""
        self._ensure_connected(conn)
        krb = self._kerberos_for(conn) if secure is not False else None
        if krb is not None and conn.wef_krb is None:
            self._handshake(conn, path, hosthdr)
        self.last_request = body
        ctype = CONTENT_TYPE
        # A subscription that asked for SLDC gets compressed bodies, before encryption; like
        # Windows, SubscriptionEnd and End carry the header but go uncompressed.
        sldc = getattr(conn, "wef_sldc", False) and secure is not False
        wire = sldc_compress(body) if sldc and compress else body
        if krb is not None:
            wire, ctype = conn.wef_krb.encrypt(wire, corrupt=corrupt, length=length, tabs=tabs)
        self.last_wire_request = wire
        if headers is None:
            hdrs = [("Connection", "Keep-Alive"), ("Content-Type", ctype),
                    ("User-Agent", USER_AGENT), ("Content-Length", str(len(wire))),
                    ("Host", hosthdr)]
            if sldc:
                hdrs.insert(2, ("Content-Encoding", "SLDC"))
        else:
            hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers)
            if auto_headers:
                names = {h[0].lower() for h in hdrs}
                if "content-length" not in names:
                    hdrs.append(("Content-Length", str(len(wire))))
                if "host" not in names:
                    hdrs.append(("Host", hosthdr))
        ctx = conn.wef_krb
        status, rheaders, data = self._exchange(conn, path, hdrs, wire)
        return status, rheaders, self._reply_body(ctx if krb is not None else None, status,
                                                  rheaders, data)

    def _reply_body(self, ctx, status: int, headers: list, data: bytes) -> bytes:
        if ctx is None:
            return data
        rtype = next((v for k, v in headers if k.lower() == "content-type"), "")
        if rtype.strip().lower().startswith("multipart/encrypted"):
            self.last_response_encrypted = True
            return ctx.decrypt(rtype, data)
        if status == 200 and data:
            raise ProtocolError("unencrypted reply body (%d bytes, Content-Type %r) on a "
                                "Kerberos connection" % (len(data), rtype))
        return data

    def raw_post(self, path: str, body_bytes: bytes, headers=None, conn=None,
                 auto_headers: bool = True, authenticate: bool = False
                 ) -> tuple[int, list, bytes]:
        """POST arbitrary bytes. ``path`` is a full URL or a path on the manager's host.
        ``headers``: None = Windows' five headers; otherwise a list of (name, value) (or a
        dict) sent in that order, with Content-Length and Host appended when missing unless
        ``auto_headers`` is false. ``conn``: None/'manager' = connection A, 'delivery' = the
        delivery connection for that host, or a connection object from ``connection()``.
        The body is never encrypted; with ``authenticate`` (Kerberos mode) a connection that
        has no security context yet first does the authentication request.
        Returns (status, [(header, value)], body bytes)."""
        url = path if "://" in path else urllib.parse.urljoin(self.url, path)
        host, port, rpath, hosthdr = split_url(url)
        if conn is None or isinstance(conn, str):
            conn = self.connection(url, conn or "manager")
        if authenticate and self._kerberos_for(conn) is not None:
            self._ensure_connected(conn)
            if conn.wef_krb is None:
                self._handshake(conn, rpath, hosthdr)
        return self._post(conn, rpath, hosthdr, body_bytes, headers, auto_headers, secure=False)

    # -- Kerberos test helpers -----------------------------------------------------------
    def _target(self, url: str | None, role: str | None):
        url = self.url if url is None else url
        url = url if "://" in url else urllib.parse.urljoin(self.url, url)
        if role is None:
            role = "manager" if url == self.url else "delivery"
        host, port, rpath, hosthdr = split_url(url)
        return self.connection(url, role), rpath, hosthdr

    def authenticate(self, url: str | None = None, role: str | None = None,
                     authorization=_DEFAULT_AUTH, body: bytes = b"",
                     content_type: str = CONTENT_TYPE, new_connection: bool = True
                     ) -> tuple[int, list, bytes]:
        """Send the authentication request (first request of a connection) to ``url``
        (default: the manager URL; a path is joined to it). ``authorization``: omitted = a
        real token from the KerberosClient (a 200 then completes the context; mutual
        authentication failures raise KerberosError); a string = that header value; None =
        no Authorization header. ``new_connection`` closes the connection first (as Windows,
        which authenticates once per TCP connection). Returns (status, headers, body);
        does not raise for non-200 statuses."""
        conn, rpath, hosthdr = self._target(url, role)
        if new_connection:
            conn.close()
        self._ensure_connected(conn)
        return self._handshake(conn, rpath, hosthdr, authorization, body, content_type,
                               check=False)

    def _secure_conn(self, url, role):
        conn, rpath, hosthdr = self._target(url, role)
        if self._kerberos_for(conn) is None:
            raise KerberosError("not a Kerberos connection (no KerberosClient or https URL)")
        self._ensure_connected(conn)
        if conn.wef_krb is None:
            self._handshake(conn, rpath, hosthdr)
        return conn, rpath, hosthdr

    def send_plain(self, url: str | None, body, role: str | None = None
                   ) -> tuple[int, list, bytes]:
        """An unencrypted SOAP body (str = envelope, encoded UTF-16LE with BOM; bytes as is)
        with ``Content-Type: application/soap+xml;charset=UTF-16`` on an authenticated
        Kerberos connection. Returns (status, headers, body)."""
        conn, rpath, hosthdr = self._secure_conn(url, role)
        data = encode_body(body) if isinstance(body, str) else body
        return self._post(conn, rpath, hosthdr, data, secure=False)

    def send_encrypted(self, url: str | None, body, role: str | None = None, *,
                       corrupt: bool = False, length: int | None = None,
                       tabs: bool | None = None) -> tuple[int, list, bytes]:
        """An encrypted SOAP body on an authenticated Kerberos connection; ``corrupt`` flips
        one ciphertext byte, ``length`` overrides OriginalContent Length, ``tabs`` overrides
        the client's framing. Returns (status, headers, body) with an encrypted reply
        decrypted (a plain reply is returned as it is)."""
        conn, rpath, hosthdr = self._secure_conn(url, role)
        data = encode_body(body) if isinstance(body, str) else body
        self._ensure_connected(conn)
        if conn.wef_krb is None:          # the connection was dropped meanwhile
            self._handshake(conn, rpath, hosthdr)
        ctx = conn.wef_krb
        wire, ctype = ctx.encrypt(data, corrupt=corrupt, length=length, tabs=tabs)
        self.last_request, self.last_wire_request = data, wire
        hdrs = [("Connection", "Keep-Alive"), ("Content-Type", ctype),
                ("User-Agent", USER_AGENT), ("Content-Length", str(len(wire))),
                ("Host", hosthdr)]
        status, rheaders, rdata = self._exchange(conn, rpath, hdrs, wire)
        rtype = next((v for k, v in rheaders if k.lower() == "content-type"), "")
        if rtype.strip().lower().startswith("multipart/encrypted"):
            self.last_response_encrypted = True
            rdata = ctx.decrypt(rtype, rdata)
        return status, rheaders, rdata

    def send_corrupted(self, url: str | None, body, role: str | None = None
                       ) -> tuple[int, list, bytes]:
        """send_encrypted() with one ciphertext byte flipped (must not decrypt)."""
        return self.send_encrypted(url, body, role, corrupt=True)

    def _send(self, url: str, text: str, role: str, compress: bool = True) -> tuple[int, bytes]:
        _, _, rpath, hosthdr = split_url(url)
        status, _, data = self._post(self.connection(url, role), rpath, hosthdr,
                                     encode_body(text), compress=compress)
        return status, data

    def _delivery_connection(self, sub: Subscription, url: str) -> "HttpsConnection":
        """The delivery connection for ``url``, marked to compress when ``sub`` asked for SLDC."""
        conn = self.connection(url)
        asked = (sub.compression or "").upper() == "SLDC"
        conn.wef_sldc = self.compress == "always" or (self.compress == "auto" and asked)
        return conn

    # -- connection A --------------------------------------------------------------------
    def enumerate(self) -> tuple[int, list[Subscription], bytes]:
        """Send Enumerate on connection A. Returns (status, subscriptions, raw body bytes);
        subscriptions is [] unless the status is 200."""
        self.last_message_id = new_uuid()
        self.enumerate_operation_id = self.last_operation_id = new_uuid()
        conn = self.connection(self.url, "manager")
        text = build_enumerate(self.url, self.machine, self.last_message_id,
                               self.enumerate_operation_id, conn.wef_session_id,
                               self.max_envelope_size, self.locale, self.data_locale)
        status, data = self._send(self.url, text, "manager")
        if status != 200:
            return status, [], data
        relates_to, subs = parse_enumerate_response(decode_body(data))
        if relates_to != self.last_message_id:
            raise ProtocolError("EnumerateResponse RelatesTo %r != MessageID %r"
                                % (relates_to, self.last_message_id))
        return status, subs, data

    def end(self, sub: Subscription | None = None, operation_id: str | None = None,
            close: bool = True) -> tuple[int, bytes]:
        """End with the OperationID of the last Enumerate (sent on connection A, which is then
        closed when ``close``) or, with ``sub``, of the last SubscriptionEnd (sent to the
        EndTo address on the delivery connection)."""
        self.last_message_id = new_uuid()
        if sub is None:
            opid = operation_id or self.enumerate_operation_id or new_uuid()
            url, role = self.url, "manager"
        else:
            opid = operation_id or self.subscription_end_operation_id or new_uuid()
            url, role = sub.end_to or sub.notify_to, "delivery"
        self.last_operation_id = opid
        try:
            return self._send(url, build_end(opid, self.last_message_id), role, compress=sub is None)
        finally:
            if close and sub is None:
                self.close("manager")

    # -- connection B --------------------------------------------------------------------
    def _delivery_args(self, sub: Subscription, url: str) -> dict:
        self.last_message_id = new_uuid()
        self.last_operation_id = new_uuid()
        return dict(message_id=self.last_message_id, operation_id=self.last_operation_id,
                    session_id=self.connection(url).wef_session_id,
                    reference_headers=sub.reference_headers,
                    max_envelope_size=self.max_envelope_size, locale=self.locale,
                    data_locale=self.data_locale)

    def heartbeat(self, sub: Subscription) -> tuple[int, bytes]:
        """Heartbeat to NotifyTo. Returns (status, body)."""
        text = build_heartbeat(sub.notify_to, self.machine, **self._delivery_args(
            sub, sub.notify_to))
        self._delivery_connection(sub, sub.notify_to)
        return self._send(sub.notify_to, text, "delivery")

    def send_events(self, sub: Subscription, events: Iterable[str],
                    bookmark_xml: str | None) -> tuple[int, bytes]:
        """One Events batch to NotifyTo. Returns (status, body)."""
        text = build_events(sub.notify_to, self.machine, events, bookmark_xml,
                            **self._delivery_args(sub, sub.notify_to))
        self._delivery_connection(sub, sub.notify_to)
        return self._send(sub.notify_to, text, "delivery")

    def send_prepared(self, sub: Subscription, body: bytes, message_id: str) -> tuple[int, bytes]:
        """POST an already encoded delivery body (used by the fast path)."""
        self.last_message_id = message_id
        _, _, rpath, hosthdr = split_url(sub.notify_to)
        status, _, data = self._post(self._delivery_connection(sub, sub.notify_to), rpath, hosthdr, body)
        return status, data

    def subscription_end(self, sub: Subscription, with_fault: bool = False,
                         status: str = STATUS_SOURCE_SHUTTING_DOWN) -> tuple[int, bytes]:
        """SubscriptionEnd to the EndTo address; follow with ``end(sub)``."""
        url = sub.end_to or sub.notify_to
        args = self._delivery_args(sub, url)
        args["reference_headers"] = sub.end_to_reference_headers or sub.reference_headers
        self.subscription_end_operation_id = args["operation_id"]
        client_id = self.client_identifiers.setdefault(sub.key, str(uuid.uuid4()).upper())
        text = build_subscription_end(url, self.machine, url, status=status,
                                      with_fault=with_fault, client_identifier=client_id,
                                      **args)
        self._delivery_connection(sub, url)
        return self._send(url, text, "delivery", compress=False)

    def check_ack(self, status: int, body: bytes, message_id: str | None = None) -> dict:
        """Raise DeliveryError if status != 200, ProtocolError if the body is not an Ack
        relating to ``message_id`` (default: the last request's). Returns parse_ack()."""
        if status != 200:
            raise DeliveryError("HTTP %d" % status, status)
        ack = parse_ack(body)
        want = message_id or self.last_message_id
        if ack["fault"]:
            raise ProtocolError("SOAP fault with HTTP 200: %s" % ack["fault"])
        if ack["action"] != ACTION_ACK:
            raise ProtocolError("reply Action %r is not Ack" % ack["action"])
        if ack["relates_to"] != want:
            raise ProtocolError("Ack RelatesTo %r != MessageID %r" % (ack["relates_to"], want))
        return ack
