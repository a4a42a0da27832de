"""wec-bookmarks: the bookmarks a real syslog-ng stored in its persist file are exported as the
forwarders sent them; imported into a fresh persist file they are what syslog-ng hands back after
a start; import is idempotent and keeps a different stored bookmark unless told to overwrite;
delete removes one bookmark only; the same through a real redis-server (direct and through a
Sentinel, with a password); an OpenWEC SQLite database with OpenWEC's schema imports with its
machines mapped to certificate or Kerberos owners."""
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from test_bookmarks import Collector, bookmark_list, canonical
from wec_harness import REPO, SYSLOG_NG_PREFIX, RedisServer, free_port
TOOL = Path(os.environ.get("WEC_BUILD_DIR", REPO / "build")) / "bin" / "wec-bookmarks"


def host_id(persist):
    """syslog-ng's own host_id entry, as persist-tool dumps it (a new one is drawn when it is lost)."""
    persist_tool = f"{SYSLOG_NG_PREFIX}/bin/persist-tool" if SYSLOG_NG_PREFIX else "persist-tool"
    dump = subprocess.run([persist_tool, "dump", str(persist)], capture_output=True, text=True, timeout=60).stdout
    lines = [line for line in dump.splitlines() if line.startswith("host_id = ")]
    assert len(lines) == 1, dump
    return lines[0]


