"""Core benchmarks (issue 2): import + get, ``runsecrets exec -- true``, reading 1,000 files.

Run: ``python benchmarks/bench_core.py [--runs N]``. Prints each figure as a ratio to a
baseline measured in the same run, with the target.
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import bytecode_env, time_calls, time_commands, verdict

import runsecrets


def startup(runs: int, directory: Path) -> None:
    """``import runsecrets; get()`` and ``runsecrets exec -- true`` against ``python -c pass``."""
    compileall.compile_dir(Path(runsecrets.__file__).parent, quiet=1)
    python = sys.executable
    script = shutil.which("runsecrets", path=str(Path(python).parent))
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "import + get": [
            python,
            "-c",
            f"import runsecrets; runsecrets.get('x', dirs=[{str(directory)!r}])",
        ],
        "python -m runsecrets exec -- true": [python, "-m", "runsecrets", "exec", "--", "true"],
    }
    if script:
        commands["runsecrets exec -- true"] = [script, "exec", "--", "true"]
    env = bytecode_env()
    for key in [k for k in env if k.endswith("_FILE")]:
        del env[key]  # exec would inline them; measure the bare wrapper
    medians = time_commands(commands, runs, env=env)
    base = medians["python -c pass"]
    print(f"python -c pass: {base * 1000:.2f} ms (baseline)")
    # The targets; ``python -m`` adds runpy's own imports and is shown for scale.
    targets = {"import + get": 1.3, "runsecrets exec -- true": 1.5}
    for label, seconds in medians.items():
        if label == "python -c pass":
            continue
        ratio = seconds / base
        target = targets.get(label)
        judged = "for scale" if target is None else f"target <= {target}x: {verdict(ratio, target)}"
        print(f"{label}: {seconds * 1000:.2f} ms, {ratio:.2f}x baseline ({judged})")


def read_many(runs: int, directory: Path, count: int = 1000) -> None:
    """Reading ``count`` secrets with ``Secrets.get`` against plain ``open().read()``."""
    names = [f"secret_{i:04d}" for i in range(count)]
    for name in names:
        (directory / name).write_text(f"value-{name}\n")
    paths = [str(directory / name) for name in names]
    secrets = runsecrets.Secrets(directory, environ={})

    def plain() -> None:
        for path in paths:
            with open(path) as f:
                f.read()

    def ours() -> None:
        for name in names:
            secrets.get(name)

    medians = time_calls({"open().read()": plain, "Secrets.get": ours}, runs)
    ratio = medians["Secrets.get"] / medians["open().read()"]
    print(
        f"read {count} secrets: open().read() {medians['open().read()'] * 1000:.2f} ms, "
        f"Secrets.get {medians['Secrets.get'] * 1000:.2f} ms, {ratio:.2f}x "
        f"(target <= 2x: {verdict(ratio, 2.0)})"
    )


def main() -> None:
    """Run every core benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "x").write_text("value\n")
        startup(args.runs, directory)
        many = directory / "many"
        many.mkdir()
        read_many(max(5, args.runs // 4), many)


if __name__ == "__main__":
    main()
