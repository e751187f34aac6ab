"""What ``runsecrets watch`` does when secrets change: signal a process, run a command, POST.

Each action gets the names that changed (never a value) and reports what it did in one line.
Targets are looked up afresh for every firing: the watched process may have restarted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import urllib.parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .._snapshot import Changes

#: Environment variable with more hosts ``--post`` may reach (comma-separated).
ALLOWED_HOSTS_ENV = "RUNSECRETS_WATCH_ALLOWED_HOSTS"
_EXEC_TIMEOUT = 60.0
_POST_TIMEOUT = 10.0


class ActionError(Exception):
    """An action could not be carried out (no target process, a command that failed).

    Its message names processes, commands and URLs, never a secret value.
    """


def change_summary(changes: Changes) -> dict[str, object]:
    """The names that changed and the new version, as sent to ``--exec`` and ``--post``."""
    return {
        "version": changes.snapshot.version,
        "added": sorted(changes.added),
        "changed": sorted(changes.changed),
        "removed": sorted(changes.removed),
    }


def parse_signal(text: str) -> signal.Signals:
    """``HUP``, ``SIGHUP`` or ``1`` to a signal.

    Raises:
        ValueError: Not a signal of this platform.
    """
    name = text.strip().upper()
    if name.isdigit():
        return signal.Signals(int(name))
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


class SignalAction:
    """Send a signal to the process given by pid, pid file or process name."""

    def __init__(
        self,
        signum: signal.Signals,
        *,
        pid: int | None = None,
        pidfile: str | None = None,
        process_name: str | None = None,
    ) -> None:
        self.signum = signum
        self.pid = pid
        self.pidfile = pidfile
        self.process_name = process_name

    def targets(self) -> list[int]:
        """The process ids to signal now.

        Raises:
            ActionError: The pid file is missing or holds no pid, or no process has the name.
        """
        if self.pid is not None:
            return [self.pid]
        if self.pidfile is not None:
            return [read_pidfile(self.pidfile)]
        assert self.process_name is not None
        found = pids_named(self.process_name)
        if not found:
            raise ActionError(f"no process named {self.process_name!r}")
        return found

    def __call__(self, changes: Changes) -> str:
        sent = []
        for pid in self.targets():
            try:
                os.kill(pid, self.signum)
            except ProcessLookupError:
                raise ActionError(f"process {pid} does not exist") from None
            except PermissionError:
                raise ActionError(f"not allowed to signal process {pid}") from None
            sent.append(str(pid))
        return f"sent {self.signum.name} to {', '.join(sent)}"


def read_pidfile(path: str) -> int:
    """The pid in ``path`` (first line, surrounding space ignored).

    Raises:
        ActionError: Missing, unreadable or not a positive number.
    """
    try:
        with open(path) as f:
            text = f.read(64).strip()
    except OSError as e:
        raise ActionError(f"cannot read pid file {path}: {e.strerror}") from e
    if not text.isdigit() or int(text) <= 0:
        raise ActionError(f"pid file {path} does not hold a process id")
    return int(text)


def pids_named(name: str, proc: str = "/proc") -> list[int]:
    """Processes whose command name (``comm``) or program file name is ``name``, not this one."""
    found = []
    me = os.getpid()
    try:
        entries = os.listdir(proc)
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(os.path.join(proc, entry, "comm")) as f:
                comm = f.read().strip()
            with open(os.path.join(proc, entry, "cmdline"), "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue  # exited meanwhile, or not ours to read
        # comm is cut at 15 characters, so a long name is matched on argv[0] too.
        if name in (comm, os.path.basename(argv0)):
            found.append(int(entry))
    return sorted(found)


class ExecAction:
    """Run a command (no shell) with ``RUNSECRETS_CHANGED`` and ``RUNSECRETS_VERSION`` set."""

    def __init__(self, command: Sequence[str], timeout: float = _EXEC_TIMEOUT) -> None:
        self.command = list(command)
        self.timeout = timeout

    def __call__(self, changes: Changes) -> str:
        summary = change_summary(changes)
        env = dict(os.environ)
        env["RUNSECRETS_CHANGED"] = ",".join(sorted(changes.names))
        env["RUNSECRETS_VERSION"] = str(summary["version"])
        try:
            completed = subprocess.run(
                self.command, env=env, timeout=self.timeout, check=False, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError:
            raise ActionError(f"command not found: {self.command[0]}") from None
        except subprocess.TimeoutExpired:
            raise ActionError(f"{self.command[0]} ran longer than {self.timeout:g}s") from None
        except OSError as e:
            raise ActionError(f"cannot run {self.command[0]}: {e.strerror}") from None
        if completed.returncode != 0:
            raise ActionError(f"{self.command[0]} exited with {completed.returncode}")
        return f"ran {self.command[0]}"


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a literal loopback address (127.0.0.0/8, ::1); no DNS lookup."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_post_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Accept an http(s) URL to loopback or to an allowed host; return it.

    Raises:
        ValueError: Another scheme, no host, or a host that is neither loopback nor allowed.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"--post needs an http:// or https:// URL, not {parts.scheme or url!r}")
    host = parts.hostname
    if not host:
        raise ValueError("--post URL has no host")
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if not is_loopback_host(host) and host.lower() not in allowed:
        raise ValueError(
            f"--post to {host} refused: only loopback hosts, or hosts given with --allow-host "
            f"or {ALLOWED_HOSTS_ENV}"
        )
    return url


class PostAction:
    """POST the change summary as JSON (names and version only) to a URL."""

    def __init__(self, url: str, timeout: float = _POST_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout

    def __call__(self, changes: Changes) -> str:
        import urllib.error
        import urllib.request

        body = json.dumps(change_summary(changes)).encode()
        request = urllib.request.Request(  # noqa: S310  (scheme checked by check_post_url)
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "runsecrets-watch"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return f"POST {self.url}: {response.status}"
        except urllib.error.HTTPError as e:
            raise ActionError(f"POST {self.url}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ActionError(f"POST {self.url} failed: {reason}") from None
