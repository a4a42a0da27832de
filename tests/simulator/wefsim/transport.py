"""Connections of a simulated forwarder: HTTPS with a client certificate (port 5986) or plain
HTTP for Kerberos (port 5985), both able to connect to another address than the URL's host
(tests map names to 127.0.0.1) and from a chosen source address (another loopback address,
to tell forwarders apart behind a balancer), with the keep-alive bookkeeping the Forwarder
needs."""

from __future__ import annotations

import hashlib
import http.client
import os
import select
import socket
import ssl
import urllib.parse

from .wire import new_uuid

__all__ = [
    "make_ssl_context", "HttpsConnection", "PlainConnection", "split_url", "cert_thumbprint",
]


def make_ssl_context(cert: str | None, key: str | None, ca: str | None,
                     verify_hostname: bool = True, key_password: str | None = None,
                     tls_version: str | None = None) -> ssl.SSLContext:
    """Client TLS context: client certificate ``cert``/``key`` (PEM), server chain verified
    against ``ca`` (PEM file or a hashed directory), hostname check unless disabled.
    ``tls_version`` '1.2' or '1.3' pins the version; None allows both."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls_version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif tls_version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    elif tls_version:
        raise ValueError("tls_version must be 1.2 or 1.3")
    ctx.check_hostname = bool(verify_hostname)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ca:
        if os.path.isdir(ca):
            ctx.load_verify_locations(capath=ca)
        else:
            ctx.load_verify_locations(cafile=ca)
    else:
        ctx.load_default_certs()
    if cert:
        ctx.load_cert_chain(cert, key, password=key_password)
    return ctx


class _ConnectionMixin:
    """Bookkeeping shared by the HTTPS and the plain HTTP connection classes."""

    def _wef_init(self, connect_host, connect_port, timeout):
        self.wef_addr = (connect_host or self.host, connect_port or self.port)
        self.wef_requests = 0
        self.wef_connects = 0
        self.wef_session_id = new_uuid()
        self.wef_krb = None          # KerberosContext of the current TCP connection
        self.wef_handshakes = 0

    def _wef_connected(self):
        self.wef_connects += 1
        self.wef_requests = 0
        self.wef_krb = None          # a new TCP connection needs a new security context

    def close(self):
        super().close()
        self.wef_krb = None

    def dropped(self) -> bool:
        """True if an idle keep-alive connection was closed by the peer."""
        sock = self.sock
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:
            sock.setblocking(False)
            sock.recv(1)           # EOF or unexpected bytes: either way unusable
            return True
        except ssl.SSLWantReadError:
            return False           # only a TLS 1.3 session ticket or similar
        except (OSError, ssl.SSLError):
            return True
        finally:
            try:
                sock.settimeout(self.timeout)
            except OSError:
                pass


class HttpsConnection(_ConnectionMixin, http.client.HTTPSConnection):
    """HTTPS connection that can connect to another address than the URL's host (tests map
    names to 127.0.0.1) while SNI and certificate checks use the URL's host."""

    def __init__(self, host, port, ctx, connect_host=None, connect_port=None, timeout=60.0,
                 source_address=None):
        http.client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=ctx,
                                             source_address=source_address)
        self.wef_ctx = ctx
        self._wef_init(connect_host, connect_port, timeout)

    def connect(self):
        sock = socket.create_connection(self.wef_addr, self.timeout, self.source_address)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = self.wef_ctx.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._wef_connected()


class PlainConnection(_ConnectionMixin, http.client.HTTPConnection):
    """Plain HTTP connection (Kerberos mode, port 5985) that can connect to another address
    than the URL's host; the Host header and the Kerberos SPN still use the URL's host."""

    def __init__(self, host, port, connect_host=None, connect_port=None, timeout=60.0,
                 source_address=None):
        http.client.HTTPConnection.__init__(self, host, port, timeout=timeout,
                                            source_address=source_address)
        self.wef_ctx = None
        self._wef_init(connect_host, connect_port, timeout)

    def connect(self):
        sock = socket.create_connection(self.wef_addr, self.timeout, self.source_address)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.sock = sock
        self._wef_connected()


def split_url(url: str) -> tuple[str, int, str, str]:
    """(host, port, request path, Host header value)."""
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("https", "http"):
        raise ValueError("unsupported URL scheme in %r" % url)
    host = u.hostname or ""
    port = u.port or (443 if u.scheme == "https" else 80)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    hosthdr = ("[%s]" % host) if ":" in host else host
    if u.port is not None:
        hosthdr += ":%d" % u.port
    return host, port, path, hosthdr


def cert_thumbprint(pem_or_der_path: str) -> str:
    """SHA-1 of the DER of the first certificate in a PEM (or DER) file, upper-case hex -
    the form of the GPO ``IssuerCA=`` value and of ``auth:Thumbprint``."""
    with open(pem_or_der_path, "rb") as fh:
        data = fh.read()
    if b"-----BEGIN CERTIFICATE-----" in data:
        start = data.index(b"-----BEGIN CERTIFICATE-----")
        end = data.index(b"-----END CERTIFICATE-----", start) + len(b"-----END CERTIFICATE-----")
        data = ssl.PEM_cert_to_DER_cert(data[start:end].decode("ascii"))
    return hashlib.sha1(data).hexdigest().upper()
