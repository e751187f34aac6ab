"""What ``runsecrets watch`` does when secrets change: signal a process, run a command, POST.

Each action gets the names that changed (never a value) and reports what it did in one line.
Targets are looked up afresh for every firing: the watched process may have restarted.

Log lines and errors show a ``--post`` URL without its credentials and query string
(:func:`redact_url`) and an ``--exec`` command by its program only (:func:`describe_command`):
an operator may put a token in either.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import signal
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from ..exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .._snapshot import Changes

#: Environment variable with more hosts ``--post`` may reach (comma-separated).
ALLOWED_HOSTS_ENV = "RUNSECRETS_WATCH_ALLOWED_HOSTS"
_EXEC_TIMEOUT = 60.0
_POST_TIMEOUT = 10.0


class ActionError(RunSecretsError):
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
            except ProcessLookupError as e:
                raise ActionError(f"process {pid} does not exist") from e
            except PermissionError as e:
                raise ActionError(f"not allowed to signal process {pid}") from e
            sent.append(str(pid))
        return f"sent {self.signum.name} to {', '.join(sent)}"


def read_pidfile(path: str) -> int:
    """The pid in ``path`` (first line, surrounding space ignored).

    Raises:
        ActionError: Missing, unreadable or not a positive number.
    """
    try:
        # Non-blocking and checked: a FIFO at that path must not hang the action thread.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ActionError(f"pid file {path} is not a regular file")
            text = os.read(fd, 64).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
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


def describe_command(command: Sequence[str]) -> str:
    """A command as log lines show it: the program only, never its arguments."""
    if not command:
        return "(no command)"
    hidden = len(command) - 1
    if not hidden:
        return command[0]
    return f"{command[0]} ({hidden} argument{'s' if hidden > 1 else ''} not shown)"


class ExecAction:
    """Run a command (no shell) with ``RUNSECRETS_CHANGED`` and ``RUNSECRETS_VERSION`` set.

    Its messages name the program only: the arguments may hold a token.
    """

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
        except FileNotFoundError as e:
            raise ActionError(f"command not found: {self.command[0]}") from e
        except subprocess.TimeoutExpired:
            raise ActionError(f"{self.command[0]} ran longer than {self.timeout:g}s") from None
        except OSError as e:
            raise ActionError(f"cannot run {self.command[0]}: {e.strerror}") from e
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


def redact_url(url: str) -> str:
    """``url`` as log lines and errors show it: no user or password, no query, no fragment.

    ``http://user:pw@host:8080/reload?token=x`` is shown as ``http://***@host:8080/reload?***``.
    A URL that does not parse is not shown at all.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "(unparsable URL)"
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else "(URL without scheme)"
    if parts.query:
        shown += "?***"
    if parts.fragment:
        shown += "#***"
    return shown


def check_post_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Accept an http(s) URL with a valid port to loopback or to an allowed host; return it.

    Checked when ``watch`` starts, so a URL the POST could never reach is a usage error then, not
    a failure at the first change. Error messages show the URL redacted (:func:`redact_url`).

    Raises:
        ValueError: Another scheme, no host, an invalid port, spaces or control characters, or a
            host that is neither loopback nor allowed.
    """
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("--post URL holds spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise ValueError("--post URL cannot be parsed") from None
    if parts.scheme not in ("http", "https"):
        # The scheme is not echoed: in "user:password@host" it would be the user name.
        raise ValueError("--post needs an http:// or https:// URL")
    host = parts.hostname
    if not host:
        raise ValueError(f"--post URL {redact_url(url)} has no host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"--post URL {redact_url(url)} has an invalid port (1 to 65535)")
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if not is_loopback_host(host) and host.lower() not in allowed:
        raise ValueError(
            f"--post to {host} refused: only loopback hosts, or hosts given with --allow-host "
            f"or {ALLOWED_HOSTS_ENV}"
        )
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the 3xx response becomes an ``HTTPError`` (checked hosts only)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def post_opener() -> urllib.request.OpenerDirector:
    """The opener ``--post`` uses: no redirects followed, no proxy (``*_proxy`` ignored).

    A redirect or a proxy would send the request to a host the allow-list never checked.
    """
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _error_detail(error: BaseException) -> str:
    """What went wrong, by type (and the system's words for an OS error), never a message that
    could quote a response or a URL."""
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    name = type(error).__name__
    strerror = getattr(error, "strerror", None)
    return f"{name} ({strerror})" if isinstance(strerror, str) and strerror else name


class PostAction:
    """POST the change summary as JSON (names and version only) to a URL.

    Credentials in the URL (``http://user:password@host/``) are sent as HTTP basic
    authentication, never shown. Redirects are not followed and proxy variables are ignored.
    """

    def __init__(self, url: str, timeout: float = _POST_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(url)
        self.display = redact_url(url)
        self._authorization: str | None = None
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            user, _, password = userinfo.partition(":")
            pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
            self._authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        self._url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        self.timeout = timeout
        self._opener = post_opener()

    def __repr__(self) -> str:
        return f"PostAction({self.display!r})"

    def __call__(self, changes: Changes) -> str:
        body = json.dumps(change_summary(changes)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "runsecrets-watch"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        request = urllib.request.Request(  # noqa: S310  (scheme checked by check_post_url)
            self._url, data=body, method="POST", headers=headers
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return f"POST {self.display}: {response.status}"
        except urllib.error.HTTPError as e:
            e.close()
            extra = " (redirects are not followed)" if 300 <= e.code < 400 else ""
            raise ActionError(f"POST {self.display}: HTTP {e.code}{extra}") from None
        except (urllib.error.URLError, http.client.HTTPException, ValueError, OSError) as e:
            raise ActionError(f"POST {self.display} failed: {_error_detail(e)}") from None
