"""runsecrets.swarm against the real single-node Swarm: rotate, audit, ls, and the CLI."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runsecrets import cli
from runsecrets import swarm as rsw

from . import _harness as h

pytestmark = pytest.mark.e2e

#: A service that refuses a password listed in /gate/deny: the app of a database whose new
#: password has not been set yet. It makes a service update fail for real, on demand.
GATED = (
    "if cmp -s /gate/deny /run/secrets/db_password; then echo 'password refused' >&2; exit 1; "
    "fi; exec sleep infinity"
)


@pytest.fixture
def gate() -> Iterator[Path]:
    """A host directory bind-mounted at /gate (world-readable: the app runs as uid 10001)."""
    directory = Path(tempfile.mkdtemp(prefix="runsecrets-gate-"))
    os.chmod(directory, 0o755)  # noqa: S103 - the container user must read the gate file
    try:
        yield directory
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_rotate_two_services_sharing_a_secret(
    swarm: h.Swarm, docker_sdk: Any, sentinel: str
) -> None:
    """Two services mount one secret at different targets, owners and modes; one rotate call
    moves both to ``<name>_v0002``: new tasks read the new value at the same paths, the
    references keep target/uid/gid/mode (integers), and the old secret, made by hand, is
    kept (runsecrets removes only versions it made)."""
    docker = swarm.docker
    old = swarm.secret("db_password", f"{sentinel}-old".encode())
    web = swarm.service(
        "web", "--secret", f"source={old},target=db_password", command=["sleep", "infinity"]
    )
    worker = swarm.service(
        "worker",
        "--secret",
        f"source={old},target=/etc/worker/db,uid=10001,gid=10001,mode=0400",
        command=["sleep", "infinity"],
    )
    swarm.wait_containers(web)
    swarm.wait_containers(worker)

    report = swarm_rotate(docker_sdk, old, f"{sentinel}-new", docker)

    new = f"{old}_v0002"
    assert report.ok
    assert report.created
    assert (report.new_secret, report.new_version) == (new, 2)
    assert {s.service_name: s.state for s in report.services} == {
        web: "updated",
        worker: "updated",
    }
    assert report.removed == []
    assert report.kept == [old]
    assert swarm.references(web) == {"db_password": (new, "0", "0", 0o444)}
    assert swarm.references(worker) == {"/etc/worker/db": (new, "10001", "10001", 0o400)}
    (web_box,) = swarm.wait_containers(web, secret=new)
    (worker_box,) = swarm.wait_containers(worker, secret=new)
    assert swarm.exec_probe(web_box, "/run/secrets/db_password") == {
        "/run/secrets/db_password": h.digest(f"{sentinel}-new")
    }
    assert swarm.exec_probe(worker_box, "/etc/worker/db") == {
        "/etc/worker/db": h.digest(f"{sentinel}-new")
    }
    assert docker.out("exec", worker_box, "stat", "-c", "%u %g %a", "/etc/worker/db") == (
        "10001 10001 400"
    )
    assert swarm.secret_names(old) == [old, new]

    (entry,) = rsw.audit(docker_sdk, old)
    assert [v.name for v in entry.versions] == [old, new]
    assert entry.unused == (old,)
    assert sorted((r.service_name, r.target, r.mode) for r in entry.references) == [
        (web, "db_password", 0o444),
        (worker, "/etc/worker/db", 0o400),
    ]
    assert sorted(t.service_name for t in entry.tasks) == sorted([web, worker])
    assert not h.leaked_any(sentinel, json.dumps(entry.as_dict()), "\n".join(report.lines()))


def swarm_rotate(client: Any, name: str, value: str, docker: h.Docker) -> rsw.RotationReport:
    """``runsecrets.swarm.rotate`` with the session label, so clean-up finds the new secret."""
    return rsw.rotate(client, name, value, labels={h.LABEL: docker.session}, timeout=120)


def test_interrupted_rotation_leaves_valid_secrets_and_rerun_finishes(
    swarm: h.Swarm, docker_sdk: Any, sentinel: str, gate: Path
) -> None:
    """A service whose update fails for real (its app refuses the new password) is rolled
    back: every service runs on an existing secret, the old one is kept, RotationError says
    so. Once the cause is fixed, the same call finishes the rotation without a third version.
    """
    docker = swarm.docker
    old = swarm.secret("db_password", f"{sentinel}-old".encode())
    ok = swarm.service(
        "ok", "--secret", f"source={old},target=db_password", command=["sleep", "infinity"]
    )
    gated = swarm.service(
        "gated",
        "--secret",
        f"source={old},target=db_password,mode=0444",
        "--mount",
        f"type=bind,source={gate},target=/gate,readonly",
        "--update-monitor",
        "3s",
        command=["sh", "-c", GATED],
    )
    swarm.wait_containers(ok)
    swarm.wait_containers(gated)
    (gate / "deny").write_text(f"{sentinel}-new")

    with pytest.raises(rsw.RotationError) as caught:
        swarm_rotate(docker_sdk, old, f"{sentinel}-new", docker)
    report = caught.value.report
    new = report.new_secret
    assert {s.service_name: s.state for s in report.services} == {
        ok: "updated",
        gated: "rolled_back",
    }
    assert report.kept == [old]
    assert swarm.secret_names(old) == sorted([old, new])
    # Each service runs on a valid secret: ok on the new one, gated back on the old one.
    (ok_box,) = swarm.wait_containers(ok, secret=new)
    (gated_box,) = swarm.wait_containers(gated, secret=old)
    assert swarm.exec_probe(ok_box, "/run/secrets/db_password") == {
        "/run/secrets/db_password": h.digest(f"{sentinel}-new")
    }
    assert swarm.exec_probe(gated_box, "/run/secrets/db_password") == {
        "/run/secrets/db_password": h.digest(f"{sentinel}-old")
    }
    assert swarm.references(gated) == {"db_password": (old, "0", "0", 0o444)}
    assert not h.leaked_any(sentinel, str(caught.value), "\n".join(report.lines()))

    (gate / "deny").unlink()  # the database now accepts the new password
    again = swarm_rotate(docker_sdk, old, f"{sentinel}-unused", docker)
    assert again.resumed
    assert not again.created
    assert again.new_secret == new
    assert {s.service_name: s.state for s in again.services} == {ok: "current", gated: "updated"}
    assert again.removed == []
    assert again.kept == [old]
    assert swarm.secret_names(old) == [old, new]
    (gated_box,) = swarm.wait_containers(gated, secret=new)
    assert swarm.exec_probe(gated_box, "/run/secrets/db_password") == {
        "/run/secrets/db_password": h.digest(f"{sentinel}-new")
    }


def test_cli_rotate_generate_audit_ls(
    swarm: h.Swarm,
    docker_sdk: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``runsecrets swarm rotate --generate``, ``audit --json`` and ``ls`` on the real Swarm;
    the generated value reaches the task and is never printed."""
    docker = swarm.docker
    old = swarm.secret("api_token", b"initial-token")
    service = swarm.service(
        "cli", "--secret", f"source={old},target=api_token", command=["sleep", "infinity"]
    )
    swarm.wait_containers(service)

    code = cli.main(
        ["swarm", "rotate", old, "--generate", "40", "--label", f"{h.LABEL}={docker.session}"]
    )
    out = capsys.readouterr().out
    assert code == 0
    new = f"{old}_v0002"
    assert f"created {new} (version 2 of {old})" in out
    assert f"service {service}: updated ({old} -> {new} at api_token)" in out
    assert f"kept {old}: not made by runsecrets" in out
    (box,) = swarm.wait_containers(service, secret=new)
    value = docker.run("exec", box, "cat", "/run/secrets/api_token").stdout
    assert len(value) == 40
    assert value.isalnum()
    assert value.decode() not in out

    assert cli.main(["swarm", "audit", old, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["references"][0]["mode_octal"] == "0444"
    assert entry["tasks"][0]["secret_name"] == new
    assert cli.main(["swarm", "ls"]) == 0
    listing = capsys.readouterr().out
    assert new in listing
    assert value.decode() not in listing

    assert cli.main(["swarm", "rotate", "bad name", "--generate", "8"]) == 3
    assert "invalid Swarm secret name" in capsys.readouterr().err
