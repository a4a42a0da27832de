#!/usr/bin/python3
"""Windows Event Forwarding forwarder simulator (source-initiated; HTTPS + client certificate,
or HTTP + Kerberos with message encryption).

The simulator imitates the WinRM client of a Windows 10 machine that forwards events to a
Windows Event Collector configured with
``Server=https://<collector>:5986/wsman/SubscriptionManager/WEC,Refresh=60,IssuerCA=<thumbprint>``
or, in Kerberos mode, ``Server=http://<collector>:5985/wsman/SubscriptionManager/WEC``.
HTTPS mode is standard library only; Kerberos mode needs python3-gssapi (Debian's
``/usr/bin/python3`` 3.11 has it; it is imported only when Kerberos is used).

Wire behaviour (as in the published Win10 -> Windows WEC capture; openwec protocol notes):

* every request is ``POST <path> HTTP/1.1`` with the headers, in this order,
  ``Connection: Keep-Alive``, ``Content-Type: application/soap+xml;charset=UTF-16``,
  ``User-Agent: Microsoft WinRM Client``, ``Content-Length: N``, ``Host: host:port``;
* bodies are UTF-16LE with a BOM (FF FE), without XML declaration and without whitespace
  between elements; the Enumerate and Heartbeat envelopes are identical, character for
  character, to the envelopes of the published Windows capture (only the ids differ);
* connection A: Enumerate to the SubscriptionManager URL, then End (same OperationID), then
  the connection is closed;
* connection B (one per subscription, keep-alive): Heartbeat, then Events batches, each one
  waiting for an Ack whose ``a:RelatesTo`` equals the request ``a:MessageID``;
* failure (connection error, TLS error, non-200 or no matching Ack): wait ``retry_interval``,
  enumerate again and resume from the bookmark that the collector returns in the Subscribe.

Kerberos mode (``http://`` URL, ``KerberosClient``; see the "Kerberos" section below): per TCP
connection the first request is an empty-body POST with ``Authorization: Kerberos <raw krb5
GSS token>`` (or ``Negotiate <SPNEGO token>``), the reply must be 200 with
``WWW-Authenticate: Kerberos <AP-REP>`` (mutual authentication), and every later request and
response body is ``multipart/encrypted`` with the GSS wrap token (MS-WSMV 2.2.9.1.1.2.2).
A new TCP connection always gets a new security context.

Events come from files with one ``<Event>`` per line. For each (machine, subscription) stream
the simulator rewrites ``<Computer>`` to the machine FQDN and ``<EventRecordID>`` to a sequence
number that starts at 1, so that the collector's output can be counted. The bookmark sent with
a batch is ``<BookmarkList><Bookmark Channel="<channel of the last event>" RecordId="<last
sequence number>" IsCurrent="true"/></BookmarkList>``.

Start position: the maximum ``RecordId`` of the ``w:Bookmark`` of the Subscribe plus one. A
Subscribe without bookmark, or with the ``.../bookmark/earliest`` URI, starts at sequence 1:
the simulator treats its whole event file as events that already exist in the channel and
that the subscription selects (a real Windows client without bookmark would only send events
newer than the subscription; use the earliest URI if you want to be explicit).

Usable as a module (``Forwarder`` for single requests, ``run_machine``/``run_machines`` for
complete runs) and as a command line tool (``--help``).
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import hashlib
import http.client
import json
import logging
import os
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from typing import Callable, Iterable, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sldc as _sldc  # noqa: E402  (the pure-Python encoder, always available)


def _native_sldc():
    """The project's C++ encoder through ctypes (WEC_SLDC_LIBRARY or the default build tree),
    about 80 times faster than the Python one; None when it is not built."""
    import ctypes
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("WEC_SLDC_LIBRARY"),
                 os.path.join(here, os.pardir, os.pardir, "build", "tests", "libwec_sldc_native.so")):
        if path and os.path.exists(path):
            lib = ctypes.CDLL(path)
            lib.wec_sldc_compress.restype = ctypes.c_size_t
            lib.wec_sldc_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
            return lib
    return None


_NATIVE_SLDC = _native_sldc()


def sldc_compress(data: bytes) -> bytes:
    """SLDC (ECMA-321) as Windows compresses event bodies."""
    if _NATIVE_SLDC is None:
        return _sldc.compress(data)
    capacity = len(data) + len(data) // 8 + 64
    out = (b"\0" * capacity)
    size = _NATIVE_SLDC.wec_sldc_compress(data, len(data), out, capacity)
    if size > capacity:
        out = b"\0" * size
        size = _NATIVE_SLDC.wec_sldc_compress(data, len(data), out, size)
    return out[:size]

__all__ = [
    "NS", "ACTION_ENUMERATE", "ACTION_ENUMERATE_RESPONSE", "ACTION_SUBSCRIBE", "ACTION_EVENTS",
    "ACTION_EVENT", "ACTION_HEARTBEAT", "ACTION_ACK", "ACTION_SUBSCRIPTION_END", "ACTION_END",
    "BOOKMARK_EARLIEST", "STATUS_SOURCE_SHUTTING_DOWN", "STATUS_SOURCE_CANCELLING",
    "STATUS_DELIVERY_FAILURE", "DELIVERY_MODE_EVENTS", "PROFILE_HTTPS_MUTUAL",
    "SimulatorError", "ProtocolError", "DeliveryError", "GiveUp", "InvalidSubscription",
    "new_uuid", "encode_body", "decode_body", "parse_duration", "format_bookmark",
    "build_enumerate", "build_end", "build_heartbeat", "build_events", "build_subscription_end",
    "Subscription", "parse_enumerate_response", "parse_ack", "validate_subscription",
    "make_ssl_context", "cert_thumbprint", "Forwarder", "EventTemplates", "StreamResult",
    "MachineResult", "RunOptions", "run_subscription", "run_machine", "run_machines",
    "machine_names", "wrap_event", "format_bookmark_raw", "main",
    # Kerberos
    "PROFILE_HTTP_KERBEROS", "PROTOCOL_KERBEROS", "PROTOCOL_SPNEGO", "ENCRYPTED_BOUNDARY",
    "KRB5_MECH_OID", "SPNEGO_MECH_OID", "KerberosError", "KerberosClient", "KerberosContext",
    "EncryptedPart", "encrypted_content_type", "build_encrypted_body", "parse_encrypted_body",
    "www_authenticate_values", "offered_schemes", "principal_for_machine",
]

log = logging.getLogger("wef_forwarder")

# --------------------------------------------------------------------------------------------
# Protocol constants
# --------------------------------------------------------------------------------------------

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "b": "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd",
    "machineid": "http://schemas.microsoft.com/wbem/wsman/1/machineid",
    "sub": "http://schemas.microsoft.com/wbem/wsman/1/subscription",
    "c": "http://schemas.xmlsoap.org/ws/2002/12/policy",
    "auth": "http://schemas.microsoft.com/wbem/wsman/1/authentication",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "event": "http://schemas.microsoft.com/win/2004/08/events/event",
}

ACTION_ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
ACTION_ENUMERATE_RESPONSE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse"
ACTION_SUBSCRIBE = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"
ACTION_EVENTS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
ACTION_EVENT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"
ACTION_HEARTBEAT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat"
ACTION_ACK = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"
ACTION_SUBSCRIPTION_END = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"
ACTION_END = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End"
RESOURCE_SUBSCRIPTION = "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"
RESOURCE_FULL_DUPLEX = "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
BOOKMARK_EARLIEST = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"
DELIVERY_MODE_EVENTS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
PROFILE_HTTPS_MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
PROFILE_HTTP_KERBEROS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
STATUS_SOURCE_SHUTTING_DOWN = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceShuttingDown"
STATUS_SOURCE_CANCELLING = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling"
STATUS_DELIVERY_FAILURE = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryFailure"

CONTENT_TYPE = "application/soap+xml;charset=UTF-16"
USER_AGENT = "Microsoft WinRM Client"
BOM = b"\xff\xfe"
DEFAULT_MAX_ENVELOPE_SIZE = 512000
DEFAULT_RETRY_INTERVAL = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_BATCH_SIZE = 1000
DEFAULT_EVENTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "data",
                                   "events-permissive.xml")

_ROOT_ENUMERATE = ('<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:n="{n}" xmlns:w="{w}" '
                   'xmlns:p="{p}" xmlns:b="{b}">').format(**NS)
# End: the capture hides the namespace declarations; s, a, w, p are the prefixes it uses and
# with exactly these four the End body is 1434 bytes, the size seen in the capture.
_ROOT_END = '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:p="{p}">'.format(**NS)
_ROOT_DELIVERY = ('<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:e="{e}" xmlns:w="{w}" '
                  'xmlns:p="{p}">').format(**NS)

_EVENT_OPEN = '<w:Event Action="' + ACTION_EVENT + '"><![CDATA['
_EVENT_CLOSE = "]]></w:Event>"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

class SimulatorError(Exception):
    """Base class of the simulator's own errors."""


