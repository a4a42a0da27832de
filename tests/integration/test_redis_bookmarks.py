"""Bookmarks in Redis (bookmarks(redis(...))) with the real syslog-ng and real redis-server
processes on 127.0.0.1: (a) a machine's bookmarks are one hash, visible with redis-cli, and a
restarted syslog-ng resumes from them without replay; (b) Redis stopped for 30 s mid-stream: no
Ack while it is away, 503s instead, one log line each way, every event delivered after; (c) a
Sentinel failover mid-stream (the master killed): the collector follows the new master and
nothing is lost; (d) --syntax-only names the problem of bad redis() options."""
import re
import subprocess
import time

import pytest

from test_faults import AckLog, assert_forwarders_ok, count_lines, record_key, start_forwarders, statuses, tally
from wec_harness import (CONFIG_VERSION, RedisServer, SyslogNg, json_file_config, read_json_lines,
                         subscription_block, wait_for_lines, windowsevent_source)

MACHINES = ["win01.corp.example", "win02.corp.example", "win03.corp.example"]
UNREACHABLE = "windowsevent: Redis unreachable"
BACK = "windowsevent: Redis reachable again"


def redis_source(port, certs, redis_options, extra=""):
    return windowsevent_source(port, certs["dir"], [subscription_block("security", ["*.corp.example"])],
                               extra=f"bookmarks(redis({redis_options})) {extra}")


def last_record(bookmark):
    match = re.search(r'RecordId="(\d+)"', bookmark or "")
    return int(match.group(1)) if match else None


def slowed(acks, seconds=0.2):
    """on_ack that records the Ack and then holds the stream a moment, so that a fault can be
    started while the streams are in the middle."""
    def on_ack(*args):
        acks(*args)
        time.sleep(seconds)
    return on_ack


def test_bookmarks_are_one_hash_per_machine_and_a_restart_resumes_without_replay(tmp_path, certs, port):
    redis = RedisServer(tmp_path / "redis").start()
    output = tmp_path / "out.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(
        redis_source(port, certs, f'host("127.0.0.1") port({redis.port}) key-prefix("wec:")'), output))
    machines = MACHINES[:2]
    try:
        daemon.start(port=port)
        acks = AckLog()
        sender, outcome = start_forwarders(certs, port, machines, 300, acks)
        sender.join(120)
        assert_forwarders_ok(outcome, 1, 300)
        for machine in machines:
            stored = redis.hgetall(f"wec:certificate:{machine}")
            assert list(stored) == ["security"], stored
            assert stored["security"].startswith("<BookmarkList>") and last_record(stored["security"]) == 300
        assert "bookmarks are kept in Redis" in daemon.internal_log()
        assert not daemon.persist.exists() or b"windowsevent_bookmark(" not in daemon.persist.read_bytes()

        daemon.stop()
        daemon.start(port=port)
        sender, outcome = start_forwarders(certs, port, machines, 600, acks)
        sender.join(120)
        results = assert_forwarders_ok(outcome, 1, 600)
        assert [s.start_seqs for r in results for s in r.streams] == [[301], [301]]
        assert wait_for_lines(output, 1200, 60) >= 1200
        final = {m: last_record(redis.hgetall(f"wec:certificate:{m}").get("security")) for m in machines}
    finally:
        daemon.stop()
        redis.stop()
    counts, missing, lost_acked, duplicates = tally(read_json_lines(output), machines, ["security"], 600,
                                                    acks.acked_keys())
    assert not missing and duplicates == 0, (missing[:5], duplicates)
    assert final == {m: 600 for m in machines}


OUTAGE_SECONDS = 30
EVENTS = 3000  # per machine, in batches of 250, slowed to at most 5 batches a second per stream


