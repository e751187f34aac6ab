"""pydantic-settings benchmarks (issue 3): loading many secret fields, ``LiveSettings.current``.

Run: ``python benchmarks/bench_pydantic.py [--runs N]``. Prints each figure as a ratio to
a baseline measured in the same run (medians of interleaved runs), with the target:

- load 1,000 secret fields: pydantic-settings' ``SecretsSettingsSource`` / ours (>= 20x);
- the whole model, the user's view: ``BaseSettings`` with ``secrets_dir`` / ``SecretsSettings``
  over the same files, 1,000 fields (>= 20x);
- ours, 1,000 fields / 100 fields (<= 12x: linear);
- ``LiveSettings.current`` / a plain attribute read (<= 2x).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _timing import time_calls, verdict
from pydantic import SecretStr, create_model
from pydantic_settings import BaseSettings, SecretsSettingsSource, SettingsConfigDict

from runsecrets.pydantic import RunSecretsSettingsSource, SecretsSettings, live
from runsecrets.testing import SecretsDir


def model(count: int, base: type[BaseSettings], directory: Path) -> type[BaseSettings]:
    """A settings model with ``count`` required ``SecretStr`` fields read from ``directory``."""
    fields: dict[str, Any] = {f"secret_{i:04d}": (SecretStr, ...) for i in range(count)}
    created: type[BaseSettings] = create_model(  # type: ignore[call-overload]
        f"Settings{count}{base.__name__}", __base__=base, **fields
    )
    created.model_config = SettingsConfigDict(
        {**created.model_config, "secrets_dir": str(directory)}
    )
    return created


def loads(runs: int, root: Path) -> None:
    """Load time of 100 and 1,000 fields, ours against pydantic-settings' source."""
    models = {}
    for count in (100, 1000):
        directory = root / str(count)
        SecretsDir(directory).write_all(
            {f"secret_{i:04d}": f"value-{i}-{'x' * 24}\n" for i in range(count)}
        )
        models[count] = (directory, model(count, BaseSettings, directory))
    directory_1000, model_1000 = models[1000]
    directory_100, model_100 = models[100]

    theirs = SecretsSettingsSource(model_1000, secrets_dir=directory_1000)()
    ours = RunSecretsSettingsSource(model_1000, directory_1000)()
    assert {k: v.strip() for k, v in theirs.items()} == {k: v for k, v in ours.items()}, (
        "the two sources disagree"
    )

    times = time_calls(
        {
            "theirs 1000": lambda: SecretsSettingsSource(model_1000, secrets_dir=directory_1000)(),
            "ours 1000": lambda: RunSecretsSettingsSource(model_1000, directory_1000)(),
            "ours 100": lambda: RunSecretsSettingsSource(model_100, directory_100)(),
        },
        runs,
    )
    ratio = times["theirs 1000"] / times["ours 1000"]
    print(
        f"load 1,000 secret fields: pydantic-settings SecretsSettingsSource "
        f"{times['theirs 1000'] * 1e3:.1f} ms, ours {times['ours 1000'] * 1e3:.1f} ms: "
        f"{ratio:.1f}x faster (target >= 20x) {verdict(ratio, 20, at_least=True)}"
    )
    linear = times["ours 1000"] / times["ours 100"]
    print(
        f"ours, 100 -> 1,000 fields: {times['ours 100'] * 1e3:.2f} ms -> "
        f"{times['ours 1000'] * 1e3:.1f} ms: {linear:.1f}x for 10x the fields "
        f"(target <= 12x) {verdict(linear, 12)}"
    )

    whole_model = model(1000, SecretsSettings, directory_1000)
    whole = time_calls({"theirs": model_1000, "ours": whole_model}, runs)
    ratio = whole["theirs"] / whole["ours"]
    print(
        f"whole model, 1,000 secret fields: BaseSettings with secrets_dir "
        f"{whole['theirs'] * 1e3:.1f} ms, SecretsSettings {whole['ours'] * 1e3:.1f} ms: "
        f"{ratio:.1f}x faster (target >= 20x) {verdict(ratio, 20, at_least=True)}"
    )


class Plain:
    """The baseline: an object with an ordinary instance attribute."""

    def __init__(self, value: object) -> None:
        self.current = value


def current_access(runs: int, root: Path) -> None:
    """``LiveSettings.current`` against a plain attribute read."""
    directory = root / "live"
    SecretsDir(directory).write_all({"secret_0000": "value"})
    settings_cls = model(1, SecretsSettings, directory)
    with warn_free():
        settings = live(settings_cls, watch=False)
    plain = Plain(settings.current)
    number = 1_000_000
    timers = {
        "plain": timeit.Timer("holder.current", globals={"holder": plain}),
        "live": timeit.Timer("holder.current", globals={"holder": settings}),
    }
    samples: dict[str, list[float]] = {label: [] for label in timers}
    for _ in range(runs):
        for label, timer in timers.items():
            samples[label].append(timer.timeit(number) / number)
    plain_time = sorted(samples["plain"])[len(samples["plain"]) // 2]
    live_time = sorted(samples["live"])[len(samples["live"]) // 2]
    ratio = live_time / plain_time
    print(
        f"LiveSettings.current: {live_time * 1e9:.1f} ns vs plain attribute "
        f"{plain_time * 1e9:.1f} ns: {ratio:.2f}x (target <= 2x) {verdict(ratio, 2)}"
    )


def warn_free() -> Any:
    """A context in which no warning is printed (none is expected)."""
    import warnings

    context = warnings.catch_warnings()
    warnings.simplefilter("error")
    return context


def main() -> None:
    """Run every figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="interleaved runs per figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        loads(args.runs, Path(root))
        current_access(args.runs, Path(root))


if __name__ == "__main__":
    main()
