"""The events a simulated machine sends: event files with one ``<Event>`` per line, prepared so
that a batch for a machine and a range of record numbers is a cheap string join (``<Computer>``
becomes the machine, ``<EventRecordID>`` the sequence number)."""

from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

from .soap import EVENT_CLOSE, EVENT_OPEN
from .wire import xml_escape

__all__ = ["DEFAULT_EVENTS_FILE", "utf16_size", "EventTemplates", "load_events"]


DEFAULT_EVENTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                   os.pardir, "data", "events-permissive.xml")

_RE_COMPUTER = re.compile(r"<Computer>[^<]*</Computer>|<Computer\s*/>")
_RE_RECORD = re.compile(r"<EventRecordID>[^<]*</EventRecordID>|<EventRecordID\s*/>")
_RE_CHANNEL = re.compile(r"<Channel>([^<]*)</Channel>")
_SLOT_COMPUTER, _SLOT_RECORD, _SLOT_NONE = 0, 1, 2


def utf16_size(s: str) -> int:
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
        segs[0] = EVENT_OPEN + segs[0]
        segs[2] = segs[2] + EVENT_CLOSE
        m = _RE_CHANNEL.search(line)
        channel = m.group(1).strip() if m and m.group(1).strip() else "Application"
        if len(channel) > len(self.max_channel):
            self.max_channel = channel
        fixed = sum(utf16_size(s) for s in segs)
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
        return s[len(EVENT_OPEN):-len(EVENT_CLOSE)].replace("]]]]><![CDATA[>", "]]>")

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


def load_events(events) -> EventTemplates:
    """``events`` as EventTemplates: ready ones, a file, a list of files or None (the
    repository's tests/data/events-permissive.xml)."""
    if isinstance(events, EventTemplates):
        return events
    if events is None:
        events = [DEFAULT_EVENTS_FILE]
    if isinstance(events, str):
        events = [events]
    return EventTemplates.from_files(list(events))
