"""What importing tracing costs a production agent, and the price table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_flywheel.config import ModelPrice
from pytest_flywheel.tracing.pricing import cost_usd, find_price, price_for

HEAVY = ["anthropic", "vcr", "pydantic", "pytest", "ruamel", "jsonschema", "httpx2", "httpx"]


@pytest.mark.parametrize("statement", [
    "import pytest_flywheel",
    "import pytest_flywheel.tracing",
    "from pytest_flywheel import track, track_anthropic, log_feedback, flush",
])
def test_importing_tracing_imports_no_sdk_and_no_test_tooling(statement: str) -> None:
    script = f"{statement}\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_a_traced_call_imports_nothing_heavy_either(tmp_path: object) -> None:
    script = (
        "from pytest_flywheel import track, flush\n"
        "@track(entrypoint=True)\ndef f(x): return x\n"
        "f(1); assert flush(10)\n"
        f"import sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_dated_and_suffixed_ids_are_priced_by_their_family() -> None:
    assert find_price("claude-sonnet-4-5-20250929") == find_price("claude-sonnet-4-5")
    assert find_price("claude-opus-5-5[1m]") == find_price("claude-opus-5-5")
    # the longest prefix wins: claude-opus-5-5 is not priced as claude-opus-5
    assert price_for("claude-opus-5-5") == ModelPrice(input=4.0, output=20.0, cache_read=0.20, cache_write=5.0)
    assert price_for("claude-opus-5") == ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25)


def test_costs_count_cache_reads_and_writes() -> None:
    cost = cost_usd("claude-sonnet-5-5", input_tokens=1_000_000, output_tokens=100_000,
                    cache_read_tokens=2_000_000, cache_creation_tokens=400_000)
    assert cost == pytest.approx(2.0 + 1.0 + 0.2 + 1.0)


def test_haiku_5_5_has_a_long_prompt_rate() -> None:
    short = cost_usd("claude-haiku-5-5", input_tokens=100_000, output_tokens=1_000_000)
    long = cost_usd("claude-haiku-5-5", input_tokens=60_000, output_tokens=1_000_000, cache_read_tokens=50_000)
    assert short == pytest.approx(0.01 + 0.50)
    assert long == pytest.approx(0.03 + 2.50 + 0.0025)


def test_unknown_models_and_missing_usage_cost_nothing_rather_than_a_guess() -> None:
    assert cost_usd("gpt-9", input_tokens=10, output_tokens=10) is None
    assert cost_usd(None, input_tokens=10, output_tokens=10) is None
    assert cost_usd("claude-sonnet-5-5", input_tokens=None, output_tokens=None) is None


def test_overrides_win_over_the_table_and_add_models() -> None:
    overrides = {"claude-sonnet-5-5": ModelPrice(input=1.0, output=1.0), "my-proxy-model": ModelPrice(3.0, 3.0)}
    assert cost_usd("claude-sonnet-5-5-20261001", input_tokens=1_000_000, output_tokens=0,
                    overrides=overrides) == pytest.approx(1.0)
    assert cost_usd("my-proxy-model", input_tokens=0, output_tokens=1_000_000,
                    overrides=overrides) == pytest.approx(3.0)
