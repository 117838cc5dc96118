"""The errors of the suites piece: a bad suite file, an unknown suite, a case or trace that cannot be added."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_flywheel.errors import FlywheelError


@dataclass(frozen=True, order=True)
class SuiteProblem:
    """One thing wrong in a suite file, at a 1-based line. ``field`` is a path such as ``cases[2].input``."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class SuiteFileError(FlywheelError, ValueError):
    """A suite file that cannot be used; ``str()`` is one ``path:line: field: what is wrong`` per line."""

    def __init__(self, problems: list[SuiteProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.field))
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @property
    def path(self) -> Path:
        return Path(self.problems[0].path)


class CassettePathError(FlywheelError, ValueError):
    """A case's cassette path that resolves outside the project's flywheel folder."""


class SuiteNotFoundError(FlywheelError, LookupError):
    """A suite name with no file in the suites folder."""


class CaseError(FlywheelError, ValueError):
    """A case that cannot be added: a bad id or assertion, a duplicate id, a target mismatch."""


class DuplicateCaseError(CaseError):
    """A new case that looks like one the suite already has (``existing`` is that case's id)."""

    def __init__(self, message: str, *, existing: str, why: str) -> None:
        super().__init__(message)
        self.existing = existing
        self.why = why


class CaptureError(FlywheelError, ValueError):
    """A trace that cannot become a replayable case: unknown, no entrypoint, input not JSON-safe."""
