"""Kerberos mode (HTTP, port 5985): the GSSAPI client of a forwarder (one security context per
TCP connection, Windows' raw ``Kerberos`` scheme or ``Negotiate``) and the multipart/encrypted
message encryption of MS-WSMV. Needs python3-gssapi, imported on first use only."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import struct
import threading
import uuid

from .errors import ProtocolError, SimulatorError
from .wire import CONTENT_TYPE

__all__ = [
    "PROTOCOL_KERBEROS", "PROTOCOL_SPNEGO", "ENCRYPTED_BOUNDARY", "KRB5_MECH_OID",
    "SPNEGO_MECH_OID", "KerberosError", "import_gssapi", "encrypted_content_type",
    "build_encrypted_body", "EncryptedPart", "parse_encrypted_body", "www_authenticate_values",
    "offered_schemes", "principal_for_machine", "KerberosClient", "KerberosContext",
]


# Wire format of an encrypted body (MS-WSMV 2.2.9.1.1.2.2; Windows itself sends no tab before
# the part headers, the spec form has one - ``tabs``):
#
#   --Encrypted Boundary\r\n
#   [\t]Content-Type: application/HTTP-Kerberos-session-encrypted\r\n
#   [\t]OriginalContent: type=application/soap+xml;charset=UTF-16;Length=<plaintext bytes>\r\n
#   --Encrypted Boundary\r\n
#   [\t]Content-Type: application/octet-stream\r\n
#   <uint32 LE header length><GSS wrap token header (60 bytes for AES)><ciphertext>
#   --Encrypted Boundary--\r\n
#
# The header and the ciphertext come from gss_wrap_iov(conf, [HEADER, DATA, PADDING]); with
# MIT krb5 and AES the 28-byte trailer is rotated into the header (RRC 28, EC 0), exactly the
# token Windows' SSPI EncryptMessage produces. Decryption is gss_unwrap_iov([HEADER, DATA]).

PROTOCOL_KERBEROS = "application/HTTP-Kerberos-session-encrypted"
PROTOCOL_SPNEGO = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_BOUNDARY = "Encrypted Boundary"
KRB5_MECH_OID = "1.2.840.113554.1.2.2"
SPNEGO_MECH_OID = "1.3.6.1.5.5.2"
_SCHEMES = {"kerberos": "Kerberos", "negotiate": "Negotiate"}


class KerberosError(SimulatorError):
    """GSSAPI failed (no credentials, KDC unreachable, mutual authentication failed, a body
    did not decrypt, ...). Retried like a delivery error by the run functions."""


def import_gssapi():
    try:
        import gssapi              # noqa: F401  (python3-gssapi; not needed for HTTPS mode)
        import gssapi.raw          # noqa: F401
    except ImportError as exc:
        raise KerberosError("Kerberos mode needs python-gssapi (Debian: python3-gssapi, run "
                            "with /usr/bin/python3): %s" % exc) from None
    return gssapi


def _gss_message(exc: BaseException) -> str:
    try:
        return exc.gen_message()                     # GSSError: major and minor texts
    except Exception:
        return str(exc)


def encrypted_content_type(protocol: str = PROTOCOL_KERBEROS,
                           boundary: str = ENCRYPTED_BOUNDARY) -> str:
    """``multipart/encrypted;protocol="...";boundary="Encrypted Boundary"``"""
    return 'multipart/encrypted;protocol="%s";boundary="%s"' % (protocol, boundary)


def build_encrypted_body(header: bytes, ciphertext: bytes, length: int,
                         protocol: str = PROTOCOL_KERBEROS, tabs: bool = False,
                         original_type: str = CONTENT_TYPE,
                         boundary: str = ENCRYPTED_BOUNDARY) -> bytes:
    """The multipart/encrypted body for a GSS wrap token ``header`` + ``ciphertext`` of a
    plaintext of ``length`` bytes (see the layout above). ``tabs`` puts the spec's HT before
    the three part header lines (Windows does not)."""
    t = b"\t" if tabs else b""
    b = boundary.encode("ascii")
    return b"".join((
        b"--", b, b"\r\n",
        t, b"Content-Type: ", protocol.encode("ascii"), b"\r\n",
        t, b"OriginalContent: type=", original_type.encode("ascii"), b";Length=",
        str(length).encode("ascii"), b"\r\n",
        b"--", b, b"\r\n",
        t, b"Content-Type: application/octet-stream\r\n",
        struct.pack("<I", len(header)), header, ciphertext,
        b"--", b, b"--\r\n"))


@dataclasses.dataclass
class EncryptedPart:
    """A parsed multipart/encrypted body."""
    protocol: str | None          # Content-Type of the first part
    original_type: str | None     # OriginalContent type=
    length: int | None            # OriginalContent Length=
    header: bytes                 # GSS wrap token header
    ciphertext: bytes
    tabs: bool                    # the part headers were indented
    crlf_before_close: bool       # a CRLF separated the ciphertext from the closing boundary


def _content_type_params(value: str) -> tuple[str, dict]:
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def parse_encrypted_body(body: bytes, content_type: str | None = None) -> EncryptedPart:
    """Split a multipart/encrypted body. The boundary comes from ``content_type`` (default
    "Encrypted Boundary"). Part headers may be indented (tabs or spaces) or not; an optional
    CRLF before the closing boundary is dropped when the OriginalContent Length shows it is
    not ciphertext. Raises ProtocolError on anything malformed."""
    boundary = ENCRYPTED_BOUNDARY
    if content_type:
        mtype, params = _content_type_params(content_type)
        if mtype != "multipart/encrypted":
            raise ProtocolError("Content-Type %r is not multipart/encrypted" % content_type)
        boundary = params.get("boundary") or boundary
    delim = b"--" + boundary.encode("latin-1")
    pos = 0
    while body.startswith(b"\r\n", pos):       # tolerate a preamble of empty lines
        pos += 2
    if not body.startswith(delim + b"\r\n", pos):
        raise ProtocolError("encrypted body does not start with %r" % delim)
    pos += len(delim) + 2
    headers1, tabs = {}, False
    for _ in range(20):                        # part 1: header lines up to the next delimiter
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise ProtocolError("encrypted body: first part not terminated")
        line = body[pos:eol]
        pos = eol + 2
        if line == delim:
            break
        if line[:1] in (b"\t", b" "):
            tabs = True
        if not line.strip():
            continue
        name, sep, value = line.strip().decode("latin-1").partition(":")
        if not sep:
            raise ProtocolError("encrypted body: bad part header %r" % line[:80])
        headers1[name.strip().lower()] = value.strip()
    else:
        raise ProtocolError("encrypted body: too many part headers")
    headers2 = {}
    for _ in range(5):                         # part 2: header lines, then the binary payload
        m = re.compile(rb"[ \t]*([A-Za-z][A-Za-z0-9-]*):[ \t]*([^\r\n]*)\r\n").match(body, pos)
        if not m:
            break
        if body[pos:pos + 1] in (b"\t", b" "):
            tabs = True
        headers2[m.group(1).decode("latin-1").lower()] = m.group(2).decode("latin-1").strip()
        pos = m.end()
    if headers2.get("content-type", "").lower() != "application/octet-stream":
        raise ProtocolError("encrypted body: second part is not application/octet-stream (%r)"
                            % headers2.get("content-type"))
    close = body.rfind(delim + b"--")
    if close < pos + 4:
        raise ProtocolError("encrypted body: no closing boundary")
    payload = body[pos:close]
    (hlen,) = struct.unpack_from("<I", payload, 0)
    if hlen > len(payload) - 4 or hlen > 65536:
        raise ProtocolError("encrypted body: header length %d exceeds the payload (%d bytes)"
                            % (hlen, len(payload) - 4))
    header = payload[4:4 + hlen]
    ciphertext = payload[4 + hlen:]
    original_type, length = None, None
    oc = headers1.get("originalcontent")
    if oc is not None:
        m = re.search(r"(?:^|;)\s*type=([^;]*(?:;\s*charset=[^;]*)?)", oc, re.I)
        if m:
            original_type = m.group(1).strip()
        m = re.search(r"(?:^|;)\s*Length=(\d+)\s*$", oc, re.I)
        if not m:
            raise ProtocolError("encrypted body: OriginalContent without Length: %r" % oc)
        length = int(m.group(1))
    else:
        raise ProtocolError("encrypted body: no OriginalContent header in the first part")
    crlf = False
    if ciphertext.endswith(b"\r\n") and len(ciphertext) - 2 == length:
        ciphertext = ciphertext[:-2]
        crlf = True
    return EncryptedPart(headers1.get("content-type"), original_type, length, header,
                         ciphertext, tabs, crlf)


def www_authenticate_values(headers) -> list[str]:
    """All WWW-Authenticate header values of a [(name, value)] list, in order."""
    return [v for k, v in headers if k.lower() == "www-authenticate"]


def offered_schemes(headers) -> list[str]:
    """The auth schemes of the WWW-Authenticate headers (``['Kerberos', 'Negotiate']``)."""
    return [v.split(None, 1)[0] for v in www_authenticate_values(headers) if v.strip()]


def principal_for_machine(machine: str, n: int = 1, pattern: str | None = None,
                          realm: str | None = None) -> str:
    """The Kerberos principal of a machine account: ``pattern`` formatted with ``machine``
    (FQDN), ``n`` (1-based index), ``i`` (n - 1), ``short`` (first label) and ``SHORT`` (first
    label upper-case); default ``{SHORT}$`` (win01.wec.test -> WIN01$, as Active Directory
    names machine accounts). ``@realm`` is appended when given and the name has none."""
    short = machine.split(".", 1)[0]
    name = (pattern or "{SHORT}$").format(machine=machine, n=n, i=n - 1, short=short,
                                          SHORT=short.upper())
    if realm and "@" not in name:
        name += "@" + realm
    return name


class KerberosClient:
    """Client credentials and options of Kerberos mode (shared by the connections and the
    threads of one machine; thread-safe).

    ``KerberosClient(keytab=None, principal=None, *, scheme="Kerberos", spn=None, tabs=False,
    krb5_config=None, ccache=None, credentials=None)``

    * ``keytab``: client keytab of the machine account; the credentials are acquired from it
      into a private ``MEMORY:`` ccache (no kinit, nothing global). None: the default
      credentials of the process (KRB5CCNAME / KRB5_CLIENT_KTNAME).
    * ``principal``: e.g. ``WIN01$`` or ``WIN01$@WEC.TEST`` (default realm appended by
      krb5); None: the keytab's (or ccache's) default principal.
    * ``scheme``: ``Kerberos`` (raw krb5 mechanism, what WEF forwarders send) or ``Negotiate``
      (SPNEGO; the MIME protocol then is application/HTTP-SPNEGO-session-encrypted).
    * ``spn``: target override. Default ``HTTP@<URL host>`` (host-based service, i.e. the SPN
      HTTP/<host>). ``HOST/<host>`` or ``HOST@<host>`` (Windows Server 2025 clients) are
      host-based names too; ``svc/host@REALM`` is taken as a krb5 principal name.
    * ``tabs``: indent the part headers of encrypted bodies as the spec does (Windows: no).
    * ``krb5_config``: sets ``KRB5_CONFIG`` in this process (process-wide!) before the first
      use, e.g. ``LoopbackKdc.krb5_conf``.
    * ``credentials``: a ready ``gssapi.Credentials`` (keytab/principal are then ignored).
    """

    def __init__(self, keytab: str | None = None, principal: str | None = None, *,
                 scheme: str = "Kerberos", spn: str | None = None, tabs: bool = False,
                 krb5_config: str | None = None, ccache: str | None = None,
                 credentials=None):
        key = str(scheme).strip().lower()
        if key not in _SCHEMES:
            raise ValueError("scheme must be Kerberos or Negotiate, not %r" % scheme)
        self.scheme = _SCHEMES[key]
        self.keytab = keytab
        self.principal = principal
        self.spn = spn
        self.tabs = bool(tabs)
        self.krb5_config = krb5_config
        self.ccache = ccache or "MEMORY:wef-%s" % uuid.uuid4().hex
        self._creds = credentials
        self._lock = threading.Lock()
        self.contexts = 0                   # contexts created (one per TCP connection)

    def __repr__(self):
        return "KerberosClient(principal=%r, keytab=%r, scheme=%r, spn=%r, tabs=%r)" % (
            self.principal, self.keytab, self.scheme, self.spn, self.tabs)

    @property
    def protocol(self) -> str:
        """The MIME protocol string of this scheme's encrypted bodies."""
        return PROTOCOL_KERBEROS if self.scheme == "Kerberos" else PROTOCOL_SPNEGO

    @property
    def content_type(self) -> str:
        return encrypted_content_type(self.protocol)

    @property
    def mech(self):
        gssapi = import_gssapi()
        return gssapi.OID.from_int_seq(KRB5_MECH_OID if self.scheme == "Kerberos"
                                       else SPNEGO_MECH_OID)

    @property
    def credentials(self):
        """The gssapi.Credentials (acquired on first use)."""
        with self._lock:
            if self._creds is None:
                gssapi = import_gssapi()
                if self.krb5_config:
                    os.environ["KRB5_CONFIG"] = self.krb5_config
                name = None
                if self.principal:
                    name = gssapi.Name(self.principal, gssapi.NameType.kerberos_principal)
                store = {"ccache": self.ccache}
                if self.keytab:
                    if not os.path.exists(self.keytab):
                        raise KerberosError("client keytab %s does not exist" % self.keytab)
                    store["client_keytab"] = self.keytab
                try:
                    if self.keytab:
                        self._creds = gssapi.Credentials(usage="initiate", name=name,
                                                         store=store)
                    else:
                        self._creds = gssapi.Credentials(usage="initiate", name=name)
                except gssapi.exceptions.GSSError as exc:
                    raise KerberosError("cannot acquire Kerberos credentials for %s from %s: %s"
                                        % (self.principal or "the default principal",
                                           self.keytab or "the default ccache",
                                           _gss_message(exc))) from None
            return self._creds

    def target_name(self, host: str):
        """The gssapi.Name of the service on ``host`` (the URL host)."""
        gssapi = import_gssapi()
        spn = self.spn or "HTTP@" + host
        if "/" in spn and "@" in spn.split("/", 1)[1]:
            return gssapi.Name(spn, gssapi.NameType.kerberos_principal)
        if "/" in spn:
            spn = spn.replace("/", "@", 1)
        return gssapi.Name(spn, gssapi.NameType.hostbased_service)

    def new_context(self, host: str) -> "KerberosContext":
        """A fresh initiator context for the service on ``host``; its first token is ready."""
        with self._lock:
            self.contexts += 1
        return KerberosContext(self, host)


