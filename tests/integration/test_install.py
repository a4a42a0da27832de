"""cmake --install puts the module into syslog-ng's module directory and the SCL into its SCL
directory; the stock syslog-ng finds both there (checked in a DESTDIR staging tree)."""
import os
import subprocess
from pathlib import Path

import pytest

BUILD = os.environ.get("WEC_BUILD_DIR")


@pytest.mark.skipif(not BUILD, reason="WEC_BUILD_DIR not set (run through CTest)")
def test_install_layout(tmp_path):
    env = dict(os.environ, DESTDIR=str(tmp_path))
    subprocess.run(["cmake", "--install", BUILD], check=True, env=env, capture_output=True, timeout=120)
    module = tmp_path / "usr/lib/syslog-ng/3.38/libwindowsevent.so"
    scl = tmp_path / "usr/share/syslog-ng/include/scl/windowsevent/plugin.conf"
    assert module.exists() and scl.exists()
    out = subprocess.run(["/usr/sbin/syslog-ng", f"--module-path={module.parent}", "--module-registry"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "windowsevent" in out and "Windows Event Collector" in out
