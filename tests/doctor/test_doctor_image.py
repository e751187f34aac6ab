"""``runsecrets doctor --image``: the checks on an image's configuration and history (as the
engine records them, BuildKit's and the classic builder's forms), and the clear message when
the SDK or the engine is missing. The real-engine run is in ``tests/e2e/test_doctor.py``."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from runsecrets.doctor import check_image, diagnose_image
from runsecrets.doctor._image import assignments, run_arguments

from ..conftest import leaked

# ``docker history --no-trunc`` of an image built here (newest first), with the value replaced.
_BUILDKIT = [
    "RUN |2 DB_PASSWORD={v} with space PLAIN_ARG=plain /bin/sh -c echo hi # buildkit",
    'RUN |2 DB_PASSWORD={v} with space PLAIN_ARG=plain /bin/sh -c echo "$DB_PASSWORD" # buildkit',
    "ENV API_TOKEN={v} SOME=thing",
    "ARG PLAIN_ARG=plain",
    "ARG DB_PASSWORD",
    "",
]
_CLASSIC = [
    "|2 DB_PASSWORD={v} with space PLAIN_ARG=plain /bin/sh -c echo hi",
    "/bin/sh -c #(nop)  ENV API_TOKEN={v} SOME=thing",
    "/bin/sh -c #(nop)  ARG PLAIN_ARG=plain",
    "/bin/sh -c #(nop)  ARG DB_PASSWORD",
    "",
]


@pytest.mark.parametrize("history", [_BUILDKIT, _CLASSIC], ids=["buildkit", "classic"])
def test_build_arguments_and_environment_in_an_image(history: list[str], sentinel: str) -> None:
    """A secret build argument is reported on every RUN step that recorded it, a secret
    variable of the configuration once; plain arguments and variables are not."""
    steps = [line.format(v=sentinel) for line in history]
    env = ["PATH=/usr/bin:/bin", f"API_TOKEN={sentinel}", "SOME=thing", "GPG_KEY=A035C8C1"]
    findings = check_image("app:1", env, steps)
    found = [(f.code, f.subject) for f in findings]
    runs = [len(steps) - i for i, line in enumerate(steps) if "|2" in line]
    assert found == [
        ("secret_in_image_environment", "app:1 ENV API_TOKEN"),
        *sorted(("secret_build_argument", f"app:1 step {n}") for n in runs),
    ]
    assert "build argument DB_PASSWORD is set and named like a password" in findings[1].message
    assert "RUN --mount=type=secret" in findings[1].message
    assert not leaked(sentinel, str([f.as_dict() for f in findings]))


def test_defaults_overwritten_variables_and_pasted_tokens(sentinel: str) -> None:
    """An ARG default, an ENV the configuration no longer shows, and a token pasted into a RUN
    command are each found in the history."""
    token = "ghp_" + "A" * 36
    history = [
        f"RUN /bin/sh -c curl -H 'Authorization: token {token}' https://example.invalid # buildkit",
        "ENV DB_PASSWORD=",
        f"ENV DB_PASSWORD={sentinel}",
        f"ARG SIGNING_KEY={sentinel}",
        "ARG VERSION=1.2",
    ]
    findings = check_image("app:2", ["DB_PASSWORD="], history)
    assert [(f.code, f.subject) for f in findings] == [
        ("secret_build_argument", "app:2 step 2"),
        ("secret_in_image_history", "app:2 step 3"),
        ("secret_in_image_history", "app:2 step 5"),
    ]
    assert findings[0].message.startswith("ARG SIGNING_KEY has a default and is named like")
    assert "holds a GitHub token" in findings[2].message
    text = str([f.as_dict() for f in findings])
    assert not leaked(sentinel, text)
    assert token not in text


def test_assignment_splitting() -> None:
    """Values may hold spaces; only declared names start a pair when some are known."""
    assert assignments("A=1 B=two words C=") == [("A", "1"), ("B", "two words"), ("C", "")]
    declared = {"DB_PASSWORD", "X"}
    assert run_arguments("RUN |2 DB_PASSWORD=a b=c X=1 /bin/sh -c true", declared) == [
        ("DB_PASSWORD", "a b=c"),
        ("X", "1"),
    ]
    assert run_arguments("RUN /bin/sh -c A=1 true", declared) == []


# The SDK leaves the socket of a connection that failed to the garbage collector (docker 7's
# UnixHTTPConnection.connect does not close it): collected here, where its warning is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_engine_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """No engine behind DOCKER_HOST: one image_not_checked error saying what to do."""
    pytest.importorskip("docker")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    (finding,) = diagnose_image("app:1")
    gc.collect()
    assert (finding.code, finding.severity, finding.subject) == (
        "image_not_checked",
        "error",
        "app:1",
    )
    assert "engine does not answer" in finding.message


def test_a_missing_sdk_through_the_command_line() -> None:
    """Without the docker package: exit 3 and the extra to install, as JSON, no traceback."""
    code = (
        "import sys; sys.modules['docker'] = None\n"
        "from runsecrets.cli import main\n"
        "sys.exit(main(['doctor', '--image', 'app:1', '--json']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 3
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["code"] == "image_not_checked"
    assert "pip install 'runsecrets[swarm]'" in finding["message"]
    assert result.stderr == ""


def test_a_missing_image_is_said_not_raised() -> None:
    """An engine that answers but has no such image (a fake client raising the SDK's error)."""
    docker = pytest.importorskip("docker")

    class Images:
        def get(self, name: str) -> object:
            raise docker.errors.ImageNotFound(f"No such image: {name}")

    class Client:
        images = Images()

    (finding,) = diagnose_image("nope:0", client=Client())
    assert finding.code == "image_not_checked"
    assert "no such image" in finding.message