class KerberosContext:
    """One TCP connection's initiator security context.

    ``token`` is the initial token, ``authorization`` the matching header value
    (``Kerberos <base64>``). ``complete(headers)`` consumes the ``WWW-Authenticate`` reply
    (AP-REP) and checks mutual authentication; then ``encrypt()``/``decrypt()`` build and read
    multipart/encrypted bodies, ``wrap()``/``unwrap()`` handle the bare token parts."""

    def __init__(self, client: KerberosClient, host: str):
        gssapi = import_gssapi()
        self.client = client
        self.scheme = client.scheme
        self.host = host
        self.target = client.target_name(host)
        flags = gssapi.RequirementFlag
        try:
            self.ctx = gssapi.SecurityContext(
                name=self.target, creds=client.credentials, mech=client.mech, usage="initiate",
                # what Windows asks for (checksum flags 0x3e): the collector requires all five
                flags=[flags.mutual_authentication, flags.replay_detection,
                       flags.out_of_sequence_detection, flags.integrity, flags.confidentiality])
            self.token = self.ctx.step()
            self.ctx.complete                 # surfaces a deferred step error
        except gssapi.exceptions.GSSError as exc:
            raise KerberosError("cannot get a %s token for %s: %s"
                                % (self.scheme, self.target, _gss_message(exc))) from None
        self.authorization = "%s %s" % (self.scheme,
                                        base64.b64encode(self.token).decode("ascii"))
        self.established = False
        self.reply_token: bytes | None = None

    def complete(self, headers) -> None:
        """Finish the context with the ``WWW-Authenticate: <scheme> <token>`` of a reply
        (``headers`` is a [(name, value)] list or the token bytes). Raises KerberosError
        unless the context is complete with mutual authentication, integrity and
        confidentiality."""
        gssapi = import_gssapi()
        if isinstance(headers, (bytes, bytearray)):
            token = bytes(headers)
        else:
            token = None
            values = www_authenticate_values(headers)
            for v in values:
                parts = v.split(None, 1)
                if len(parts) == 2 and parts[0].lower() == self.scheme.lower():
                    try:
                        token = base64.b64decode(parts[1].strip(), validate=True)
                    except ValueError:
                        raise KerberosError("WWW-Authenticate: %s carries invalid base64"
                                            % self.scheme) from None
                    break
            if token is None:
                raise KerberosError(
                    "mutual authentication failed: the reply has no 'WWW-Authenticate: %s "
                    "<token>' (got %r)" % (self.scheme, values))
        self.reply_token = token
        try:
            # python-gssapi may defer a step error to the next attribute access: keep both
            # inside the try
            out = self.ctx.step(token)
            complete = self.ctx.complete
            got = self.ctx.actual_flags
        except gssapi.exceptions.GSSError as exc:
            raise KerberosError("mutual authentication failed: the %s reply token was "
                                "rejected: %s" % (self.scheme, _gss_message(exc))) from None
        if not complete:
            raise KerberosError("the %s context needs another round trip (token of %d bytes); "
                                "WEF uses a single one" % (self.scheme, len(out or b"")))
        need = (gssapi.RequirementFlag.mutual_authentication,
                gssapi.RequirementFlag.integrity, gssapi.RequirementFlag.confidentiality)
        missing = [f.name for f in need if f not in got]
        if missing:
            raise KerberosError("context established without %s" % ", ".join(missing))
        self.established = True

    # -- token level ---------------------------------------------------------------------
    def wrap(self, plaintext: bytes) -> tuple[bytes, bytes]:
        """gss_wrap_iov(conf, [HEADER, DATA, PADDING]) -> (header, ciphertext + padding)."""
        gssapi = import_gssapi()
        from gssapi.raw import IOV, IOVBufferType, wrap_iov
        iov = IOV((IOVBufferType.header, True), bytes(plaintext),
                  (IOVBufferType.padding, True), std_layout=False)
        try:
            conf = wrap_iov(self.ctx, iov, confidential=True)
        except gssapi.exceptions.GSSError as exc:
            raise KerberosError("gss_wrap_iov failed: %s" % _gss_message(exc)) from None
        if not conf:
            raise KerberosError("gss_wrap_iov did not encrypt")
        return iov[0].value or b"", (iov[1].value or b"") + (iov[2].value or b"")

    def unwrap(self, header: bytes, ciphertext: bytes) -> bytes:
        """gss_unwrap_iov([HEADER, DATA]) -> plaintext; KerberosError if it does not verify."""
        gssapi = import_gssapi()
        from gssapi.raw import IOV, IOVBufferType, unwrap_iov
        iov = IOV((IOVBufferType.header, False, bytes(header)), bytes(ciphertext),
                  std_layout=False)
        try:
            res = unwrap_iov(self.ctx, iov)
        except gssapi.exceptions.GSSError as exc:
            raise KerberosError("gss_unwrap_iov failed: %s" % _gss_message(exc)) from None
        if not res.encrypted:
            raise KerberosError("the body was signed but not encrypted")
        return iov[1].value or b""

    # -- body level ----------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, original_type: str = CONTENT_TYPE,
                tabs: bool | None = None, corrupt: bool = False,
                length: int | None = None) -> tuple[bytes, str]:
        """(multipart/encrypted body, Content-Type header value) for ``plaintext``.
        ``corrupt`` flips one ciphertext byte after encryption; ``length`` overrides the
        OriginalContent Length (both for negative tests)."""
        header, ciphertext = self.wrap(plaintext)
        if corrupt:
            if ciphertext:
                b = bytearray(ciphertext)
                b[len(b) // 2] ^= 0x01
                ciphertext = bytes(b)
            else:
                b = bytearray(header)
                b[-1] ^= 0x01
                header = bytes(b)
        body = build_encrypted_body(header, ciphertext,
                                    len(plaintext) if length is None else length,
                                    self.client.protocol,
                                    self.client.tabs if tabs is None else tabs, original_type)
        return body, self.client.content_type

    def decrypt(self, content_type: str | None, body: bytes) -> bytes:
        """Plaintext of a multipart/encrypted body; checks the protocol string and that the
        plaintext length equals OriginalContent Length. Raises ProtocolError/KerberosError."""
        part = parse_encrypted_body(body, content_type)
        if content_type:
            _, params = _content_type_params(content_type)
            proto = params.get("protocol")
            if proto and proto.lower() not in (PROTOCOL_KERBEROS.lower(),
                                               PROTOCOL_SPNEGO.lower()):
                raise ProtocolError("unknown multipart/encrypted protocol %r" % proto)
        plaintext = self.unwrap(part.header, part.ciphertext)
        if part.length is not None and len(plaintext) != part.length:
            raise ProtocolError("decrypted reply has %d bytes, OriginalContent Length says %d"
                                % (len(plaintext), part.length))
        return plaintext
