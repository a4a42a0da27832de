"""What real Windows forwarders send that a strict parser would trip on."""
import wef_forwarder as wef
from wec_harness import (CORPUS, SyslogNg, event_field, https_forwarder, json_file_config, read_json_lines,
                         subscription_block, wait_for_lines, windowsevent_source)

BOOKMARK_MARKER = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
                   "<Provider Name='Microsoft-Windows-EventForwarder'/><EventID>111</EventID>"
                   "<TimeCreated SystemTime='2024-05-01T10:00:00.000Z'/><Computer>win01.corp.example</Computer>"
                   "</System><SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent>"
                   "</Event>")


def start(tmp_path, certs, port, extra_subscription=""):
    output = tmp_path / "events.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(windowsevent_source(
        port, certs["dir"], [subscription_block("security", ["*.corp.example"], extra=extra_subscription)]), output))
    daemon.start(port=port)
    return daemon, output


def test_characters_xml_forbids_are_replaced_and_the_event_kept(tmp_path, certs, port):
    event = CORPUS.read_text(encoding="utf-8").splitlines()[0]
    broken = event.replace("<Computer>", "<Computer>\x05bad\x02", 1)
    daemon, output = start(tmp_path, certs, port)
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            fw.check_ack(*fw.send_events(subs[0], [broken, event], wef.format_bookmark("Security", 2)))
        assert wait_for_lines(output, 2, 30) == 2
    finally:
        daemon.stop()
    first, second = read_json_lines(output)
    assert event_field(first, "System", "Computer").startswith("\ufffdbad\ufffd")
    assert event_field(first, "System", "EventID") == event_field(second, "System", "EventID")


def test_forwarder_bookmark_marker_is_stored_not_emitted(tmp_path, certs, port):
    marker_bookmark = ('<BookmarkList Direction="backward"><Bookmark Channel="Security" RecordId="5" '
                       'IsCurrent="true"/></BookmarkList>')
    daemon, output = start(tmp_path, certs, port)
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            fw.check_ack(*fw.send_events(subs[0], [BOOKMARK_MARKER], marker_bookmark))
            _, _, raw = fw.enumerate()
            assert f"<w:Bookmark>{marker_bookmark}</w:Bookmark>" in wef.decode_body(raw)
            fw.check_ack(*fw.send_events(subs[0], CORPUS.read_text(encoding="utf-8").splitlines()[:1],
                                         wef.format_bookmark("Security", 6)))
        assert wait_for_lines(output, 1, 30) == 1
    finally:
        daemon.stop()
    records = read_json_lines(output)
    assert len(records) == 1 and event_field(records[0], "System", "EventID") != "111"


def test_old_delivery_url_is_accepted_after_a_version_change(tmp_path, certs, port):
    daemon, output = start(tmp_path / "a", certs, port)
    with https_forwarder(certs, port) as fw:
        _, subs, _ = fw.enumerate()
        old = subs[0]
    daemon.stop()
    daemon, output = start(tmp_path / "b", certs, port, extra_subscription="heartbeat(120)")
    try:
        with https_forwarder(certs, port) as fw:
            _, subs, _ = fw.enumerate()
            assert subs[0].version != old.version
            # Windows keeps using the subscription it has until its next refresh
            fw.check_ack(*fw.send_events(old, CORPUS.read_text(encoding="utf-8").splitlines()[:3],
                                         wef.format_bookmark("Security", 3)))
        assert wait_for_lines(output, 3, 30) == 3
    finally:
        daemon.stop()
