"""What ``runsecrets watch`` does when secrets change: run a command or POST (the signal is in
``_signal_action``).

Each action gets the names that changed (never a value) and reports what it did in one line.

Log lines and errors show a ``--post`` URL without its credentials, path and query string
(:func:`redact_url`: webhook tokens often sit in the path) and an ``--exec`` command by its
program only (:func:`describe_command`): an operator may put a token in either.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from ..exceptions import ActionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Iterable, Sequence

    from ..reload.snapshot import Changes

#: Environment variable with more hosts ``--post`` may reach (comma-separated).
ALLOWED_HOSTS_ENV = "RUNSECRETS_WATCH_ALLOWED_HOSTS"
#: How long an ``--exec`` command may run (seconds) unless ``--exec-timeout`` says otherwise.
EXEC_TIMEOUT = 60.0
#: How long a command's process group gets between SIGTERM and SIGKILL.
_EXEC_GRACE = 1.0
#: How often a running command is checked for its end, the timeout and a stop of the watch.
_EXEC_POLL = 0.05
_POST_TIMEOUT = 10.0


def change_summary(changes: Changes) -> dict[str, object]:
    """The names that changed and the new version, as sent to ``--exec`` and ``--post``."""
    return {
        "version": changes.snapshot.version,
        "added": sorted(changes.added),
        "changed": sorted(changes.changed),
        "removed": sorted(changes.removed),
    }


class ExecAction:
    """Run a command (no shell) with ``RUNSECRETS_CHANGED`` and ``RUNSECRETS_VERSION`` set.

    The command runs in a process group of its own. When it outlasts ``timeout``, or the watch
    is stopped (``stop`` set: SIGTERM or SIGINT) while it runs, the whole group gets SIGTERM,
    then SIGKILL a second later: no child it started is left behind.

    Its messages name the program only: the arguments may hold a token.
    """

    def __init__(
        self,
        command: Sequence[str],
        timeout: float = EXEC_TIMEOUT,
        stop: threading.Event | None = None,
    ) -> None:
        self.command = list(command)
        self.timeout = timeout
        self.stop = stop

    def __call__(self, changes: Changes) -> str:
        summary = change_summary(changes)
        env = dict(os.environ)
        env["RUNSECRETS_CHANGED"] = ",".join(sorted(changes.names))
        env["RUNSECRETS_VERSION"] = str(summary["version"])
        program = self.command[0]
        try:
            child = subprocess.Popen(
                self.command, env=env, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except FileNotFoundError as e:
            raise ActionError(f"command not found: {program}") from e
        except OSError as e:
            raise ActionError(f"cannot run {program}: {e.strerror}") from e
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                returncode = child.wait(timeout=_EXEC_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            if self.stop is not None and self.stop.is_set():
                _end_group(child)
                raise ActionError(f"{program} stopped: the watch is stopping") from None
            if time.monotonic() >= deadline:
                _end_group(child)
                raise ActionError(
                    f"{program} ran longer than {self.timeout:g}s; its process group was killed"
                ) from None
        if returncode != 0:
            raise ActionError(f"{program} exited with {returncode}")
        return f"ran {program}"


def _end_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's process group, SIGKILL after a grace period, then reap it."""
    group = child.pid  # start_new_session: the child leads a group of its own
    for signum, wait in ((signal.SIGTERM, _EXEC_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            break  # nothing of the group is left
        except PermissionError:  # a member changed its user: what is left is not ours to end
            break
        if wait is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=wait)
    child.wait()


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a literal loopback address (127.0.0.0/8, ::1); no DNS lookup."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """``url`` as log lines and errors show it: scheme, host and port only.

    ``http://user:pw@host:8080/hooks/T0KEN?token=x`` is shown as
    ``http://***@host:8080/***?***``: webhook URLs often carry their token in the path. A URL
    that does not parse is not shown at all.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "(unparsable URL)"
    if not parts.scheme:
        return "(URL without scheme)"
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{netloc}"
    if parts.path not in ("", "/"):
        shown += "/***"
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