class ProtocolError(SimulatorError):
    """The collector answered something a Windows client would not accept (wrong RelatesTo,
    not an Ack, unparsable XML, ...)."""


class DeliveryError(SimulatorError):
    """A request got an unexpected HTTP status. ``status`` holds it."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InvalidSubscription(SimulatorError):
    """The Subscribe envelope is something Windows would refuse (see validate_subscription)."""


class GiveUp(SimulatorError):
    """Raised when max_retries or the deadline is exhausted. ``result`` carries the counters."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def new_uuid() -> str:
    """A Windows style message id: ``uuid:`` + upper-case GUID."""
    return "uuid:" + str(uuid.uuid4()).upper()


def encode_body(text: str) -> bytes:
    """Encode an envelope as Windows does: UTF-16LE preceded by the BOM FF FE."""
    return BOM + text.encode("utf-16-le")


def decode_body(data: bytes) -> str:
    """Decode a SOAP body: UTF-16 with BOM (LE or BE), UTF-8 (with or without BOM), or
    BOM-less UTF-16LE (detected by a NUL second byte). Returns '' for an empty body."""
    if not data:
        return ""
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if len(data) >= 2 and data[1] == 0:
        return data.decode("utf-16-le")
    return data.decode("utf-8")


def xml_escape(text: str, quote: bool = True) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        text = text.replace('"', "&quot;")
    return text


_DURATION_RE = re.compile(
    r"^\s*(-)?P(?:(\d+(?:\.\d*)?)Y)?(?:(\d+(?:\.\d*)?)M)?(?:(\d+(?:\.\d*)?)D)?"
    r"(?:T(?:(\d+(?:\.\d*)?)H)?(?:(\d+(?:\.\d*)?)M)?(?:(\d+(?:\.\d*)?)S)?)?\s*$")


def parse_duration(text: str | None) -> float | None:
    """xs:duration (``PT60.000S``, ``PT1H``, ``P1D``) to seconds; None if absent/invalid.
    Years count 365 days and months 30 days."""
    if not text:
        return None
    m = _DURATION_RE.match(text)
    if not m or text.strip() in ("P", "-P", "PT"):
        return None
    mult = (365 * 86400, 30 * 86400, 86400, 3600, 60, 1)
    total = sum(float(v) * k for v, k in zip(m.groups()[1:], mult) if v)
    return -total if m.group(1) else total


def format_bookmark(channel: str, record_id: int) -> str:
    """The BookmarkList XML the simulator sends (channel is escaped for the attribute)."""
    return ('<BookmarkList><Bookmark Channel="%s" RecordId="%d" IsCurrent="true"/>'
            '</BookmarkList>' % (xml_escape(channel), record_id))


def _lower_scheme(url: str) -> str:
    """Windows writes a:To with a lower-case scheme even when the GPO / NotifyTo address is
    written ``HTTP://...`` (seen in the capture); the rest of the address is kept verbatim."""
    i = url.find("://")
    return url[:i].lower() + url[i:] if i > 0 else url


def _split_url(url: str) -> tuple[str, int, str, str]:
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


# --------------------------------------------------------------------------------------------
# Envelope builders (they return str; encode with encode_body())
# --------------------------------------------------------------------------------------------

def _locale_headers(locale: str | None, data_locale: str | None) -> str:
    out = ""
    if locale:
        out += '<w:Locale xml:lang="%s" s:mustUnderstand="false" />' % xml_escape(locale)
    if data_locale:
        out += '<p:DataLocale xml:lang="%s" s:mustUnderstand="false" />' % xml_escape(data_locale)
    return out


def _machine_header(machine: str) -> str:
    return ('<m:MachineID xmlns:m="%s" s:mustUnderstand="false">%s</m:MachineID>'
            % (NS["machineid"], xml_escape(machine, quote=False)))


_REPLY_TO = ('<a:ReplyTo><a:Address s:mustUnderstand="true">' + ANONYMOUS +
             '</a:Address></a:ReplyTo>')


def build_enumerate(to: str, machine: str, message_id: str | None = None,
                    operation_id: str | None = None, session_id: str | None = None,
                    max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
                    locale: str | None = "en-US", data_locale: str | None = "en-US",
                    sequence_id: int = 1, max_elements: int = 32000) -> str:
    """Enumerate envelope of connection A, character for character as Windows 10 sends it.

    ``to`` is the SubscriptionManager URL (scheme is lower-cased as Windows does),
    ``machine`` the FQDN sent as m:MachineID. Missing ids are generated (``uuid:`` + upper-case
    GUID). Returns the envelope text (encode with encode_body)."""
    return "".join((
        _ROOT_ENUMERATE, "<s:Header><a:To>", xml_escape(_lower_scheme(to), quote=False),
        '</a:To><w:ResourceURI s:mustUnderstand="true">', RESOURCE_SUBSCRIPTION,
        "</w:ResourceURI>", _machine_header(machine), _REPLY_TO,
        '<a:Action s:mustUnderstand="true">', ACTION_ENUMERATE, "</a:Action>",
        '<w:MaxEnvelopeSize s:mustUnderstand="true">%d</w:MaxEnvelopeSize>' % max_envelope_size,
        "<a:MessageID>", message_id or new_uuid(), "</a:MessageID>",
        _locale_headers(locale, data_locale),
        '<p:SessionId s:mustUnderstand="false">', session_id or new_uuid(), "</p:SessionId>",
        '<p:OperationID s:mustUnderstand="false">', operation_id or new_uuid(), "</p:OperationID>",
        '<p:SequenceId s:mustUnderstand="false">%d</p:SequenceId>' % sequence_id,
        "<w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Enumerate>"
        "<w:OptimizeEnumeration/><w:MaxElements>%d</w:MaxElements></n:Enumerate></s:Body>"
        "</s:Envelope>" % max_elements))


