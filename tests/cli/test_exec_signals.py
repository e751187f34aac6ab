"""``runsecrets exec`` hands the program the signal state a shell would (issue 12, finding 2).

Python ignores ``SIGPIPE`` and ``SIGXFSZ`` at start-up, and an ignored signal survives ``exec``:
without a reset, every program started by ``ENTRYPOINT ["runsecrets", "exec", "--"]`` would get
``EPIPE`` instead of dying quietly at the end of a pipe, and would get ``EFBIG`` instead of
``SIGXFSZ`` at its file size limit. These tests run real pipelines and read the exec'd
program's own ``/proc/<pid>/status``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets.cli._exec import ExecRequest, run_exec

from .._servers import BIN

RUNSECRETS = os.path.join(BIN, "runsecrets")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status; pipelines in bash"
)

# Starts its arguments with SIGHUP ignored and SIGUSR1 blocked, as a caller may (nohup, a
# supervisor), and with SIGPIPE and SIGXFSZ ignored too (this interpreter's own start-up state,
# which execv keeps): runsecrets must reset the latter two and the mask, and keep SIGHUP.
LAUNCHER = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGHUP, signal.SIG_IGN); "
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1}); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}


def _status_masks(text: str) -> dict[str, set[int]]:
    """The signal sets of a ``/proc/<pid>/status`` text, as sets of signal numbers."""
    masks = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("SigIgn", "SigBlk"):
            bits = int(value.strip(), 16)
            masks[key] = {n for n in range(1, 65) if bits & (1 << (n - 1))}
    return masks


def _bash(script: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash in its own session; kill the whole session if it overruns."""
    process = subprocess.Popen(
        ["bash", "-c", script],
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the pipeline never ended: {script}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_the_exec_program_starts_with_default_dispositions_and_an_empty_mask() -> None:
    """Finding 2: the exec'd program's own ``/proc/self/status`` shows no ignored signal but
    those its callers ignored (SIGHUP here), and no blocked signal at all."""
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, RUNSECRETS, "exec", "--", "cat", "/proc/self/status"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    masks = _status_masks(result.stdout)
    # What this test's own caller ignores is passed on too (some runners ignore a real-time
    # signal); this interpreter's own SIGPIPE and SIGXFSZ are not.
    inherited = _status_masks(Path("/proc/self/status").read_text())["SigIgn"] - {
        signal.SIGPIPE,
        signal.SIGXFSZ,
    }
    assert masks["SigIgn"] == inherited | {signal.SIGHUP}
    assert signal.SIGPIPE not in masks["SigIgn"]
    assert signal.SIGXFSZ not in masks["SigIgn"]
    assert masks["SigBlk"] == set()


def test_yes_into_head_ends_quietly() -> None:
    """Finding 2: ``runsecrets exec -- yes | head -1``: ``yes`` dies of SIGPIPE (141 with
    pipefail) and prints no "Broken pipe"."""
    result = _bash(f"set -o pipefail; {shlex.quote(RUNSECRETS)} exec -- yes | head -1")
    assert result.stdout == "y\n"
    assert result.stderr == ""
    assert result.returncode == 128 + signal.SIGPIPE


def test_a_shell_loop_into_head_ends() -> None:
    """Finding 2: a shell loop writing into a closed pipe ends (with SIGPIPE ignored, ``echo``
    fails with EPIPE and the loop goes on for ever)."""
    loop = shlex.quote("while :; do echo x; done")
    result = _bash(f"{shlex.quote(RUNSECRETS)} exec -- sh -c {loop} | head -1")
    assert result.stdout == "x\n"
    assert "Broken pipe" not in result.stderr


def test_the_file_size_limit_kills_with_sigxfsz(tmp_path: Path) -> None:
    """Finding 2: past ``ulimit -f`` the program is killed by SIGXFSZ (exit 153 in the shell),
    as it would be without runsecrets, instead of carrying on after an EFBIG error."""
    target = shlex.quote(str(tmp_path / "big"))
    inner = shlex.quote(f"head -c 100000 /dev/zero > {target}")
    result = _bash(f"ulimit -f 1; {shlex.quote(RUNSECRETS)} exec -- sh -c {inner}; echo $?")
    assert result.stdout.strip().splitlines()[-1] == str(128 + signal.SIGXFSZ)


def test_a_failed_exec_puts_the_interpreters_signal_state_back() -> None:
    """Finding 2: when the command cannot be started, runsecrets carries on (to print its
    error) with SIGPIPE ignored again, so a closed standard error is still a BrokenPipeError
    rather than a silent death; the mask is back as it was."""
    before_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    assert run_exec(ExecRequest(["no-such-program-anywhere"], None, None), environ={}) == 127
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before_mask
