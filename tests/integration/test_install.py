"""cmake --install puts the module into syslog-ng's module directory and the SCL into its SCL
directory; the stock syslog-ng finds both there (checked in a DESTDIR staging tree). wec-bookmarks
goes into bin and finds libsyslog-ng in syslog-ng's private library directory."""
import os
import subprocess
from pathlib import Path

import pytest

from wec_harness import SYSLOG_NG

BUILD = os.environ.get("WEC_BUILD_DIR")


@pytest.mark.skipif(not BUILD, reason="WEC_BUILD_DIR not set (run through CTest)")
def test_install_layout(tmp_path):
    env = dict(os.environ, DESTDIR=str(tmp_path))
    subprocess.run(["cmake", "--install", BUILD], check=True, env=env, capture_output=True, timeout=120)
    # the directories syslog-ng's pkg-config file names: /usr/lib/syslog-ng/3.38 for Debian's
    modules = list(tmp_path.rglob("libwindowsevent.so"))
    scl = list(tmp_path.rglob("scl/windowsevent/plugin.conf"))
    assert len(modules) == 1 and len(scl) == 1, (modules, scl)
    module = modules[0]
    assert module.parent.name in ("3.38", "syslog-ng"), module
    out = subprocess.run([SYSLOG_NG, f"--module-path={module.parent}", "--module-registry"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "windowsevent" in out and "Windows Event Collector" in out
    tools = list(tmp_path.rglob("bin/wec-bookmarks"))
    assert len(tools) == 1, tools
    helped = subprocess.run([str(tools[0]), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "Usage: wec-bookmarks COMMAND" in helped.stdout, helped.stderr
