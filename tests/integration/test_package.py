"""`cpack -G DEB` makes a package of the module for the syslog-ng it was built against; installed
with apt-get on this machine, the stock syslog-ng loads the module and its SCL from the system
directories, and /usr/bin/wec-bookmarks runs. The package is removed again afterwards."""
import os
import subprocess
from pathlib import Path

import pytest

from wec_harness import CONFIG_VERSION, SANITIZED, SYSLOG_NG, SYSLOG_NG_PREFIX, make_certs

BUILD = os.environ.get("WEC_BUILD_DIR")
PACKAGE = "syslog-ng-mod-windowsevent"


def run(*command, timeout=300, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.mark.skipif(not BUILD, reason="WEC_BUILD_DIR not set (run through CTest)")
@pytest.mark.skipif(bool(SYSLOG_NG_PREFIX), reason="the package is for Debian's syslog-ng-core")
@pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root")
# Under the sanitizers: an instrumented build is not a package to ship, and syslog-ng 3.38's
# --syntax-only leaks the expression node of a block-generated source (log_expr_node_new() in
# main_parse(), with the driver it holds), which LeakSanitizer then reports.
@pytest.mark.skipif(SANITIZED, reason="an instrumented build is not a package to ship")
def test_the_debian_package_installs_and_syslog_ng_loads_it(tmp_path):
    made = run("cpack", "-G", "DEB", "-B", str(tmp_path), cwd=BUILD)
    assert made.returncode == 0, made.stdout + made.stderr
    debs = list(tmp_path.glob(f"{PACKAGE}_*.deb"))
    assert len(debs) == 1, made.stdout
    depends = run("dpkg-deb", "--field", str(debs[0]), "Depends").stdout
    assert "syslog-ng-core (>= 3.38)" in depends and "syslog-ng-core (<< 3.39)" in depends, depends
    assert "libmicrohttpd" in depends and "libxml2" in depends, depends
    assert "libhiredis" in depends and "libsqlite3" in depends, depends  # wec-bookmarks

    installed = run("apt-get", "install", "-y", "--no-install-recommends", str(debs[0]),
                    env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        files = run("dpkg", "-L", PACKAGE).stdout.split()
        assert "/usr/lib/syslog-ng/3.38/libwindowsevent.so" in files, files
        assert "/usr/share/syslog-ng/include/scl/windowsevent/plugin.conf" in files, files
        assert "/usr/bin/wec-bookmarks" in files, files
        helped = run("/usr/bin/wec-bookmarks", "--help")
        assert helped.returncode == 0 and "wec-bookmarks export --persist-file" in helped.stdout, helped.stderr
        pki = tmp_path / "pki"
        assert make_certs(pki, clients=["win01.corp.example"])
        config = tmp_path / "syslog-ng.conf"
        config.write_text(f"""@version: {CONFIG_VERSION}
@include "scl.conf"
source s_wec {{
  windowsevent-rfc5424(ip("127.0.0.1") port(5986)
    tls(key-file("{pki}/server.key") cert-file("{pki}/server.crt") ca-dir("{pki}/ca.d"))
    subscription(name("security") computers("*.corp.example")
      query("<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>")));
}};
destination d {{ file("/dev/null"); }};
log {{ source(s_wec); destination(d); }};
""")
        # no --module-path: the stock search path must find the installed module
        checked = run(SYSLOG_NG, "--syntax-only", "-f", str(config))
        assert checked.returncode == 0, checked.stderr
    finally:
        removed = run("apt-get", "remove", "-y", PACKAGE, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert removed.returncode == 0, removed.stderr
    assert not Path("/usr/lib/syslog-ng/3.38/libwindowsevent.so").exists()