def test_redis_down_30s_no_ack_while_away_one_line_each_way_everything_delivered(tmp_path, certs, port):
    redis = RedisServer(tmp_path / "redis", persistent=True).start()
    output = tmp_path / "out.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(
        redis_source(port, certs, f'host("127.0.0.1") port({redis.port}) timeout(0.5)', "commit-timeout(5)"),
        output))
    daemon.start(port=port)
    acks = AckLog()
    total = len(MACHINES) * EVENTS
    try:
        sender, outcome = start_forwarders(certs, port, MACHINES, EVENTS, slowed(acks), retry_interval=1.0, max_retries=200, deadline=300)
        deadline = time.monotonic() + 60
        while acks.count() < total // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert acks.count() >= total // 4, "the streams did not start"
        assert acks.count() < total // 2, "the streams went too fast for a mid-stream outage"

        stopped_at = time.monotonic()
        redis.stop()
        time.sleep(OUTAGE_SECONDS)
        assert daemon.alive()
        restarted_at = time.monotonic()
        acks_while_down = acks.between(stopped_at + 2, restarted_at)
        acked_before_restart = acks.count()
        redis.start()

        sender.join(240)
        assert not sender.is_alive(), "forwarders did not finish"
        results = assert_forwarders_ok(outcome, 1, EVENTS)
        assert wait_for_lines(output, total, 60) >= total
        log = daemon.internal_log()
        final = {m: last_record(redis.hgetall(f"wec:certificate:{m}").get("security")) for m in MACHINES}
    finally:
        daemon.stop()
        redis.stop()

    counts, missing, lost_acked, duplicates = tally(read_json_lines(output), MACHINES, ["security"], EVENTS,
                                                    acks.acked_keys())
    st = statuses(results)
    print(f"\nRedis down {OUTAGE_SECONDS}s: acked before the restart {acked_before_restart}/{total}, "
          f"statuses {dict(st)}, duplicates {duplicates}, final bookmarks {final}")
    assert acks_while_down == [], acks_while_down[:3]
    assert st.get(503, 0) > 0, st  # batches (commit-timeout) and enumerations were refused, not acknowledged
    assert count_lines(log, UNREACHABLE) == 1, [line for line in log.splitlines() if "Redis" in line]
    assert count_lines(log, BACK) == 1, [line for line in log.splitlines() if "Redis" in line]
    assert "hint=" in next(line for line in log.splitlines() if UNREACHABLE in line)
    assert count_lines(log, "bookmark store unavailable, enumeration answered 503") >= 1
    assert not missing and not lost_acked, (missing[:5], lost_acked[:5])
    assert final == {m: EVENTS for m in MACHINES}


def test_sentinel_failover_mid_stream_is_followed_and_loses_nothing(tmp_path, certs, port):
    master = RedisServer(tmp_path / "redis").start()
    replica = RedisServer(tmp_path / "redis", replica_of=master.port).start()
    deadline = time.monotonic() + 30
    while "master_link_status:up" not in replica.cli("INFO", "replication") and time.monotonic() < deadline:
        time.sleep(0.1)
    config = (f"sentinel monitor wec 127.0.0.1 {master.port} 2\n"
              "sentinel down-after-milliseconds wec 1000\nsentinel failover-timeout wec 5000\n")
    sentinels = [RedisServer(tmp_path / "redis", sentinel_config=config).start() for _ in range(3)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
            str(replica.port) in s.cli("SENTINEL", "replicas", "wec")
            and s.cli("SENTINEL", "sentinels", "wec").count("127.0.0.1") >= 2 for s in sentinels):
        time.sleep(0.2)
    addresses = " ".join(f'"127.0.0.1:{s.port}"' for s in sentinels)
    output = tmp_path / "out.json"
    daemon = SyslogNg(tmp_path / "s", json_file_config(
        redis_source(port, certs, f'sentinels({addresses}) master-name("wec") timeout(0.5)', "commit-timeout(5)"),
        output))
    daemon.start(port=port)
    acks = AckLog()
    total = len(MACHINES) * EVENTS
    try:
        sender, outcome = start_forwarders(certs, port, MACHINES, EVENTS, slowed(acks), retry_interval=1.0, max_retries=200, deadline=300)
        deadline = time.monotonic() + 60
        while acks.count() < total // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert total // 4 <= acks.count() < total // 2, acks.count()
        master.kill9()
        deadline = time.monotonic() + 60
        promoted = f"127.0.0.1\n{replica.port}"
        while sentinels[0].cli("SENTINEL", "get-master-addr-by-name", "wec") != promoted and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert sentinels[0].cli("SENTINEL", "get-master-addr-by-name", "wec") == promoted, "no failover"

        sender.join(240)
        assert not sender.is_alive(), "forwarders did not finish"
        results = assert_forwarders_ok(outcome, 1, EVENTS)
        assert wait_for_lines(output, total, 60) >= total
        log = daemon.internal_log()
        final = {m: last_record(replica.hgetall(f"wec:certificate:{m}").get("security")) for m in MACHINES}
    finally:
        daemon.stop()
        for server in [*sentinels, replica, master]:
            server.stop()

    counts, missing, lost_acked, duplicates = tally(read_json_lines(output), MACHINES, ["security"], EVENTS,
                                                    acks.acked_keys())
    print(f"\nSentinel failover: statuses {dict(statuses(results))}, duplicates {duplicates}, "
          f"Redis lines {[line.split(';')[0] for line in log.splitlines() if 'Redis' in line]}")
    assert f"Redis master changed, bookmarks go to the new one; previous='127.0.0.1:{master.port}', " \
           f"master='127.0.0.1:{replica.port}'" in log
    assert count_lines(log, UNREACHABLE) <= 1 and count_lines(log, BACK) == count_lines(log, UNREACHABLE)
    assert not missing and not lost_acked, (missing[:5], lost_acked[:5])
    assert final == {m: EVENTS for m in MACHINES}, final