def tool(*args, input=None, env=None):
    """Runs wec-bookmarks; returns the CompletedProcess (text)."""
    assert TOOL.exists(), f"{TOOL} not built"
    return subprocess.run([str(TOOL), *map(str, args)], input=input, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def exported(*where, env=None):
    result = tool("export", *where, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def as_map(records):
    """{(owner, subscription): canonical bookmark}"""
    return {(r["owner"], r["subscription"]): canonical(r["bookmark"]) for r in records}


SENT = {
    ("certificate:win01.corp.example", "security"): bookmark_list(256, 5000),  # about 25 KB: several entries
    ("certificate:win01.corp.example", "system"): bookmark_list(1, 100),
    ("certificate:win02.corp.example", "security"): bookmark_list(3, 7),
}


@pytest.fixture(scope="module")
def node(tmp_path_factory, certs):
    """A persist file written by the real syslog-ng: the forwarders' bookmarks, then syslog-ng stopped."""
    workdir = tmp_path_factory.mktemp("node")
    collector = Collector(workdir, certs, free_port())
    collector.daemon.start(port=collector.port)
    try:
        for (owner, subscription), bookmark in SENT.items():
            collector.deliver(owner.split(":", 1)[1], subscription, bookmark)
    finally:
        collector.daemon.stop()
    return collector


def test_export_equals_what_the_forwarders_sent_and_list_shows_it(node, tmp_path):
    persist = node.daemon.persist
    records = exported("--persist-file", persist)
    assert as_map(records) == {key: canonical(value) for key, value in SENT.items()}
    assert [(r["owner"], r["subscription"]) for r in records] == sorted(SENT)  # ordered
    assert set(records[0]) == {"owner", "subscription", "bookmark"}

    listing = tool("list", "--persist-file", persist)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["OWNER", "SUBSCRIPTION", "CHANNELS", "BYTES"]
    assert lines[1].split()[:3] == ["certificate:win01.corp.example", "security", "256"]
    assert len(lines) == 4

    only = exported("--persist-file", persist, "--owner", "certificate:win02.corp.example")
    assert [(r["owner"], r["subscription"]) for r in only] == [("certificate:win02.corp.example", "security")]
    # another persist-name has none, and the tool says which names the file has
    other = tool("export", "--persist-file", persist, "--persist-name", "wec")
    assert other.returncode == 0 and json.loads(other.stdout) == []
    assert "this file has bookmarks under --persist-name default" in other.stderr
    # the file was only read
    out = tmp_path / "export.json"
    before = persist.read_bytes()
    assert tool("export", "--persist-file", persist, "--output", out).returncode == 0
    assert json.loads(out.read_text()) == records and persist.read_bytes() == before

    truncated = tmp_path / "truncated.persist"  # an interrupted copy: syslog-ng's own reader crashes on it
    truncated.write_bytes(before[:6000])
    for command in ("list", "import"):
        damaged = tool(command, "--persist-file", truncated, input="[]")
        assert damaged.returncode == 1, damaged.stderr
        assert "is damaged: syslog-ng's persist reader crashes on it" in damaged.stderr
    assert truncated.read_bytes() == before[:6000]


def test_import_into_a_fresh_persist_file_is_what_syslog_ng_hands_back(node, certs, tmp_path):
    """A new node: its persist file made by the tool from the old node's export; syslog-ng started on
    it offers every machine its bookmark in the Subscribe, so the forwarders resume, nothing replayed."""
    records = tool("export", "--persist-file", node.daemon.persist).stdout
    fresh = Collector(tmp_path / "new-node", certs, free_port())
    assert not fresh.daemon.persist.exists()
    first = tool("import", "--persist-file", fresh.daemon.persist, input=records)
    assert first.returncode == 0, first.stderr
    assert "3 added, 0 replaced, 0 unchanged, 0 kept" in first.stdout
    again = tool("import", "--persist-file", fresh.daemon.persist, input=records)
    assert again.returncode == 0 and "0 added, 0 replaced, 3 unchanged, 0 kept" in again.stdout, again.stdout
    assert as_map(exported("--persist-file", fresh.daemon.persist)) == as_map(json.loads(records))

    fresh.daemon.start(port=fresh.port)
    try:
        assert "bookmarks restored from the persist file; count='3'" in fresh.daemon.internal_log()
        win01 = fresh.bookmarks("win01.corp.example")
        assert canonical(win01["security"]) == canonical(SENT[("certificate:win01.corp.example", "security")])
        assert canonical(win01["system"]) == canonical(SENT[("certificate:win01.corp.example", "system")])
        assert fresh.bookmarks("win03.corp.example") == {"security": None, "system": None}
        # while syslog-ng runs: export reads a copy, import and delete refuse
        assert as_map(exported("--persist-file", fresh.daemon.persist)) == as_map(json.loads(records))
        busy = tool("import", "--persist-file", fresh.daemon.persist, input=records)
        assert busy.returncode == 1 and "has " + str(fresh.daemon.persist) + " open: stop syslog-ng" in busy.stderr
        assert len(busy.stderr.splitlines()) == 1
        # a newer bookmark from the forwarder replaces the imported one as usual
        newer = bookmark_list(3, 50)
        fresh.deliver("win02.corp.example", "security", newer)
    finally:
        fresh.daemon.stop()
    assert as_map(exported("--persist-file", fresh.daemon.persist))[
        ("certificate:win02.corp.example", "security")] == canonical(newer)


def test_import_keeps_a_different_bookmark_unless_told_and_refuses_invalid_input(tmp_path):
    persist = tmp_path / "syslog-ng.persist"
    one = [{"owner": "kerberos:WIN01$@CORP.EXAMPLE", "subscription": "security", "bookmark": bookmark_list(2, 10)}]
    # another source's bookmark: kept through every rewrite below (its entries stay in use)
    assert tool("import", "--persist-file", persist, "--persist-name", "other", input=json.dumps(one)).returncode == 0
    assert tool("import", "--persist-file", persist, input=json.dumps(one)).returncode == 0
    changed = [dict(one[0], bookmark=bookmark_list(2, 99))]

    kept = tool("import", "--persist-file", persist, input=json.dumps(changed))
    assert kept.returncode == 3, kept.stdout + kept.stderr
    assert "kept      kerberos:WIN01$@CORP.EXAMPLE  security: a different bookmark is stored" in kept.stdout
    assert as_map(exported("--persist-file", persist)) == as_map(one)

    dry = tool("import", "--persist-file", persist, "--overwrite", "--dry-run", input=json.dumps(changed))
    assert dry.returncode == 0 and "dry run, nothing written" in dry.stdout and "1 replaced" in dry.stdout
    assert as_map(exported("--persist-file", persist)) == as_map(one)
    replaced = tool("import", "--persist-file", persist, "--overwrite", input=json.dumps(changed))
    assert replaced.returncode == 0 and "1 replaced" in replaced.stdout, replaced.stdout
    assert as_map(exported("--persist-file", persist)) == as_map(changed)

    # every entry is checked before anything is written
    bad = changed + [{"owner": "certificate:win05.corp.example", "subscription": "system", "bookmark": bookmark_list(1, 1)},
                     {"owner": "win06.corp.example", "subscription": "system", "bookmark": bookmark_list(1, 1)},
                     {"owner": "certificate:win07.corp.example", "subscription": "system",
                      "bookmark": "&lt;/w:Bookmark&gt;&lt;w:Injected/&gt;"}]
    refused = tool("import", "--persist-file", persist, input=json.dumps(bad))
    assert refused.returncode == 1
    assert "entry 2 (win06.corp.example  system): the owner must be certificate:<CN> or kerberos:<principal>" in \
        refused.stdout
    assert "entry 3 (certificate:win07.corp.example  system): the bookmark is not one the collector accepts" in \
        refused.stdout
    assert "2 entries cannot be imported (listed above); nothing was written" in refused.stderr
    assert len(exported("--persist-file", persist)) == 1
    skipped = tool("import", "--persist-file", persist, "--skip-invalid", input=json.dumps(bad))
    assert skipped.returncode == 0 and "1 added, 0 replaced, 1 unchanged, 0 kept, 2 invalid skipped" in skipped.stdout
    assert as_map(exported("--persist-file", persist, "--persist-name", "other")) == as_map(one)

    not_json = tool("import", "--persist-file", persist, input="[{")
    assert not_json.returncode == 1 and "standard input is not valid JSON" in not_json.stderr
    not_persist = tmp_path / "other.txt"
    not_persist.write_text("hello")
    wrong = tool("export", "--persist-file", not_persist)
    assert wrong.returncode == 1 and "is not a syslog-ng persist file" in wrong.stderr
    assert not_persist.read_text() == "hello"
    missing = tool("list", "--persist-file", tmp_path / "nope.persist")
    assert missing.returncode == 1 and "No such file" in missing.stderr
    usage = tool("delete", "--persist-file", persist)
    assert usage.returncode == 2 and "say which bookmarks to delete" in usage.stderr
    assert tool("list").returncode == 2


def test_delete_removes_one_bookmark_and_syslog_ng_no_longer_offers_it(node, certs, tmp_path):
    copy = Collector(tmp_path / "copy", certs, free_port())
    copy.daemon.persist.write_bytes(node.daemon.persist.read_bytes())
    deleted = tool("delete", "--persist-file", copy.daemon.persist, "--owner", "certificate:win01.corp.example",
                   "--subscription", "security")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.splitlines()[0] == "deleted   certificate:win01.corp.example  security"
    again = tool("delete", "--persist-file", copy.daemon.persist, "--owner", "certificate:win01.corp.example",
                 "--subscription", "security")
    assert again.returncode == 0 and again.stdout.startswith("0 deleted")
    assert set(as_map(exported("--persist-file", copy.daemon.persist))) == set(SENT) - {
        ("certificate:win01.corp.example", "security")}

    copy.daemon.start(port=copy.port)
    try:
        got = copy.bookmarks("win01.corp.example")
        assert got["security"] is None
        assert canonical(got["system"]) == canonical(SENT[("certificate:win01.corp.example", "system")])
    finally:
        copy.daemon.stop()
    # syslog-ng's own entries stayed in use through the tool's rewrite: not dropped at the start
    assert host_id(copy.daemon.persist) == host_id(node.daemon.persist)
    assert tool("delete", "--persist-file", copy.daemon.persist, "--all").returncode == 0
    assert exported("--persist-file", copy.daemon.persist) == []


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis", password="s3cret").start()
    yield server
    server.stop()


def test_persist_file_to_redis_and_back(node, redis, tmp_path):
    """The conversion of a node: export | import into Redis, in the collectors' layout; idempotent;
    conflicts kept; export from Redis equals the node's; delete there."""
    auth = {"WEC_REDIS_PASSWORD": "s3cret"}
    where = ["--redis-host", "127.0.0.1", "--redis-port", redis.port]
    records = tool("export", "--persist-file", node.daemon.persist).stdout
    first = tool("import", *where, input=records, env=auth)
    assert first.returncode == 0 and "3 added" in first.stdout, first.stdout + first.stderr
    # one hash per owner, field = subscription, value = the <BookmarkList>
    assert sorted(redis.cli("--scan", "--pattern", "wec:*").split()) == [
        "wec:certificate:win01.corp.example", "wec:certificate:win02.corp.example"]
    stored = redis.cli("HGET", "wec:certificate:win01.corp.example", "system").strip()
    assert canonical(stored) == canonical(SENT[("certificate:win01.corp.example", "system")])
    assert as_map(exported(*where, "--redis-password", "s3cret")) == as_map(json.loads(records))

    again = tool("import", *where, input=records, env=auth)
    assert again.returncode == 0 and "0 added, 0 replaced, 3 unchanged" in again.stdout
    # a collector stored a newer bookmark meanwhile: kept unless --overwrite
    redis.cli("HSET", "wec:certificate:win02.corp.example", "security", bookmark_list(3, 70))
    kept = tool("import", *where, input=records, env=auth)
    assert kept.returncode == 3 and "kept      certificate:win02.corp.example  security" in kept.stdout

    unauthenticated = tool("list", *where)
    assert unauthenticated.returncode == 1 and "NOAUTH" in unauthenticated.stderr
    assert "--redis-password" in unauthenticated.stderr and len(unauthenticated.stderr.splitlines()) == 1
    nobody = tool("list", "--redis-host", "127.0.0.1", "--redis-port", free_port())
    assert nobody.returncode == 1 and "cannot connect to Redis at 127.0.0.1:" in nobody.stderr

    deleted = tool("delete", *where, "--subscription", "security", env=auth)
    assert deleted.returncode == 0 and "2 deleted" in deleted.stdout, deleted.stdout
    assert set(as_map(exported(*where, env=auth))) == {("certificate:win01.corp.example", "system")}

    # other key prefixes and databases are other collectors' clusters
    prefixed = tool("import", *where, "--key-prefix", "east:", "--redis-db", "3", input=records, env=auth)
    assert prefixed.returncode == 0 and "3 added" in prefixed.stdout
    assert redis.cli("-n", "3", "EXISTS", "east:certificate:win02.corp.example").strip() == "1"
    assert len(exported(*where, env=auth)) == 1


def test_redis_master_found_through_a_sentinel(node, tmp_path):
    master = RedisServer(tmp_path / "redis").start()
    sentinel = RedisServer(tmp_path / "redis",
                           sentinel_config=f"sentinel monitor wec-master 127.0.0.1 {master.port} 1\n")
    try:
        sentinel.start()
        records = tool("export", "--persist-file", node.daemon.persist).stdout
        where = ["--sentinel", f"127.0.0.1:{free_port()}", "--sentinel", f"127.0.0.1:{sentinel.port}",
                 "--master-name", "wec-master"]  # the first sentinel is down: the next one answers
        imported = tool("import", *where, input=records)
        assert imported.returncode == 0 and "3 added" in imported.stdout, imported.stdout + imported.stderr
        assert f"Redis 127.0.0.1:{master.port} (master wec-master)" in imported.stdout
        assert master.cli("HLEN", "wec:certificate:win01.corp.example") == "2"
        unknown = tool("list", "--sentinel", f"127.0.0.1:{sentinel.port}", "--master-name", "other")
        assert unknown.returncode == 1 and "does not know a master named 'other'" in unknown.stderr
    finally:
        sentinel.stop()
        master.stop()


OPENWEC_SCHEMA = [
    # OpenWEC's SQLite schema (common/src/database/schema/sqlite: migrations 1 and 2, and the table
    # that records applied migrations)
    "CREATE TABLE __schema_migrations (version INTEGER PRIMARY KEY)",
    """CREATE TABLE subscriptions (uuid TEXT NOT NULL UNIQUE, version TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,
       query TEXT NOT NULL, heartbeat_interval INTEGER, connection_retry_count INTEGER,
       connection_retry_interval INTEGER, max_time INTEGER, max_envelope_size INTEGER, enabled INTEGER,
       read_existing_events INTEGER, outputs TEXT NOT NULL, PRIMARY KEY (uuid))""",
    """CREATE TABLE bookmarks (machine TEXT NOT NULL,
       subscription TEXT NOT NULL REFERENCES subscriptions(uuid) ON UPDATE CASCADE ON DELETE CASCADE,
       bookmark TEXT NOT NULL, PRIMARY KEY (machine, subscription))""",
]


def openwec_database(path, rows):
    """rows: (machine, subscription name, bookmark)"""
    db = sqlite3.connect(path)
    for statement in OPENWEC_SCHEMA:
        db.execute(statement)
    db.executemany("INSERT INTO __schema_migrations VALUES (?)", [(1,), (2,)])
    names = sorted({name for _, name, _ in rows})
    for n, name in enumerate(names):
        db.execute("INSERT INTO subscriptions (uuid, version, name, query, outputs) VALUES (?, ?, ?, ?, '[]')",
                   (f"00000000-0000-0000-0000-00000000000{n}", f"v{n}", name, "<QueryList/>"))
    db.executemany("INSERT INTO bookmarks SELECT ?, uuid, ? FROM subscriptions WHERE name = ?",
                   [(machine, bookmark, name) for machine, name, bookmark in rows])
    db.commit()
    db.close()


def test_openwec_database_imports_with_machines_mapped_to_owners(certs, tmp_path):
    # as Windows sends it (and OpenWEC stores the text as received): pretty-printed, with whitespace
    win01 = ('<BookmarkList>\n  <Bookmark Channel="Security" RecordId="4242" IsCurrent="true"/>\n'
             '  <Bookmark Channel="System" RecordId="77"/>\n</BookmarkList>')
    win01_canonical = ('<BookmarkList><Bookmark Channel="Security" RecordId="4242" IsCurrent="true"/>'
                       '<Bookmark Channel="System" RecordId="77"/></BookmarkList>')  # the whitespace dropped
    database = tmp_path / "db.sqlite"
    openwec_database(database, [
        ("win01.corp.example", "Security Events", win01),
        ("win02.corp.example", "system", bookmark_list(1, 5)),
        ("WIN03$@CORP.EXAMPLE", "system", bookmark_list(1, 6)),
        ("win04.corp.example", "system", "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"),
    ])
    before = database.read_bytes()
    fresh = Collector(tmp_path / "node", certs, free_port())
    where = ["--persist-file", fresh.daemon.persist]

    usage = tool("import", *where, "--openwec-db", database)
    assert usage.returncode == 2 and "--openwec-method" in usage.stderr
    refused = tool("import", *where, "--openwec-db", database, "--openwec-method", "auto")
    assert refused.returncode == 1 and "(certificate:win04.corp.example  system)" in refused.stdout
    assert not fresh.daemon.persist.exists()  # nothing written

    imported = tool("import", *where, "--openwec-db", database, "--openwec-method", "auto", "--skip-invalid",
                    "--map-subscription", "Security Events=security")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "3 added, 0 replaced, 0 unchanged, 0 kept, 1 invalid skipped" in imported.stdout
    assert as_map(exported(*where)) == {
        ("certificate:win01.corp.example", "security"): canonical(win01_canonical),
        ("certificate:win02.corp.example", "system"): canonical(bookmark_list(1, 5)),
        ("kerberos:WIN03$@CORP.EXAMPLE", "system"): canonical(bookmark_list(1, 6)),
    }
    as_kerberos = tool("export", "--persist-file", fresh.daemon.persist)  # unchanged by the next dry run
    dry = tool("import", *where, "--openwec-db", database, "--openwec-method", "kerberos", "--skip-invalid",
               "--dry-run")
    assert dry.returncode == 0 and "added     kerberos:win02.corp.example  system" in dry.stdout, dry.stdout
    assert tool("export", "--persist-file", fresh.daemon.persist).stdout == as_kerberos.stdout
    assert database.read_bytes() == before  # opened read-only

    not_openwec = tool("import", *where, "--openwec-db", fresh.daemon.persist, "--openwec-method", "certificate")
    assert not_openwec.returncode == 1 and "is not an OpenWEC database" in not_openwec.stderr

    fresh.daemon.start(port=fresh.port)
    try:
        got = fresh.bookmarks("win01.corp.example")
        assert canonical(got["security"]) == canonical(win01_canonical) and got["system"] is None
    finally:
        fresh.daemon.stop()
