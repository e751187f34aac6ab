"""Running a child process that file permissions apply to, even when the tests run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

import pytest


def run_without_dac_override(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` so that mode bits bind it.

    Root ignores mode bits, so as root the child drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    with ``setpriv`` (util-linux); a normal user needs nothing. Skips the test when ``setpriv``
    is missing.
    """
    argv = list(command)
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's file capabilities")
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
