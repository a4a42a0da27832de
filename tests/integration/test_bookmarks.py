"""Bookmarks: stored per (authentication method, identity, subscription) in syslog-ng's persist file
once a batch is acknowledged, re-serialised and at most 64 KiB (a subscription may read up to 256
channels), and handed back in the Subscribe after a restart, graceful or kill -9; anything but a
<BookmarkList> refused; the persist file bounded; bookmarks of silent machines expired on request."""
import collections
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import wef_forwarder as wef
from wec_harness import CORPUS, DATA, SyslogNg, json_file_config, subscription_block, windowsevent_source

MANAGER_PATH = "/wsman/SubscriptionManager/WEC"


def bookmark_list(channels, record_id):
    current = ' IsCurrent="true"'
    items = "".join(f'<Bookmark Channel="Microsoft-Windows-Channel-{n:03d}/Operational" RecordId="{record_id + n}"'
                    f'{current if n == 0 else ""}/>' for n in range(channels))
    return f"<BookmarkList>{items}</BookmarkList>"


def canonical(xml_text):
    return ET.tostring(ET.fromstring(xml_text), encoding="unicode")


class Collector:
    """syslog-ng with the module and two subscriptions in `workdir`, and the forwarders' side of it
    (also used by test_bookmark_tool)."""

    def __init__(self, workdir, certs, port):
        self.port = port
        self.pki = certs["dir"]
        subscriptions = [subscription_block("security", ["*.corp.example"]),
                         subscription_block("system", ["*.corp.example"])]
        self.daemon = SyslogNg(workdir, json_file_config(windowsevent_source(port, self.pki, subscriptions),
                                                         Path(workdir) / "out.json"))

    def forwarder(self, machine):
        return wef.Forwarder(f"https://localhost:{self.port}{MANAGER_PATH}",
                             str(self.pki / "clients" / f"{machine}.crt"), str(self.pki / "clients" / f"{machine}.key"),
                             str(self.pki / "ca-bundle.crt"), machine)

    def bookmarks(self, machine):
        """What the collector hands this machine in its Subscribe: {subscription: bookmark or None}."""
        with self.forwarder(machine) as fw:
            status, subs, _ = fw.enumerate()
            assert status == 200
            return {s.name: s.bookmark_xml for s in subs}

    def deliver(self, machine, subscription, bookmark):
        event = CORPUS.read_text(encoding="utf-8").splitlines()[0]
        with self.forwarder(machine) as fw:
            _, subs, _ = fw.enumerate()
            sub = next(s for s in subs if s.name == subscription)
            fw.check_ack(*fw.send_events(sub, [event], bookmark))


def test_bookmarks_of_any_size_survive_restart_and_kill_9(tmp_path, certs, port):
    c = Collector(tmp_path / "s", certs, port)
    small = bookmark_list(1, 100)
    large = bookmark_list(256, 5000)  # about 25 KB: several persist entries
    assert len(large) > 20000
    c.daemon.start(port=port)
    try:
        assert c.bookmarks("win01.corp.example") == {"security": None, "system": None}
        c.deliver("win01.corp.example", "security", large)
        c.deliver("win01.corp.example", "system", small)
        c.deliver("win02.corp.example", "security", small)
        c.daemon.stop()

        c.daemon.start(port=port)
        got = c.bookmarks("win01.corp.example")
        assert canonical(got["security"]) == canonical(large)
        assert canonical(got["system"]) == canonical(small)
        assert canonical(c.bookmarks("win02.corp.example")["security"]) == canonical(small)
        assert c.bookmarks("win03.corp.example") == {"security": None, "system": None}
        assert "bookmarks restored from the persist file; count='3'" in c.daemon.internal_log()

        # newer, smaller and larger again, then kill -9 right after the acknowledgement
        newer_small = bookmark_list(2, 200)
        c.deliver("win01.corp.example", "security", newer_small)
        newest_large = bookmark_list(256, 9000)
        c.deliver("win01.corp.example", "system", newest_large)
        c.daemon.kill9()

        c.daemon.start(port=port)
        got = c.bookmarks("win01.corp.example")
        assert canonical(got["security"]) == canonical(newer_small)
        assert canonical(got["system"]) == canonical(newest_large)
    finally:
        c.daemon.stop()


def test_bookmark_is_kept_verbatim(tmp_path, certs, port):
    c = Collector(tmp_path / "s", certs, port)
    bookmark = ('<BookmarkList Direction="backward"><Bookmark Channel="Microsoft-Windows-Sysmon/Operational" '
                'RecordId="42" IsCurrent="true"/><Bookmark Channel="Security" RecordId="7"/></BookmarkList>')
    c.daemon.start(port=port)
    try:
        c.deliver("win01.corp.example", "security", bookmark)
        with c.forwarder("win01.corp.example") as fw:
            _, _, raw = fw.enumerate()
        assert f"<w:Bookmark>{bookmark}</w:Bookmark>" in wef.decode_body(raw)
    finally:
        c.daemon.stop()


def log_count(daemon, needle):
    return sum(needle in line for line in daemon.internal_log().splitlines())


