"""SOAP envelopes: the requests a Windows forwarder sends (Enumerate, End, Heartbeat, Events,
SubscriptionEnd), character for character as Windows 10 writes them, and the parsing of the
collector's replies (EnumerateResponse with its Subscribe envelopes, Ack), with the checks a
Windows client makes before it accepts a subscription."""

from __future__ import annotations

import dataclasses
import uuid
import xml.etree.ElementTree as ET
from typing import Iterable, Sequence

from .errors import ProtocolError
from .wire import (ACTION_END, ACTION_ENUMERATE, ACTION_ENUMERATE_RESPONSE, ACTION_EVENT,
                   ACTION_EVENTS, ACTION_HEARTBEAT, ACTION_SUBSCRIPTION_END, ANONYMOUS,
                   BOOKMARK_EARLIEST, DEFAULT_MAX_ENVELOPE_SIZE, DELIVERY_MODE_EVENTS, NS,
                   PROFILE_HTTP_KERBEROS, PROFILE_HTTPS_MUTUAL, RESOURCE_FULL_DUPLEX,
                   RESOURCE_SUBSCRIPTION, STATUS_SOURCE_SHUTTING_DOWN, decode_body, lower_scheme,
                   new_uuid, parse_duration, xml_escape)

__all__ = [
    "EVENT_OPEN", "EVENT_CLOSE", "build_enumerate", "build_end", "delivery_header",
    "build_heartbeat", "wrap_event", "build_events", "WSMAN_FAULT_EXAMPLE",
    "build_subscription_end", "Subscription", "parse_enumerate_response", "parse_ack",
    "validate_subscription",
]


# Requests (they return str; encode with encode_body())

_ROOT_ENUMERATE = ('<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:n="{n}" xmlns:w="{w}" '
                   'xmlns:p="{p}" xmlns:b="{b}">').format(**NS)
# End: the capture hides the namespace declarations; s, a, w, p are the prefixes it uses and
# with exactly these four the End body is 1434 bytes, the size seen in the capture.
_ROOT_END = '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:p="{p}">'.format(**NS)
_ROOT_DELIVERY = ('<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:e="{e}" xmlns:w="{w}" '
                  'xmlns:p="{p}">').format(**NS)
# One event in w:Events (a "]]>" inside the event is split, see wrap_event)
EVENT_OPEN = '<w:Event Action="' + ACTION_EVENT + '"><![CDATA['
EVENT_CLOSE = "]]></w:Event>"


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
        _ROOT_ENUMERATE, "<s:Header><a:To>", xml_escape(lower_scheme(to), quote=False),
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


def delivery_header(action: str, to: str, machine: str, message_id: str, session_id: str,
                     operation_id: str, refs: str, max_envelope_size: int,
                     locale: str | None, data_locale: str | None, timeout: str) -> str:
    return "".join((
        _ROOT_DELIVERY, "<s:Header><a:To>", xml_escape(lower_scheme(to), quote=False),
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
    return delivery_header(
        ACTION_HEARTBEAT, to, machine, message_id or new_uuid(), session_id or new_uuid(),
        operation_id or new_uuid(), _reference_headers(identifier, reference_headers),
        max_envelope_size, locale, data_locale, "PT60.000S"
    ) + "<w:AckRequested/></s:Header><s:Body><w:Events></w:Events></s:Body></s:Envelope>"


def wrap_event(event_xml: str) -> str:
    """``<w:Event Action=...><![CDATA[event]]></w:Event>`` (a ']]>' inside is split)."""
    return EVENT_OPEN + event_xml.replace("]]>", "]]]]><![CDATA[>") + EVENT_CLOSE


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
    head = delivery_header(
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
        delivery_header(ACTION_SUBSCRIPTION_END, to, machine, message_id or new_uuid(),
                         session_id or new_uuid(), operation_id or new_uuid(),
                         _reference_headers(identifier, reference_headers), max_envelope_size,
                         locale, data_locale, "PT0.500S"),
        "<w:AckRequested/></s:Header><s:Body><e:SubscriptionEnd><e:SubscriptionManager>"
        "<a:Address>", xml_escape(lower_scheme(end_to or to), quote=False),
        "</a:Address><a:ReferenceProperties><e:Identifier>",
        client_identifier or str(uuid.uuid4()).upper(),
        "</e:Identifier></a:ReferenceProperties></e:SubscriptionManager><e:Status>", status,
        "</e:Status>", fault, "</e:SubscriptionEnd></s:Body></s:Envelope>"))


# Replies of the collector

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
