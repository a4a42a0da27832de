"""syslog-ng --syntax-only accepts valid windowsevent() configurations and rejects bad ones
with a message that names the problem."""
import subprocess

import pytest

from wec_harness import CONFIG_VERSION, STOCK_MODULES, SyslogNg, SYSLOG_NG, module_dir

QUERY = "<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>"
TLS = 'tls(key-file("TMP/k.pem") cert-file("TMP/c.pem") ca-dir("TMP/ca.d"))'


def config(source):
    return f"""@version: {CONFIG_VERSION}
source s_wec {{ {source}; }};
destination d {{ file("/dev/null"); }};
log {{ source(s_wec); destination(d); flags(flow-control); }};
"""


def check(tmp_path, source):
    # path options check that the files exist: give them files (contents are read at startup)
    for name in ("k.pem", "c.pem", "ca.pem"):
        (tmp_path / name).write_text("placeholder\n")
    (tmp_path / "ca.d").mkdir(exist_ok=True)
    return SyslogNg(tmp_path, config(source.replace("TMP", str(tmp_path)))).syntax_check()


def test_module_is_discovered():
    out = subprocess.run([SYSLOG_NG, f"--module-path={module_dir()}:{STOCK_MODULES}", "--module-registry"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "windowsevent" in out


def test_full_configuration_is_accepted(tmp_path):
    query_file = tmp_path / "q.xml"
    query_file.write_text(QUERY + "\n")
    source = f"""windowsevent(
        ip("0.0.0.0") port(5986) hostname("wec.corp.example") prefix(".windowsevent.")
        tls(key-file("TMP/k.pem") cert-file("TMP/c.pem") ca-file("TMP/ca.pem") ca-dir("TMP/ca.d"))
        max-connections(500) commit-timeout(120) log-always-severity(notice)
        subscription(name("security") computers("*.corp.example" "dc??.corp.example")
            content-format(rendered-text) locale("ja-JP") data-locale("en-US") heartbeat(900)
            connection-retry(60 5) max-time(30) max-elements(1000) max-envelope-size(512000)
            read-existing-events(yes) ignore-channel-error(no) query("{QUERY}"))
        subscription(name("system") computers("*") content-format(events) query-file("{query_file}"))
        log-iw-size(10000) persist-name("wec1") tags("windows")
    )"""
    result = check(tmp_path, source)
    assert result.returncode == 0, result.stderr


def test_proxy_protocol_is_accepted(tmp_path):
    proxied_tls = TLS.replace("))", ") proxy-protocol(yes))")
    for options in (f'{proxied_tls} proxy-from("127.0.0.1" "10.0.0.0/8" "2001:db8::/32" "::1")',
                    f'{TLS} proxy-protocol(yes) proxy-from("192.168.4.0/22")'):
        result = check(tmp_path, f'windowsevent({options} subscription(name("a") computers("*") query("{QUERY}")))')
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source,expected", [
    (f'windowsevent({TLS} subscription(name("a") computers("*") query("{QUERY}")) bogus-option(1))',
     "bogus"),
    (f'windowsevent({TLS} proxy-protocol(yes) proxy-from("10.0.0.0/33") subscription(name("a") computers("*") '
     f'query("{QUERY}")))',
     'proxy-from(): "10.0.0.0/33": the prefix length must be 0-32'),
    (f'windowsevent({TLS} proxy-protocol(yes) proxy-from("127.0.0.1" "10.0.0.1/8") subscription(name("a") '
     f'computers("*") query("{QUERY}")))',
     'proxy-from(): "10.0.0.1/8" has bits set after the prefix'),
    (f'windowsevent({TLS} proxy-protocol(yes) proxy-from("balancer.corp.example") subscription(name("a") '
     f'computers("*") query("{QUERY}")))',
     'proxy-from(): "balancer.corp.example" is not an IPv4 or IPv6 address or network'),
    (f'windowsevent({TLS} proxy-protocol(yes) subscription(name("a") computers("*") query("{QUERY}")))',
     "proxy-protocol(yes) needs proxy-from("),
    (f'windowsevent({TLS} proxy-from("127.0.0.1") subscription(name("a") computers("*") query("{QUERY}")))',
     "proxy-from() is given, but no listener has proxy-protocol(yes)"),
    (f'windowsevent({TLS.replace("))", ") proxy-protocol(no))")} proxy-protocol(yes) proxy-from("127.0.0.1") '
     f'subscription(name("a") computers("*") query("{QUERY}")))',
     "proxy-from() is given, but no listener has proxy-protocol(yes)"),
    (f'windowsevent({TLS} subscription(name("a") computers("*") query("<QueryList><Query>")))',
     "query() is invalid"),
    (f'windowsevent({TLS} subscription(computers("*") query("{QUERY}")))',
     'needs name("...")'),
    (f'windowsevent({TLS} subscription(name("a") computers("*") query("{QUERY}")) '
     f'subscription(name("A") computers("*") query("{QUERY}")))',
     'duplicate subscription name("A")'),
    (f'windowsevent(subscription(name("a") computers("*") query("{QUERY}")))',
     "no listener configured"),
    (f'windowsevent(port(70000) {TLS} subscription(name("a") computers("*") query("{QUERY}")))',
     "port(70000) is not a TCP port"),
    (f'windowsevent(port(0) {TLS} subscription(name("a") computers("*") query("{QUERY}")))',
     "port(0) is not a TCP port"),
    (f'windowsevent({TLS} subscription(name("a") computers("*") content-format(xml) query("{QUERY}")))',
     "content-format(xml) must be events or rendered-text"),
    (f'windowsevent({TLS} subscription(name("a") computers("*") query-file("/nonexistent/q.xml")))',
     'query-file("/nonexistent/q.xml") cannot be read'),
    (f'windowsevent({TLS} subscription(name("a") query("{QUERY}")))',
     "needs computers("),
    (f'windowsevent({TLS} subscription(name("a") computers("*")))',
     "needs query() or query-file()"),
    (f'windowsevent({TLS})',
     "no subscription() configured"),
    (f'windowsevent(tls(key-file("TMP/k.pem") cert-file("TMP/c.pem")) subscription(name("a") computers("*") query("{QUERY}")))',
     "needs ca-file() or ca-dir()"),
    (f'windowsevent({TLS} subscription(name("a") computers("*") query("<!DOCTYPE x [<!ENTITY e \'x\'>]><QueryList/>")))',
     "DTD"),
    (f'windowsevent(tls(key-file("TMP/missing.pem") cert-file("TMP/c.pem") ca-dir("TMP/ca.d")) subscription(name("a") computers("*") query("{QUERY}")))',
     'File "TMP/missing.pem" not found'),
])
def test_bad_configuration_is_rejected_with_a_clear_message(tmp_path, source, expected):
    result = check(tmp_path, source)
    assert result.returncode != 0
    assert expected.replace("TMP", str(tmp_path)) in result.stderr, result.stderr