# Debian 12's hiredis 0.14 has no TLS; a build against hiredis 1.x accepts redis(tls()).
HIREDIS_TLS = subprocess.run(["pkg-config", "--atleast-version=1.0", "hiredis_ssl"]).returncode == 0
TLS_BLOCK = 'tls(key-file("TMP/k.pem") cert-file("TMP/c.pem") ca-dir("TMP/ca.d"))'
QUERY = "<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>"


@pytest.mark.parametrize("redis_options,expected", [
    ('host("10.0.0.5") port(6380) password("p") username("wec") database(2) key-prefix("site1:") timeout(0.25)', None),
    ('sentinels("10.0.0.1:26379" "[fd00::2]:26379") master-name("wec") password("p")', None),
    ("", 'redis() needs host("...") for one Redis, or sentinels("host:port" ...) with master-name("...")'),
    ('host("a") sentinels("10.0.0.1:26379") master-name("wec")', "redis() takes host() or sentinels(), not both"),
    ('sentinels("10.0.0.1:26379")', 'redis(sentinels(...)) needs master-name("...")'),
    ('host("a") master-name("wec")', "redis(master-name()) needs sentinels"),
    ('sentinels("10.0.0.1") master-name("wec")', 'redis(sentinels("10.0.0.1")) is not "host:port"'),
    ('sentinels("10.0.0.1:26379") master-name("wec") port(6379)', "redis(port()) is the port of host()"),
    ('host("a") port(0)', "redis(port(0)) is not a TCP port (1-65535)"),
    ('host("a") port(65536)', "redis(port(65536)) is not a TCP port (1-65535)"),
    ('host("a") database(-1)', "redis(database(-1)) must be 0 or more"),
    ('host("a") timeout(0)', "redis(timeout(0)) must be between 0.01 and 60 seconds"),
    ('host("a") timeout(120)', "redis(timeout(120)) must be between 0.01 and 60 seconds"),
    ('host("a") username("wec")', "redis(username()) needs password()"),
    ('host("a") key-prefix("")', 'redis(key-prefix("")) must not be empty'),
    ('host("a") tls(ca-file("TMP/ca.pem"))', None if HIREDIS_TLS else "redis(tls()) needs hiredis 1.0 or newer"),
])
def test_syntax_only_checks_redis_options(tmp_path, redis_options, expected):
    for name in ("k.pem", "c.pem", "ca.pem"):
        (tmp_path / name).write_text("placeholder\n")
    (tmp_path / "ca.d").mkdir(exist_ok=True)
    source = (f'windowsevent({TLS_BLOCK} subscription(name("a") computers("*") query("{QUERY}")) '
              f'bookmarks(redis({redis_options})))').replace("TMP", str(tmp_path))
    config = f"""@version: {CONFIG_VERSION}
source s_wec {{ {source}; }};
destination d {{ file("/dev/null"); }};
log {{ source(s_wec); destination(d); flags(flow-control); }};
"""
    result = SyslogNg(tmp_path, config).syntax_check()
    if expected is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "windowsevent(): " + expected in result.stderr, result.stderr
        assert len([line for line in result.stderr.splitlines() if "windowsevent():" in line]) == 1
