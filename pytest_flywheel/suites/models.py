"""The typed model of a suite file, format version 1.

A suite file is first checked against the JSON Schema shipped beside this module
(``suite.schema.json``), which gives the precise ``path:line: field:`` errors; these pydantic models then
give the rest of the code typed access. Both describe the same format: change them together.

.. code-block:: yaml

    version: 1
    name: customer-support-qa
    description: Answers to customers about their orders.
    target: support.agent:answer        # module:qualname of the entrypoint
    judge: {model: claude-sonnet-5-5}   # optional
    cases:
      - id: where-is-my-order-7f3a1c
        input: {question: Where is my order 1234?}
        assertions:
          - The response must give the order's delivery date.
          - contains: "1234"
          - tool_called: lookup_order
            args: {order_id: "1234"}
        tags: [orders]
        source: {trace_id: 0192..., project: default, captured_at: "2026-11-22T02:39:00Z"}
        notes: Production answer invented a date.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pytest_flywheel.config import Settings
from pytest_flywheel.judge.checks import CHECK_KINDS as JUDGE_CHECK_KINDS
from pytest_flywheel.suites.errors import CassettePathError

SUITE_FORMAT_VERSION: Literal[1] = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_data(self) -> dict[str, Any]:
        """The JSON-safe mapping written to a suite file (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class ContainsCheck(_Model):
    """The output (as text) contains this string."""

    contains: str = Field(min_length=1)


class NotContainsCheck(_Model):
    """The output (as text) does not contain this string."""

    not_contains: str = Field(min_length=1)


class RegexCheck(_Model):
    """The output (as text) matches this regular expression (``re.search``)."""

    regex: str = Field(min_length=1)


class JsonSchemaCheck(_Model):
    """The output is valid under this JSON Schema."""

    json_schema: dict[str, Any]


class ToolCalledCheck(_Model):
    """The trajectory holds a call of this tool; ``args``, when given, match as a subset of its arguments."""

    tool_called: str = Field(min_length=1)
    args: dict[str, Any] | None = None


class MaxLatencyCheck(_Model):
    """The entrypoint's call took at most this many milliseconds."""

    max_latency_ms: float = Field(gt=0)


class MaxCostCheck(_Model):
    """The LLM calls of the case cost at most this many US dollars."""

    max_cost_usd: float = Field(ge=0)


class CustomCheck(_Model):
    """A kind of the project's own: ``{kind: NAME, ...parameters}``, answered by a
    ``pytest_flywheel_check`` hook implementation."""

    custom: dict[str, Any]


Check = (
    ContainsCheck
    | NotContainsCheck
    | RegexCheck
    | JsonSchemaCheck
    | ToolCalledCheck
    | MaxLatencyCheck
    | MaxCostCheck
    | CustomCheck
)
#: An assertion: a sentence for the LLM judge, or a deterministic check.
Assertion = str | Check

#: The keys that name a check kind, in the order the docs list them: the judge's, which runs them.
CHECK_KINDS: tuple[str, ...] = JUDGE_CHECK_KINDS


def check_spec(check: Check) -> dict[str, Any]:
    """A check as the plain one-key mapping the judge's ``run_check(spec, ...)`` takes."""
    return check.to_data()


class CaseSource(_Model):
    """The production trace a case was captured from."""

    trace_id: str = Field(min_length=1)
    project: str | None = None
    captured_at: str | None = None


class JudgeSettings(_Model):
    """Per-suite judge settings; anything left out comes from the pytest options and ``[tool.flywheel]``."""

    model: str | None = None
    backend: str | None = None
    options: dict[str, Any] | None = None


class Case(_Model):
    """One test case: call the suite's target with ``input`` and check every assertion on the result."""

    id: str
    input: dict[str, Any]
    assertions: list[Assertion] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    source: CaseSource | None = None
    cassette: str | None = None
    notes: str | None = None
    #: How many times the case runs when it calls the model, and how many runs must pass (the suite's
    #: values when unset; the pass threshold defaults to every run).
    runs: int | None = Field(default=None, ge=1, le=100)
    pass_threshold: int | None = Field(default=None, ge=1, le=100)

    @property
    def sentences(self) -> list[str]:
        """The natural-language assertions, for the LLM judge."""
        return [item for item in self.assertions if isinstance(item, str)]

    @property
    def checks(self) -> list[Check]:
        """The deterministic checks, which need no judge."""
        return [item for item in self.assertions if not isinstance(item, str)]

    def cassette_path(self, settings: Settings, suite_name: str) -> Path:
        """Where this case's cassette lives: ``cassette`` (relative to the project root) or the default
        ``<flywheel dir>/cassettes/<suite>/<case-id>.yaml``.

        Raises :class:`~pytest_flywheel.suites.errors.CassettePathError` when that path resolves
        (symbolic links followed) outside the flywheel folder: a suite file must not make a recording
        run write, or a replay read, anywhere else.
        """
        if self.cassette:
            path = settings.root / self.cassette
        else:
            path = settings.cassettes_dir / suite_name / f"{self.id}.yaml"
        folder = Path(os.path.realpath(settings.dir))
        resolved = Path(os.path.realpath(path))
        if not resolved.is_relative_to(folder) or resolved == folder:
            given = f"cassette {self.cassette!r}" if self.cassette else f"default cassette {path}"
            raise CassettePathError(
                f"case {self.id!r} of suite {suite_name!r}: its {given} resolves to {resolved}, outside the "
                f"flywheel folder {folder}; a cassette must stay inside it (the default is "
                f"{settings.dir.name}/cassettes/{suite_name}/{self.id}.yaml): fix or remove the case's "
                "cassette field, or the symbolic link that leads out"
            )
        return path

    @field_validator("tags", mode="before")
    @classmethod
    def _no_tags(cls, value: Any) -> Any:
        return [] if value is None else value  # `tags:` left empty in a hand edit

    def to_data(self) -> dict[str, Any]:
        data = super().to_data()
        if not data.get("tags"):
            data.pop("tags", None)
        return data


class SuiteFile(_Model):
    """A whole suite file."""

    version: Literal[1] = SUITE_FORMAT_VERSION
    name: str
    description: str | None = None
    target: str | None = None
    judge: JudgeSettings | None = None
    runs: int | None = Field(default=None, ge=1, le=100)
    pass_threshold: int | None = Field(default=None, ge=1, le=100)
    cases: list[Case] = Field(default_factory=list)

    @field_validator("cases", mode="before")
    @classmethod
    def _no_cases(cls, value: Any) -> Any:
        return [] if value is None else value  # `cases:` left empty in a new file

    def case(self, case_id: str) -> Case | None:
        """The case with this id, or None."""
        for case in self.cases:
            if case.id == case_id:
                return case
        return None

    @property
    def case_ids(self) -> list[str]:
        return [case.id for case in self.cases]