def build_end(operation_id: str, message_id: str | None = None) -> str:
    """End ("full-duplex operation finished") envelope. ``operation_id`` must be the
    OperationID of the Enumerate (connection A) or of the SubscriptionEnd it closes."""
    return "".join((
        _ROOT_END, "<s:Header><a:To>", ANONYMOUS,
        '</a:To><w:ResourceURI s:mustUnderstand="true">', RESOURCE_FULL_DUPLEX,
        '</w:ResourceURI><a:Action s:mustUnderstand="true">', ACTION_END,
        "</a:Action><a:MessageID>", message_id or new_uuid(), "</a:MessageID><p:OperationID>",
        operation_id, "</p:OperationID></s:Header><s:Body></s:Body></s:Envelope>"))


def _identifier_header(identifier: str) -> str:
    return '<e:Identifier xmlns:e="%s">%s</e:Identifier>' % (
        NS["e"], xml_escape(identifier, quote=False))


def _reference_headers(identifier: str | None, reference_headers: Sequence[str] | None) -> str:
    if reference_headers is not None:
        return "".join(reference_headers)
    return _identifier_header(identifier) if identifier else ""


def _delivery_header(action: str, to: str, machine: str, message_id: str, session_id: str,
                     operation_id: str, refs: str, max_envelope_size: int,
                     locale: str | None, data_locale: str | None, timeout: str) -> str:
    return "".join((
        _ROOT_DELIVERY, "<s:Header><a:To>", xml_escape(_lower_scheme(to), quote=False),
        "</a:To>", _machine_header(machine), _REPLY_TO,
        '<a:Action s:mustUnderstand="true">', action, "</a:Action>",
        '<w:MaxEnvelopeSize s:mustUnderstand="true">%d</w:MaxEnvelopeSize>' % max_envelope_size,
        "<a:MessageID>", message_id, "</a:MessageID>", _locale_headers(locale, data_locale),
        '<p:SessionId s:mustUnderstand="false">', session_id, "</p:SessionId>",
        '<p:OperationID s:mustUnderstand="false">', operation_id, "</p:OperationID>",
        '<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>',
        "<w:OperationTimeout>", timeout, "</w:OperationTimeout>", refs))


def build_heartbeat(to: str, machine: str, identifier: str | None = None,
                    message_id: str | None = None, session_id: str | None = None,
                    operation_id: str | None = None,
                    reference_headers: Sequence[str] | None = None,
                    max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
                    locale: str | None = "en-US", data_locale: str | None = "en-US") -> str:
    """Heartbeat envelope (connection B), identical in form to the captured one.

    ``to`` is the NotifyTo address; ``identifier`` the e:Identifier of NotifyTo's
    ReferenceProperties. ``reference_headers``, if given, replaces the e:Identifier header by
    these ready-made XML fragments (all echoed reference properties/parameters)."""
    return _delivery_header(
        ACTION_HEARTBEAT, to, machine, message_id or new_uuid(), session_id or new_uuid(),
        operation_id or new_uuid(), _reference_headers(identifier, reference_headers),
        max_envelope_size, locale, data_locale, "PT60.000S"
    ) + "<w:AckRequested/></s:Header><s:Body><w:Events></w:Events></s:Body></s:Envelope>"


def wrap_event(event_xml: str) -> str:
    """``<w:Event Action=...><![CDATA[event]]></w:Event>`` (a ']]>' inside is split)."""
    return _EVENT_OPEN + event_xml.replace("]]>", "]]]]><![CDATA[>") + _EVENT_CLOSE


def build_events(to: str, machine: str, events: Iterable[str], bookmark_xml: str | None = None,
                 identifier: str | None = None, message_id: str | None = None,
                 session_id: str | None = None, operation_id: str | None = None,
                 reference_headers: Sequence[str] | None = None,
                 max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
                 locale: str | None = "en-US", data_locale: str | None = "en-US",
                 action: str = ACTION_EVENTS, raw_events: bool = False) -> str:
    """Events envelope (connection B).

    ``events`` are complete ``<Event ...>...</Event>`` documents; each is wrapped in
    ``<w:Event Action="...Event"><![CDATA[...]]></w:Event>`` unless ``raw_events`` is true (then
    the strings are inserted into ``<w:Events>`` as they are). ``bookmark_xml`` is the
    ``<BookmarkList>...</BookmarkList>`` text put into ``<w:Bookmark>`` before
    ``<w:AckRequested/>``; None leaves the bookmark header out."""
    head = _delivery_header(
        action, to, machine, message_id or new_uuid(), session_id or new_uuid(),
        operation_id or new_uuid(), _reference_headers(identifier, reference_headers),
        max_envelope_size, locale, data_locale, "PT60.000S")
    if bookmark_xml is not None:
        head += "<w:Bookmark>" + bookmark_xml + "</w:Bookmark>"
    body = "".join(events) if raw_events else "".join(wrap_event(e) for e in events)
    return (head + "<w:AckRequested/></s:Header><s:Body><w:Events>" + body +
            "</w:Events></s:Body></s:Envelope>")


WSMAN_FAULT_EXAMPLE = (
    '<f:WSManFault xmlns:f="' + NS["f"] + '" Code="1717" Machine="{machine}"><f:Message>'
    '<f:ProviderFault provider="Unknown provider" path="Unknown path">'
    '<t:ProviderError xmlns:t="http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog">'
    'Windows Event Forward Plugin failed to read events.</t:ProviderError></f:ProviderFault>'
    '</f:Message></f:WSManFault>')


