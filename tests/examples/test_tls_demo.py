"""The TLS demo runs to the end and shows the rotation (it is part of ``make demo``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def test_demo_validates_refuses_and_rotates(capsys: pytest.CaptureFixture[str]) -> None:
    """The TLS demo validates material, refuses a bad pair and rotates."""
    path = Path(__file__).resolve().parents[2] / "examples" / "demo_tls.py"
    spec = importlib.util.spec_from_file_location("demo_tls", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.run_demo()
    out = capsys.readouterr().out
    assert "verdict: valid" in out
    assert "refused: reason=key_mismatch" in out
    before = out.split("serial served before: ")[1].split()[0]
    during = out.split("only the certificate is new: ")[1].split()[0]
    after = out.split("serial served after:  ")[1].split()[0]
    assert before == during != after
    assert "PRIVATE KEY" not in out
