"""Bookmarks: stored verbatim per (identity, subscription) in syslog-ng's persist file once a
batch is acknowledged, of any size (a subscription may read up to 256 channels), and handed
back in the Subscribe after a restart, graceful or kill -9."""
import xml.etree.ElementTree as ET

import wef_forwarder as wef
from wec_harness import CORPUS, SyslogNg, json_file_config, subscription_block, windowsevent_source

MANAGER_PATH = "/wsman/SubscriptionManager/WEC"


def bookmark_list(channels, record_id):
    current = ' IsCurrent="true"'
    items = "".join(f'<Bookmark Channel="Microsoft-Windows-Channel-{n:03d}/Operational" RecordId="{record_id + n}"'
                    f'{current if n == 0 else ""}/>' for n in range(channels))
    return f"<BookmarkList>{items}</BookmarkList>"


def canonical(xml_text):
    return ET.tostring(ET.fromstring(xml_text), encoding="unicode")


class Collector:
    def __init__(self, tmp_path, certs, port):
        self.port = port
        self.pki = certs["dir"]
        subscriptions = [subscription_block("security", ["*.corp.example"]),
                         subscription_block("system", ["*.corp.example"])]
        self.daemon = SyslogNg(tmp_path / "s", json_file_config(windowsevent_source(port, self.pki, subscriptions),
                                                                tmp_path / "out.json"))

    def forwarder(self, machine):
        return wef.Forwarder(f"https://localhost:{self.port}{MANAGER_PATH}",
                             str(self.pki / "clients" / f"{machine}.crt"), str(self.pki / "clients" / f"{machine}.key"),
                             str(self.pki / "ca-bundle.crt"), machine)

    def bookmarks(self, machine):
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
    c = Collector(tmp_path, certs, port)
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
    c = Collector(tmp_path, certs, port)
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