def build_subscription_end(to: str, machine: str, end_to: str | None = None,
                           identifier: str | None = None, client_identifier: str | None = None,
                           status: str = STATUS_SOURCE_SHUTTING_DOWN, with_fault: bool = False,
                           message_id: str | None = None, session_id: str | None = None,
                           operation_id: str | None = None,
                           reference_headers: Sequence[str] | None = None,
                           max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
                           locale: str | None = "en-US",
                           data_locale: str | None = "en-US") -> str:
    """SubscriptionEnd envelope, sent to the EndTo address. The header echoes the collector's
    reference properties (``identifier``); the body's SubscriptionManager carries the EndTo
    address and the client's own identifier (``client_identifier``, a bare upper-case GUID),
    as in the real message. ``with_fault`` appends the WSManFault 1717 of the reference."""
    fault = WSMAN_FAULT_EXAMPLE.replace("{machine}", xml_escape(machine)) if with_fault else ""
    return "".join((
        _delivery_header(ACTION_SUBSCRIPTION_END, to, machine, message_id or new_uuid(),
                         session_id or new_uuid(), operation_id or new_uuid(),
                         _reference_headers(identifier, reference_headers), max_envelope_size,
                         locale, data_locale, "PT0.500S"),
        "<w:AckRequested/></s:Header><s:Body><e:SubscriptionEnd><e:SubscriptionManager>"
        "<a:Address>", xml_escape(_lower_scheme(end_to or to), quote=False),
        "</a:Address><a:ReferenceProperties><e:Identifier>",
        client_identifier or str(uuid.uuid4()).upper(),
        "</e:Identifier></a:ReferenceProperties></e:SubscriptionManager><e:Status>", status,
        "</e:Status>", fault, "</e:SubscriptionEnd></s:Body></s:Envelope>"))


# --------------------------------------------------------------------------------------------
# Response parsing
# --------------------------------------------------------------------------------------------

def _q(prefix: str, local: str) -> str:
    return "{%s}%s" % (NS[prefix], local)


def _text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


def _serialize(el: ET.Element) -> str:
    tail, el.tail = el.tail, None
    try:
        return ET.tostring(el, encoding="unicode")
    finally:
        el.tail = tail


@dataclasses.dataclass
class Subscription:
    """One ``m:Subscription`` item of an EnumerateResponse (the embedded Subscribe)."""
    index: int
    version: str | None = None
    message_id: str | None = None
    name: str | None = None
    options: dict = dataclasses.field(default_factory=dict)   # Name -> text, None if xsi:nil
    content_format: str | None = None
    compression: str | None = None
    resource_uri: str | None = None
    end_to: str | None = None
    end_to_reference_headers: list = dataclasses.field(default_factory=list)
    notify_to: str | None = None
    reference_headers: list = dataclasses.field(default_factory=list)  # echoed as SOAP headers
    identifier: str | None = None
    delivery_mode: str | None = None
    heartbeats: float | None = None
    connection_retry_total: int | None = None
    connection_retry_interval: float | None = None
    max_time: float | None = None
    max_elements: int | None = None
    max_envelope_size: int | None = None
    max_envelope_policy: str | None = None
    locale: str | None = None
    data_locale: str | None = None
    content_encoding: str | None = None
    auth_profiles: list = dataclasses.field(default_factory=list)
    thumbprints: list = dataclasses.field(default_factory=list)    # [(role, HEX)]
    filter_dialect: str | None = None
    query: str | None = None
    bookmark_xml: str | None = None      # the <BookmarkList> as XML text
    bookmark_earliest: bool = False
    bookmark_records: list = dataclasses.field(default_factory=list)  # [(channel, record id)]
    send_bookmarks: bool = False
    policy_namespaces_ok: bool = True

    @property
    def start_seq(self) -> int:
        """First sequence number to send: max RecordId + 1, or 1 (earliest or no bookmark)."""
        if self.bookmark_earliest or not self.bookmark_records:
            return 1
        return max(r for _, r in self.bookmark_records) + 1

    @property
    def key(self) -> str:
        return self.name or self.notify_to or str(self.index)


def _parse_subscribe(index: int, item: ET.Element) -> Subscription:
    sub = Subscription(index=index)
    sub.version = _text(item.find(_q("sub", "Version")))
    env = item.find(_q("s", "Envelope"))
    if env is None:
        raise ProtocolError("m:Subscription %d has no s:Envelope" % index)
    header = env.find(_q("s", "Header"))
    body = env.find(_q("s", "Body"))
    if header is None or body is None:
        raise ProtocolError("Subscribe %d lacks s:Header or s:Body" % index)
    sub.message_id = _text(header.find(_q("a", "MessageID")))
    sub.resource_uri = _text(header.find(_q("w", "ResourceURI")))
    for opt in header.iterfind("%s/%s" % (_q("w", "OptionSet"), _q("w", "Option"))):
        nil = opt.get(_q("xsi", "nil")) in ("true", "1")
        sub.options[opt.get("Name")] = None if nil else (opt.text or "")
    sub.name = sub.options.get("SubscriptionName")
    sub.content_format = sub.options.get("ContentFormat")
    sub.compression = sub.options.get("Compression")
    subscribe = body.find(_q("e", "Subscribe"))
    if subscribe is None:
        raise ProtocolError("Subscribe %d has no e:Subscribe body" % index)

    def refs(epr: ET.Element) -> tuple[list, str | None]:
        out, ident = [], None
        for tag in ("ReferenceProperties", "ReferenceParameters"):
            holder = epr.find(_q("a", tag))
            if holder is None:
                continue
            for child in holder:
                if child.tag == _q("e", "Identifier"):
                    ident = (child.text or "").strip()
                    out.append(_identifier_header(ident))
                else:
                    out.append(_serialize(child))
        return out, ident

    end_to = subscribe.find(_q("e", "EndTo"))
    if end_to is not None:
        sub.end_to = _text(end_to.find(_q("a", "Address")))
        sub.end_to_reference_headers, _ = refs(end_to)
    delivery = subscribe.find(_q("e", "Delivery"))
    if delivery is not None:
        sub.delivery_mode = delivery.get("Mode")
        sub.heartbeats = parse_duration(_text(delivery.find(_q("w", "Heartbeats"))))
        notify = delivery.find(_q("e", "NotifyTo"))
        if notify is not None:
            sub.notify_to = _text(notify.find(_q("a", "Address")))
            sub.reference_headers, sub.identifier = refs(notify)
            for policy in notify.iter():
                if policy.tag.endswith("}Authentication"):
                    if policy.tag != _q("auth", "Authentication"):
                        sub.policy_namespaces_ok = False
                    sub.auth_profiles.append(policy.get("Profile"))
                elif policy.tag.endswith("}Thumbprint"):
                    if policy.tag != _q("auth", "Thumbprint"):
                        sub.policy_namespaces_ok = False
                    sub.thumbprints.append((policy.get("Role", "certificate"),
                                            (policy.text or "").strip().upper()))
        retry = delivery.find(_q("w", "ConnectionRetry"))
        if retry is not None:
            sub.connection_retry_interval = parse_duration(_text(retry))
            try:
                sub.connection_retry_total = int(retry.get("Total"))
            except (TypeError, ValueError):
                pass
        sub.max_time = parse_duration(_text(delivery.find(_q("w", "MaxTime"))))
        try:
            sub.max_elements = int(_text(delivery.find(_q("w", "MaxElements"))))
        except (TypeError, ValueError):
            pass
        mes = delivery.find(_q("w", "MaxEnvelopeSize"))
        if mes is not None:
            try:
                sub.max_envelope_size = int(_text(mes))
            except (TypeError, ValueError):
                pass
            sub.max_envelope_policy = mes.get("Policy")
        loc = delivery.find(_q("w", "Locale"))
        if loc is not None:
            sub.locale = loc.get(_q("xml", "lang"))
        dloc = delivery.find(_q("p", "DataLocale"))
        if dloc is not None:
            sub.data_locale = dloc.get(_q("xml", "lang"))
        sub.content_encoding = _text(delivery.find(_q("w", "ContentEncoding")))
    flt = subscribe.find(_q("w", "Filter"))
    if flt is not None:
        sub.filter_dialect = flt.get("Dialect")
        sub.query = "".join(_serialize(c) for c in flt) or (flt.text or "").strip()
    bm = subscribe.find(_q("w", "Bookmark"))
    if bm is not None:
        lists = [c for c in bm if c.tag.rsplit("}", 1)[-1] == "BookmarkList"]
        if lists:
            sub.bookmark_xml = _serialize(lists[0])
            for b in lists[0].iter():
                if b.tag.rsplit("}", 1)[-1] == "Bookmark":
                    try:
                        sub.bookmark_records.append((b.get("Channel"), int(b.get("RecordId"))))
                    except (TypeError, ValueError):
                        pass
        elif (bm.text or "").strip() == BOOKMARK_EARLIEST:
            sub.bookmark_earliest = True
        elif (bm.text or "").strip():
            raise ProtocolError("Subscribe %d: unknown bookmark %r" % (index, bm.text))
    sub.send_bookmarks = subscribe.find(_q("w", "SendBookmarks")) is not None
    return sub


