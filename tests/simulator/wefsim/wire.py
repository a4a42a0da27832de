"""Wire format shared by every request: the WS-Management namespaces, actions and URIs,
UTF-16LE bodies with a BOM, xs:duration values, bookmarks, and SLDC compression (the C++
encoder of the build tree through ctypes when it is built, else the pure-Python ``sldc``)."""

from __future__ import annotations

import os
import re
import sys
import uuid

try:
    import sldc as _sldc       # tests/simulator/sldc.py, the pure-Python encoder
except ImportError:            # wefsim imported without tests/simulator on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import sldc as _sldc

__all__ = [
    "NS", "ACTION_ENUMERATE", "ACTION_ENUMERATE_RESPONSE", "ACTION_SUBSCRIBE", "ACTION_EVENTS",
    "ACTION_EVENT", "ACTION_HEARTBEAT", "ACTION_ACK", "ACTION_SUBSCRIPTION_END", "ACTION_END",
    "RESOURCE_SUBSCRIPTION", "RESOURCE_FULL_DUPLEX", "ANONYMOUS", "BOOKMARK_EARLIEST",
    "DELIVERY_MODE_EVENTS", "PROFILE_HTTPS_MUTUAL", "PROFILE_HTTP_KERBEROS",
    "STATUS_SOURCE_SHUTTING_DOWN", "STATUS_SOURCE_CANCELLING", "STATUS_DELIVERY_FAILURE",
    "CONTENT_TYPE", "USER_AGENT", "BOM", "DEFAULT_MAX_ENVELOPE_SIZE", "DEFAULT_RETRY_INTERVAL",
    "DEFAULT_MAX_RETRIES", "DEFAULT_BATCH_SIZE", "new_uuid", "encode_body", "decode_body",
    "xml_escape", "parse_duration", "format_bookmark", "lower_scheme", "format_bookmark_raw",
    "sldc_compress",
]


# SOAP namespaces, actions and URIs of WS-Management as Windows uses them

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


# Bodies: UTF-16LE with a BOM, durations, bookmarks

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


def format_bookmark_raw(channel_attr: str, record_id: int) -> str:
    """Like format_bookmark but for an already escaped channel attribute value."""
    return ('<BookmarkList><Bookmark Channel="' + channel_attr + '" RecordId="' +
            str(record_id) + '" IsCurrent="true"/></BookmarkList>')


def lower_scheme(url: str) -> str:
    """Windows writes a:To with a lower-case scheme even when the GPO / NotifyTo address is
    written ``HTTP://...`` (seen in the capture); the rest of the address is kept verbatim."""
    i = url.find("://")
    return url[:i].lower() + url[i:] if i > 0 else url


# SLDC: how Windows compresses delivery bodies when the subscription asks for it

def _native_sldc():
    """The project's C++ encoder through ctypes (WEC_SLDC_LIBRARY or the default build tree),
    about 80 times faster than the Python one; None when it is not built."""
    import ctypes
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("WEC_SLDC_LIBRARY"),
                 os.path.join(here, os.pardir, os.pardir, os.pardir, "build", "tests",
                              "libwec_sldc_native.so")):
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
