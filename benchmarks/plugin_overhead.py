"""What installing pytest-flywheel costs a pytest run that uses none of its features.

Side by side in one run, alternating, each a fresh ``python -m pytest`` process on a project with no
flywheel suite, marker or fixture (20 trivial tests): with the plugin loaded as installed, and with
``-p no:flywheel``. Reports the medians and the difference (target: well under 0.1 s).

    python benchmarks/plugin_overhead.py [--repeat 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(root: Path, *extra: str) -> float:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLYWHEEL_")}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flywheel-overhead-") as folder:
        root = Path(folder)
        (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        tests = "".join(f"def test_{n}():\n    assert {n} == {n}\n\n" for n in range(20))
        (root / "test_plain.py").write_text(tests)
        run(root)  # warm the file system cache and bytecode
        with_plugin: list[float] = []
        without: list[float] = []
        for _ in range(args.repeat):
            with_plugin.append(run(root))
            without.append(run(root, "-p", "no:flywheel"))
        on, off = statistics.median(with_plugin), statistics.median(without)
        print(f"pytest on 20 trivial tests, {args.repeat} runs each, alternating")
        print(f"  with pytest-flywheel    median {on * 1000:.0f} ms")
        print(f"  with -p no:flywheel     median {off * 1000:.0f} ms")
        print(f"  difference: {(on - off) * 1000:+.0f} ms ({on / off:.3f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