def parse_enumerate_response(text: str) -> tuple[str | None, list[Subscription]]:
    """Parse an EnumerateResponse. Returns (a:RelatesTo, [Subscription, ...]).
    Raises ProtocolError on XML that is not an EnumerateResponse."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ProtocolError("EnumerateResponse is not XML: %s" % exc) from None
    header = root.find(_q("s", "Header"))
    body = root.find(_q("s", "Body"))
    if root.tag != _q("s", "Envelope") or header is None or body is None:
        raise ProtocolError("EnumerateResponse is not a SOAP 1.2 envelope")
    relates_to = _text(header.find(_q("a", "RelatesTo")))
    action = _text(header.find(_q("a", "Action")))
    if action != ACTION_ENUMERATE_RESPONSE:
        raise ProtocolError("unexpected Action %r in the Enumerate reply" % action)
    resp = body.find(_q("n", "EnumerateResponse"))
    if resp is None:
        raise ProtocolError("no n:EnumerateResponse in the body")
    items = resp.find(_q("w", "Items"))
    subs = []
    if items is not None:
        for i, item in enumerate(items.findall(_q("sub", "Subscription"))):
            subs.append(_parse_subscribe(i, item))
    return relates_to, subs


def parse_ack(data: bytes | str) -> dict:
    """Parse a reply to Heartbeat/Events/SubscriptionEnd. Returns a dict with ``action``,
    ``relates_to``, ``message_id``, ``fault`` (fault reason text or None). An empty body gives
    all None. Raises ProtocolError if the body is not XML."""
    text = decode_body(data) if isinstance(data, (bytes, bytearray)) else data
    out = {"action": None, "relates_to": None, "message_id": None, "fault": None}
    if not text.strip():
        return out
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ProtocolError("reply is not XML: %s" % exc) from None
    header = root.find(_q("s", "Header"))
    if header is not None:
        out["action"] = _text(header.find(_q("a", "Action")))
        out["relates_to"] = _text(header.find(_q("a", "RelatesTo")))
        out["message_id"] = _text(header.find(_q("a", "MessageID")))
    body = root.find(_q("s", "Body"))
    fault = body.find(_q("s", "Fault")) if body is not None else None
    if fault is not None:
        out["fault"] = " ".join(t.strip() for t in fault.itertext() if t.strip()) or "Fault"
    return out


def validate_subscription(sub: Subscription, https: bool = True,
                          issuer_thumbprint: str | None = None,
                          kerberos: bool = False) -> list[str]:
    """Return the reasons a Windows client would refuse (or this simulator cannot honour) a
    Subscribe; empty list if fine. Checked: delivery mode Events, a NotifyTo address, the
    https/mutual profile with an issuer thumbprint in the Microsoft authentication namespace
    (Windows faults 2150859101/2150859102 otherwise), an https NotifyTo for an https manager,
    no SLDC compression (not implemented here), and, if ``issuer_thumbprint`` is given, that
    it is among the issuer thumbprints. With ``kerberos`` (and ``https`` false) the NotifyTo
    must be http:// and the Policy must offer the http/spnego-kerberos profile instead."""
    problems = []
    if sub.delivery_mode != DELIVERY_MODE_EVENTS:
        problems.append("delivery mode %r is not %s" % (sub.delivery_mode, DELIVERY_MODE_EVENTS))
    if not sub.notify_to:
        problems.append("no NotifyTo address")
    elif https and not sub.notify_to.lower().startswith("https://"):
        problems.append("NotifyTo %r is not https" % sub.notify_to)
    elif kerberos and not https and not sub.notify_to.lower().startswith("http://"):
        problems.append("NotifyTo %r is not http (Kerberos mode)" % sub.notify_to)
    if kerberos and not https and PROFILE_HTTP_KERBEROS not in sub.auth_profiles:
        problems.append("no %s authentication profile (offered: %s)"
                        % (PROFILE_HTTP_KERBEROS, ", ".join(map(str, sub.auth_profiles)) or "none"))
    if not sub.policy_namespaces_ok:
        problems.append("Policy uses an authentication namespace other than %s" % NS["auth"])
    if https:
        if PROFILE_HTTPS_MUTUAL not in sub.auth_profiles:
            problems.append("no %s authentication profile" % PROFILE_HTTPS_MUTUAL)
        issuers = [t for r, t in sub.thumbprints if r == "issuer"]
        if not issuers:
            problems.append("no auth:Thumbprint Role=\"issuer\" in the Policy")
        elif issuer_thumbprint and issuer_thumbprint.upper() not in issuers:
            problems.append("issuer thumbprint %s not offered (%s)" % (issuer_thumbprint,
                                                                       ", ".join(issuers)))
    if sub.compression and sub.compression.upper() != "SLDC":
        problems.append("Compression=%s requested; Windows knows only SLDC" % sub.compression)
    if sub.content_encoding and sub.content_encoding.upper() != "UTF-16":
        problems.append("ContentEncoding %r (the simulator only sends UTF-16)"
                        % sub.content_encoding)
    return problems


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------

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


class _ConnMixin:
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


class _Conn(_ConnMixin, http.client.HTTPSConnection):
    """HTTPS connection that can connect to another address than the URL's host (tests map
    names to 127.0.0.1) while SNI and certificate checks use the URL's host."""

    def __init__(self, host, port, ctx, connect_host=None, connect_port=None, timeout=60.0):
        http.client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=ctx)
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