# --- tls(): pinned issuing CAs and CRLs -----------------------------------------------------------

def real_tls(certs, extra):
    pki = certs["dir"]
    return (f'tls(key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d") {extra})')


def test_pins_and_crls_are_accepted(tmp_path, certs):
    pki = certs["dir"]
    spaced = " ".join(certs["thumbprint"][i:i + 2] for i in range(0, 40, 2)).lower()
    tls = real_tls(certs, f'issuer-thumbprints("{certs["thumbprint"]}" "{spaced}") '
                          f'issuer-file("{pki}/client-ca.crt") crl-dir("{pki}/crl.d") '
                          f'crl-file("{pki}/crl/client-ca.crl.pem") crl-reload-interval(300)')
    result = check(tmp_path, f'windowsevent({tls} subscription(name("a") computers("*") query("{QUERY}")))')
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("extra,expected", [
    ('issuer-thumbprints("XYZ")',
     'issuer-thumbprints("XYZ") is not a SHA-1 thumbprint: character 1 is not a hexadecimal digit'),
    ('issuer-thumbprints("ABCD")',
     'issuer-thumbprints("ABCD") is not a SHA-1 thumbprint: 4 hexadecimal digits instead of 40'),
    ('issuer-thumbprints("0123456789ABCDEF0123456789ABCDEF01234567")',
     'issuer-thumbprints("0123456789ABCDEF0123456789ABCDEF01234567") matches no CA in ca-file()/ca-dir()'),
    ('issuer-file("PKI/other-ca.crt")',
     'issuer-file("PKI/other-ca.crt"): /CN=Unrelated Test CA (thumbprint'),
    ('issuer-file("PKI/crl/root-ca.crl.pem")',
     'issuer-file("PKI/crl/root-ca.crl.pem") holds no PEM certificate'),
    ('issuer-file("PKI/missing.crt")', 'File "PKI/missing.crt" not found'),
    ('crl-file("PKI/missing.crl")', 'File "PKI/missing.crl" not found'),
    ('crl-dir("PKI/missing.d")', 'File "PKI/missing.d" not found'),
    ('crl-file("PKI/client-ca.crt")', 'client-ca.crt holds no PEM "X509 CRL" block'),
    ('crl-file("PKI/issuer-thumbprint.txt")', 'issuer-thumbprint.txt is neither a PEM nor a DER CRL'),
    ('crl-dir("PKI/ca.d")', 'holds no PEM "X509 CRL" block'),
    ('crl-reload-interval(0)', 'Must be positive'),
])
def test_bad_pins_and_crls_are_rejected_with_a_clear_message(tmp_path, certs, extra, expected):
    pki = str(certs["dir"])
    tls = real_tls(certs, extra.replace("PKI", pki))
    result = check(tmp_path, f'windowsevent({tls} subscription(name("a") computers("*") query("{QUERY}")))')
    assert result.returncode != 0
    assert expected.replace("PKI", pki) in result.stderr, result.stderr