def test_bookmark_that_is_not_a_bookmark_list_is_refused_and_never_echoed(tmp_path, certs, port):
    """The review's injection: a bookmark of escaped markup, stored as text, came back raw in the next
    Subscribe. Now it is refused with 400 and one line, and the stored position stays as it was."""
    c = Collector(tmp_path / "s", certs, port)
    c.daemon.start(port=port)
    try:
        good = bookmark_list(1, 10)
        c.deliver("win01.corp.example", "security", good)
        injected = "&lt;/w:Bookmark&gt;&lt;w:Injected/&gt;&lt;w:Bookmark&gt;"
        oversized = bookmark_list(900, 1)  # about 70 KB: past the 64 KiB cap
        assert len(oversized) > 64 * 1024
        event = CORPUS.read_text(encoding="utf-8").splitlines()[0]
        with c.forwarder("win01.corp.example") as fw:
            _, subs, _ = fw.enumerate()
            sub = next(s for s in subs if s.name == "security")
            for number, (bookmark, reason) in enumerate([(injected, "holds text instead of a <BookmarkList>"),
                                                         (oversized, "larger than 65536 bytes")], 1):
                status, _ = fw.send_events(sub, [event], bookmark)
                assert status == 400
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and log_count(c.daemon, "refused bookmark") < number:
                    time.sleep(0.1)
                lines = [line for line in c.daemon.internal_log().splitlines() if "refused bookmark" in line]
                assert len(lines) == number and reason in lines[-1], lines
                assert "answered='400'" in lines[-1] and "identity='win01.corp.example'" in lines[-1]
            _, _, raw = fw.enumerate()
        text = wef.decode_body(raw)
        assert "Injected" not in text and "&lt;/w:Bookmark" not in text
        assert canonical(c.bookmarks("win01.corp.example")["security"]) == canonical(good)
    finally:
        c.daemon.stop()


def test_persist_file_stays_bounded_while_bookmarks_grow_and_change(tmp_path, certs, port):
    """The review's growth: 64 batches whose bookmark grows by 8 KB each took the persist file from 32 KB
    to 17.2 MB. Bookmarks past 64 KiB are refused now, and chunks are allocated once per size class:
    10,000 batches with bookmarks of changing size leave the file bounded."""
    subscriptions = [subscription_block("security", ["*.corp.example"], extra="")]
    daemon = SyslogNg(tmp_path / "s", json_file_config(
        windowsevent_source(port, certs["dir"], subscriptions, extra="compression(no)"), tmp_path / "out.json"))
    daemon.start(port=port)
    pki = certs["dir"]
    statuses = collections.Counter()
    try:
        with wef.Forwarder(f"https://localhost:{port}{MANAGER_PATH}", str(pki / "clients" / "win01.corp.example.crt"),
                           str(pki / "clients" / "win01.corp.example.key"), str(pki / "ca-bundle.crt"),
                           "win01.corp.example") as fw:
            _, subs, _ = fw.enumerate()
            sub = subs[0]
            growing = ""
            for step in range(64):  # 8 KB more each time, as the reviewer sent
                growing += "".join(f'<Bookmark Channel="Channel-{step:02d}-{n:03d}" RecordId="{n}"/>' for n in range(200))
                statuses[fw.send_events(sub, [], f"<BookmarkList>{growing}</BookmarkList>")[0]] += 1
            after_growth = daemon.persist.stat().st_size
            for batch in range(10000):  # 1 to 250 channels, changing positions
                channels = 1 + (batch * 37) % 250
                statuses[fw.send_events(sub, [], bookmark_list(channels, batch))[0]] += 1
        size = daemon.persist.stat().st_size
    finally:
        daemon.stop()
    print(f"persist file: {after_growth} bytes after the growth, {size} bytes after 10,000 more batches; "
          f"answers {dict(statuses)}")
    grown = statuses[200] - 10000  # growth steps stored: those up to 64 KiB
    assert 6 <= grown <= 8 and statuses[400] + statuses[413] == 64 - grown  # the rest refused (413: past the body limit)
    assert size < 1024 * 1024, size


def test_bookmarks_of_silent_machines_expire(tmp_path, certs, port):
    c = Collector(tmp_path / "s", certs, port)
    c.daemon.config.write_text(c.daemon.config.read_text().replace("subscription(", "bookmark-expiry(2) subscription(", 1))
    c.daemon.start(port=port)
    try:
        c.deliver("win01.corp.example", "security", bookmark_list(1, 5))
        c.daemon.stop()
        c.daemon.start(port=port)  # young enough: kept
        assert c.bookmarks("win01.corp.example")["security"] is not None
        c.daemon.stop()
        time.sleep(3.5)
        c.daemon.start(port=port)
        assert c.bookmarks("win01.corp.example")["security"] is None
        assert ("bookmarks of forwarders not heard from within bookmark-expiry() removed; count='1'"
                in c.daemon.internal_log())
    finally:
        c.daemon.stop()


def test_bookmarks_written_before_method_keys_are_kept(tmp_path, certs, port):
    """A persist file of the first version (entries named by identity only): renamed at start, the
    machine resumes from its bookmark, and the new names survive the next restart."""
    c = Collector(tmp_path / "s", certs, port)
    shutil.copy(DATA / "persist-0.1-bookmarks.persist", c.daemon.persist)
    c.daemon.start(port=port)
    try:
        assert 'RecordId="777"' in c.bookmarks("win01.corp.example")["security"]
        assert "bookmark entries renamed to include the authentication method; entries='1'" in c.daemon.internal_log()
        c.daemon.stop()
        c.daemon.start(port=port)
        assert 'RecordId="777"' in c.bookmarks("win01.corp.example")["security"]
        assert c.daemon.internal_log().count("bookmark entries renamed") == 1
    finally:
        c.daemon.stop()