class _PlainConn(_ConnMixin, http.client.HTTPConnection):
    """Plain HTTP connection (Kerberos mode, port 5985) that can connect to another address
    than the URL's host; the Host header and the Kerberos SPN still use the URL's host."""

    def __init__(self, host, port, connect_host=None, connect_port=None, timeout=60.0):
        http.client.HTTPConnection.__init__(self, host, port, timeout=timeout)
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


# --------------------------------------------------------------------------------------------
# Kerberos (HTTP, port 5985): GSSAPI context per TCP connection and message encryption
# --------------------------------------------------------------------------------------------
#
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
_DEFAULT_AUTH = object()     # "generate a real token" marker of Forwarder.authenticate()


class KerberosError(SimulatorError):
    """GSSAPI failed (no credentials, KDC unreachable, mutual authentication failed, a body
    did not decrypt, ...). Retried like a delivery error by the run functions."""


def _gssapi():
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
        gssapi = _gssapi()
        return gssapi.OID.from_int_seq(KRB5_MECH_OID if self.scheme == "Kerberos"
                                       else SPNEGO_MECH_OID)

    @property
    def credentials(self):
        """The gssapi.Credentials (acquired on first use)."""
        with self._lock:
            if self._creds is None:
                gssapi = _gssapi()
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
        gssapi = _gssapi()
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
        gssapi = _gssapi()
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
        gssapi = _gssapi()
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
        gssapi = _gssapi()
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
        gssapi = _gssapi()
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


class Forwarder:
    """One forwarding machine's WinRM client, for single requests.

    ``Forwarder(url, cert, key, ca, machine, connect_host=None, connect_port=None,
    verify_hostname=True, timeout=60, key_password=None, ssl_context=None,
    max_envelope_size=512000, locale='en-US', data_locale='en-US', tls_version=None)``

    ``url`` is the SubscriptionManager URL of the GPO (``https://wec:5986/wsman/
    SubscriptionManager/WEC``); ``machine`` the FQDN sent as MachineID and written into events.
    Connection A (manager) and the delivery connections (one per collector host:port) are
    separate keep-alive HTTPS connections. Methods:

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
                 compress: str = "auto"):
        self.url = url
        _split_url(url)   # validate
        self.machine = machine or socket.getfqdn()
        self.kerberos = kerberos
        self._tls_args = (cert, key, ca, verify_hostname, key_password, tls_version)
        if ssl_context is None and (url.lower().startswith("https:") or cert):
            ssl_context = make_ssl_context(*self._tls_args)
        self.ctx = ssl_context
        self.connect_host = connect_host
        self.connect_port = connect_port
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
    def connection(self, url: str, role: str = "delivery") -> _Conn:
        """The keep-alive connection used for ``url`` (``role`` 'manager' = connection A,
        'delivery' = connection B): HTTPS for https:// URLs, plain HTTP for http:// ones."""
        host, port, _, _ = _split_url(url)
        https = url.strip().lower().startswith("https:")
        key = (role, host.lower(), port) if https else (role, host.lower(), port, "http")
        conn = self._conns.get(key)
        if conn is None:
            if https:
                if self.ctx is None:
                    self.ctx = make_ssl_context(*self._tls_args)
                conn = _Conn(host, port, self.ctx, self.connect_host, self.connect_port,
                             self.timeout)
            else:
                conn = _PlainConn(host, port, self.connect_host, self.connect_port, self.timeout)
            self._conns[key] = conn
        return conn

    def _kerberos_for(self, conn) -> KerberosClient | None:
        return self.kerberos if isinstance(conn, _PlainConn) else None

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

    def _post(self, conn: _Conn, path: str, hosthdr: str, body: bytes,
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
        host, port, rpath, hosthdr = _split_url(url)
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
        host, port, rpath, hosthdr = _split_url(url)
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
        _, _, rpath, hosthdr = _split_url(url)
        status, _, data = self._post(self.connection(url, role), rpath, hosthdr,
                                     encode_body(text), compress=compress)
        return status, data

    def _delivery_connection(self, sub: Subscription, url: str) -> "_Conn":
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
        _, _, rpath, hosthdr = _split_url(sub.notify_to)
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


# --------------------------------------------------------------------------------------------
# Event source
# --------------------------------------------------------------------------------------------

_RE_COMPUTER = re.compile(r"<Computer>[^<]*</Computer>|<Computer\s*/>")
_RE_RECORD = re.compile(r"<EventRecordID>[^<]*</EventRecordID>|<EventRecordID\s*/>")
_RE_CHANNEL = re.compile(r"<Channel>([^<]*)</Channel>")
_SLOT_COMPUTER, _SLOT_RECORD, _SLOT_NONE = 0, 1, 2


def _u16len(s: str) -> int:
    n = len(s)
    if not s.isascii():
        n += sum(1 for c in s if ord(c) > 0xFFFF)
    return 2 * n


class EventTemplates:
    """Event lines prepared for cheap rewriting: each line is split around the content of
    ``<Computer>`` and ``<EventRecordID>`` and pre-wrapped in ``<w:Event><![CDATA[``, so that a
    batch is a ``str.join`` of (prefix, machine, middle, sequence, suffix) pieces."""

    def __init__(self, lines: Iterable[str]):
        self.items = []
        self.max_channel = "Application"
        for line in lines:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            self.items.append(self._prepare(line))
        if not self.items:
            raise ValueError("no events")

    @classmethod
    def from_files(cls, paths: Sequence[str]) -> "EventTemplates":
        def gen():
            for p in paths:
                with open(p, encoding="utf-8") as fh:
                    yield from fh
        return cls(gen())

    def _prepare(self, line: str):
        spans = []
        m = _RE_COMPUTER.search(line)
        if m:
            spans.append((m.start(), m.end(), _SLOT_COMPUTER, "Computer"))
        m = _RE_RECORD.search(line)
        if m:
            spans.append((m.start(), m.end(), _SLOT_RECORD, "EventRecordID"))
        spans.sort()
        segs, slots, pos, pending = [], [], 0, ""
        for start, end, slot, tag in spans:
            segs.append(pending + line[pos:start] + "<%s>" % tag)
            slots.append(slot)
            pending, pos = "</%s>" % tag, end
        segs.append(pending + line[pos:])
        while len(segs) < 3:
            segs.append("")
            slots.append(_SLOT_NONE)
        segs = [s.replace("]]>", "]]]]><![CDATA[>") for s in segs]
        segs[0] = _EVENT_OPEN + segs[0]
        segs[2] = segs[2] + _EVENT_CLOSE
        m = _RE_CHANNEL.search(line)
        channel = m.group(1).strip() if m and m.group(1).strip() else "Application"
        if len(channel) > len(self.max_channel):
            self.max_channel = channel
        fixed = sum(_u16len(s) for s in segs)
        # (p0, slot1, p1, slot2, p2, fixed utf-16 size, channel for the bookmark attribute)
        return (segs[0], slots[0], segs[1], slots[1], segs[2], fixed,
                xml_escape(channel.replace("&amp;", "&").replace("&lt;", "<")
                           .replace("&gt;", ">")))

    def __len__(self):
        return len(self.items)

    def render(self, seq: int, machine: str) -> str:
        """The rewritten ``<Event>`` (without the w:Event wrapper) for sequence ``seq``."""
        p0, k1, p1, k2, p2, _, _ = self.items[(seq - 1) % len(self.items)]
        vals = (machine, str(seq), "")
        s = p0 + vals[k1] + p1 + vals[k2] + p2
        return s[len(_EVENT_OPEN):-len(_EVENT_CLOSE)].replace("]]]]><![CDATA[>", "]]>")

    def channel(self, seq: int) -> str:
        return self.items[(seq - 1) % len(self.items)][6]

    def build_batch(self, start_seq: int, last_allowed: int, max_count: int, budget: int,
                    machine: str, machine_u16: int) -> tuple[list, int, int, str]:
        """Pieces for events start_seq.. while count <= max_count, seq <= last_allowed and
        the UTF-16 size <= budget (at least one event). Returns (pieces, count, last seq,
        channel of the last event)."""
        items, n_items = self.items, len(self.items)
        pieces: list = []
        ext = pieces.extend
        size = 0
        seq = start_seq
        stop = min(last_allowed, start_seq + max_count - 1)
        item = None
        while seq <= stop:
            item = items[(seq - 1) % n_items]
            s = str(seq)
            k1, k2 = item[1], item[3]
            esize = item[5] + (machine_u16 if k1 == 0 or k2 == 0 else 0) + \
                (2 * len(s) if k1 == 1 or k2 == 1 else 0)
            if size + esize > budget and seq > start_seq:
                break
            size += esize
            vals = (machine, s, "")
            ext((item[0], vals[k1], item[2], vals[k2], item[4]))
            seq += 1
        last = seq - 1
        channel = items[(last - 1) % n_items][6] if last >= start_seq else "Application"
        return pieces, last - start_seq + 1, last, channel


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------

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
    events = _load_events(events)
    if deadline_at is None and opts.deadline:
        deadline_at = time.monotonic() + opts.deadline
    t0 = time.monotonic()
    res = StreamResult(machine=machine, subscription=sub.name or sub.key)
    statuses: collections.Counter = collections.Counter()
    total = opts.total_events if opts.total_events is not None else len(events)
    machine_u16 = _u16len(machine)
    https = url.lower().startswith("https:")
    issuer = cert_thumbprint(opts.issuer_ca) if opts.issuer_ca else None
    consecutive = 0
    resubscribe = False

    fw = Forwarder(url, machine=machine, ssl_context=ssl_context,
                   connect_host=opts.connect_host, connect_port=opts.connect_port,
                   timeout=opts.timeout, kerberos=kerberos, compress=opts.compress)
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
                budget = max_env - 2 - _u16len(probe)
                batch_max = opts.batch_size
                if sub.max_elements:
                    batch_max = min(batch_max, sub.max_elements)
                to = xml_escape(_lower_scheme(sub.notify_to), quote=False)
                refs = "".join(sub.reference_headers)
                session_id = fw.connection(sub.notify_to).wef_session_id
                tail = "</w:Events></s:Body></s:Envelope>"
                while next_seq <= total:
                    pieces, count, last, channel = events.build_batch(
                        next_seq, total, batch_max, budget, machine, machine_u16)
                    bookmark = format_bookmark_raw(channel, last)
                    mid = new_uuid()
                    head = _delivery_header(ACTION_EVENTS, to, machine, mid, session_id,
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


def format_bookmark_raw(channel_attr: str, record_id: int) -> str:
    """Like format_bookmark but for an already escaped channel attribute value."""
    return ('<BookmarkList><Bookmark Channel="' + channel_attr + '" RecordId="' +
            str(record_id) + '" IsCurrent="true"/></BookmarkList>')


def _load_events(events) -> EventTemplates:
    if isinstance(events, EventTemplates):
        return events
    if events is None:
        events = [DEFAULT_EVENTS_FILE]
    if isinstance(events, str):
        events = [events]
    return EventTemplates.from_files(list(events))


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
        templates = _load_events(events)
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
                       kerberos=kerberos, compress=opts.compress)
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
    templates = _load_events(events)
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


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wef_forwarder.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate Windows 10 event forwarders (source-initiated WEF, HTTPS with "
                    "client certificates or HTTP with Kerberos) against a Windows Event "
                    "Collector.",
        epilog="""\
Each machine enumerates its subscriptions (connection A), then per subscription opens a
keep-alive connection to NotifyTo and sends a Heartbeat and Events batches, resuming from the
collector's bookmark after failures. <Computer> is rewritten to the machine name and
<EventRecordID> to 1, 2, 3... per (machine, subscription). Without bookmark (or with the
bookmark/earliest URI) a stream starts at record 1. One JSON line per machine is printed.

example:
  %(prog)s --url https://wec.corp.example:5986/wsman/SubscriptionManager/WEC \\
      --ca certs/ca-bundle.crt --cert-pattern 'certs/clients/{machine}.crt' \\
      --key-pattern 'certs/clients/{machine}.key' --machines 4 --connect-host 127.0.0.1

Kerberos (HTTP, port 5985; needs python3-gssapi, i.e. /usr/bin/python3): the machine
account of machine win01.wec.test is WIN01$ (--principal-pattern), its keytab comes from
--client-keytab with {machine} {n} {short} {SHORT} {principal} replaced:
  KRB5_CONFIG=/tmp/kdc/krb5.conf %(prog)s --kerberos \\
      --url http://localhost:5985/wsman/SubscriptionManager/WEC \\
      --client-keytab '/tmp/kdc/clients/{principal}.keytab' --principal-pattern 'WIN{n:02d}$' \\
      --machines 2 --machine-pattern 'win{n:02d}.wec.test'

exit status: 0 all events acked, 1 a machine failed or gave up, 2 usage error.""")
    p.add_argument("--url", required=True,
                   help="SubscriptionManager URL, e.g. "
                        "https://wec:5986/wsman/SubscriptionManager/WEC")
    p.add_argument("--ca", help="CA file (PEM) or hashed directory to verify the collector")
    p.add_argument("--cert", help="client certificate (PEM) shared by all machines")
    p.add_argument("--key", help="client key (PEM) for --cert (default: in the cert file)")
    p.add_argument("--cert-pattern", help="per-machine certificate, {machine} and {n} replaced")
    p.add_argument("--key-pattern", help="per-machine key, {machine} and {n} replaced")
    p.add_argument("--key-password", help="password of the key files")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--machines", type=int, default=1, metavar="N",
                   help="number of simulated machines (default 1)")
    g.add_argument("--machine", action="append", metavar="FQDN",
                   help="explicit machine name (repeatable) instead of --machines")
    p.add_argument("--machine-pattern", default="win{n:02d}.corp.example",
                   help="name pattern, n = 1..N (default %(default)s)")
    p.add_argument("--events", action="append", metavar="FILE",
                   help="event file, one <Event> per line (repeatable; default "
                        "tests/data/events-permissive.xml)")
    p.add_argument("--total-events", type=int, metavar="N",
                   help="events per stream (the lines are cycled; default one pass)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help="max events per Events message (default %(default)s; also limited by "
                        "MaxEnvelopeSize and MaxElements)")
    p.add_argument("--max-envelope-size", type=int,
                   help="override the subscription's Delivery MaxEnvelopeSize (bytes)")
    p.add_argument("--subscription", action="append", metavar="NAME",
                   help="only deliver to this SubscriptionName (repeatable)")
    p.add_argument("--connect-host", help="connect to this address instead of the URL host "
                                          "(SNI and certificate check still use the URL host)")
    p.add_argument("--connect-port", type=int, help="connect to this port instead")
    p.add_argument("--no-verify-hostname", action="store_true",
                   help="do not check the server name (the chain is still verified)")
    p.add_argument("--tls-version", choices=("1.2", "1.3"), help="pin the TLS version")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout (s)")
    p.add_argument("--retry-interval", type=float,
                   help="seconds between retries (default: ConnectionRetry, 60)")
    p.add_argument("--max-retries", type=int,
                   help="consecutive failures tolerated (default: ConnectionRetry Total, 5)")
    p.add_argument("--deadline", type=float, default=3600.0,
                   help="give up after this many seconds per machine (default %(default)s)")
    p.add_argument("--subscription-end", action="store_true",
                   help="after the last batch send SubscriptionEnd and End")
    p.add_argument("--subscription-end-status", default="SourceShuttingDown",
                   choices=("SourceShuttingDown", "SourceCancelling", "DeliveryFailure"))
    p.add_argument("--subscription-end-fault", action="store_true",
                   help="add the WSManFault 1717 to the SubscriptionEnd")
    p.add_argument("--no-heartbeat", action="store_true",
                   help="do not send the Heartbeat that opens each delivery connection")
    p.add_argument("--lenient", action="store_true",
                   help="accept Subscribes Windows would refuse (wrong mode/policy, SLDC)")
    p.add_argument("--issuer-ca", metavar="PEM",
                   help="the clients' issuing CA: require its thumbprint in the Policy")
    p.add_argument("--compress", choices=("auto", "always", "never"), default="auto",
                   help="SLDC-compress delivery bodies: auto = when the subscription asks for it "
                        "(as Windows), always (even when it does not: tests the fallback), never")
    k = p.add_argument_group("Kerberos mode (http:// URL, port 5985)")
    k.add_argument("--kerberos", action="store_true",
                   help="authenticate with Kerberos and encrypt the bodies (implied by an "
                        "http:// URL)")
    k.add_argument("--client-keytab", metavar="PATTERN",
                   help="client keytab; {machine} {n} {short} {SHORT} {principal} replaced "
                        "(default: the process' default credentials)")
    k.add_argument("--principal-pattern", metavar="PATTERN",
                   help="machine account per machine, e.g. 'WIN{n:02d}$' (default '{SHORT}$': "
                        "win01.wec.test -> WIN01$)")
    k.add_argument("--principal", help="one principal for all machines instead")
    k.add_argument("--realm", help="realm appended to the principals (default: krb5's "
                                   "default_realm)")
    k.add_argument("--scheme", choices=("Kerberos", "Negotiate"), default="Kerberos",
                   help="Authorization scheme: Kerberos = raw krb5 mechanism as WEF forwarders "
                        "(default), Negotiate = SPNEGO")
    k.add_argument("--tabs", action="store_true",
                   help="indent the encrypted bodies' part headers with tabs (the spec's form; "
                        "Windows sends none)")
    k.add_argument("--spn", help="target service, e.g. HOST/wec.wec.test (default "
                                 "HTTP/<URL host>)")
    k.add_argument("--krb5-config", metavar="FILE", help="use this krb5.conf (KRB5_CONFIG)")
    p.add_argument("-q", "--quiet", action="store_true", help="no totals on stderr")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format="%(asctime)s %(threadName)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    kerberos = args.kerberos or args.url.strip().lower().startswith("http:")
    if kerberos and not args.url.strip().lower().startswith("http:"):
        print("wef_forwarder.py: Kerberos mode needs an http:// URL (port 5985)",
              file=sys.stderr)
        return 2
    if not kerberos and not args.cert and not args.cert_pattern:
        print("wef_forwarder.py: --cert or --cert-pattern is required", file=sys.stderr)
        return 2
    if kerberos:
        try:
            _gssapi()
        except KerberosError as exc:
            print("wef_forwarder.py: %s" % exc, file=sys.stderr)
            return 2
    status_uri = "http://schemas.xmlsoap.org/ws/2004/08/eventing/" + args.subscription_end_status
    options = dict(
        batch_size=args.batch_size, total_events=args.total_events,
        retry_interval=args.retry_interval, max_retries=args.max_retries,
        deadline=args.deadline, timeout=args.timeout, connect_host=args.connect_host,
        connect_port=args.connect_port, verify_hostname=not args.no_verify_hostname,
        tls_version=args.tls_version, key_password=args.key_password,
        max_envelope_size=args.max_envelope_size, send_heartbeat=not args.no_heartbeat,
        subscription_end=args.subscription_end, subscription_end_status=status_uri,
        subscription_end_fault=args.subscription_end_fault, strict=not args.lenient,
        issuer_ca=args.issuer_ca, subscriptions=args.subscription, compress=args.compress)
    krb_args = {}
    if kerberos:
        options.update(scheme=args.scheme, tabs=args.tabs, spn=args.spn,
                       krb5_config=args.krb5_config)
        if args.principal:
            options["principal"] = args.principal
        krb_args = dict(principal_pattern=args.principal_pattern, realm=args.realm)
        if args.client_keytab and "{" in args.client_keytab:
            krb_args["client_keytab_pattern"] = args.client_keytab
        elif args.client_keytab:
            options["client_keytab"] = args.client_keytab
    try:
        templates = _load_events(args.events)
    except (OSError, ValueError) as exc:
        print("wef_forwarder.py: %s" % exc, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    cpu0 = time.process_time()
    results = run_machines(args.url, args.machine or args.machines, args.ca, cert=args.cert,
                           key=args.key, cert_pattern=args.cert_pattern,
                           key_pattern=args.key_pattern, events=templates,
                           machine_pattern=args.machine_pattern, **krb_args, **options)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    for r in results:
        print(json.dumps(r.summary(), sort_keys=False), flush=True)
    total = sum(r.events_acked for r in results)
    if not args.quiet:
        print("total: %d machines, %d events acked in %.2fs (%.0f events/s, %.2fs CPU); %s"
              % (len(results), total, wall, total / wall if wall > 0 else 0.0, cpu,
                 "all ok" if all(r.ok for r in results) else "FAILURES"), file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
