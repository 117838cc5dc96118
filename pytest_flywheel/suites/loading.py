"""Finding and loading suite files: ``load_suite``, ``find_suite_path``, ``list_suite_paths``."""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_flywheel.config import Settings
from pytest_flywheel.suites.errors import SuiteFileError, SuiteNotFoundError, SuiteProblem
from pytest_flywheel.suites.models import Case, SuiteFile
from pytest_flywheel.suites.reading import PathKey, parse_yaml
from pytest_flywheel.suites.validation import cassette_problems, validate_suite_data

SUITE_SUFFIXES = (".yaml", ".yml")
#: suite files larger than this are not read (25,000 cases take about 1 MB)
MAX_SUITE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class LoadedSuite:
    """A valid suite file: where it is, its typed contents, and the line of each case."""

    path: Path
    suite: SuiteFile
    case_lines: dict[str, int] = field(default_factory=dict)
    #: the 1-based line of any key in the file, by its path (``("cases", 0, "cassette")``)
    field_line: Callable[[tuple[PathKey, ...]], int] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.suite.name

    def line_of(self, case_id: str) -> int:
        """The 1-based line where the case starts (its ``- id:`` item); KeyError for an unknown id."""
        try:
            return self.case_lines[case_id]
        except KeyError:
            raise KeyError(f"suite {self.suite.name!r} ({self.path}) has no case {case_id!r}") from None

    def cassette_problems(self, settings: Settings) -> list[SuiteProblem]:
        """Every case's cassette checked: inside the flywheel folder, and a cassette the replay can use
        (``path:line: field: what is wrong``, in the suite file or the cassette)."""
        return cassette_problems(
            self.suite,
            path=display_path(self.path),
            line_of=self.field_line or (lambda where: self.line_of(self.suite.cases[int(where[1])].id)),
            settings=settings,
            shown=display_path,
        )

    def case(self, case_id: str) -> Case:
        found = self.suite.case(case_id)
        if found is None:
            raise KeyError(f"suite {self.suite.name!r} ({self.path}) has no case {case_id!r}")
        return found


def display_path(path: Path) -> str:
    """The path as errors show it: relative to the working directory when it lies below it.

    Bytes of the name that are not UTF-8 show as U+FFFD, so that the message can always be printed.
    """
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path)
    return shown.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_suite_text(text: str, path: Path) -> LoadedSuite:
    """Validate ``text`` as the contents of the suite file ``path``; :class:`SuiteFileError` lists every problem."""
    shown = display_path(path)
    parsed, problems = parse_yaml(text, shown)
    if parsed is None:
        raise SuiteFileError(problems)
    suite, problems = validate_suite_data(parsed.data, path=shown, line_of=parsed.line_of)
    if suite is None or problems:
        raise SuiteFileError(problems)
    lines = {case.id: parsed.line_of(("cases", index)) for index, case in enumerate(suite.cases)}
    return LoadedSuite(path=path, suite=suite, case_lines=lines, field_line=parsed.line_of)


def load_suite(path: Path | str) -> LoadedSuite:
    """Read and validate one suite file. Raises :class:`SuiteFileError` (``path:line: field: what is wrong``)."""
    path = Path(path)
    try:
        data = _read_suite_bytes(path)
    except FileNotFoundError:
        raise SuiteFileError([SuiteProblem(display_path(path), 1, "suite", "no such file")]) from None
    except OSError as exc:
        raise SuiteFileError(
            [SuiteProblem(display_path(path), 1, "suite", f"cannot be read: {exc.strerror or exc}")]
        ) from None
    except ValueError as exc:
        raise SuiteFileError([SuiteProblem(display_path(path), 1, "suite", str(exc))]) from None
    try:
        text = data.decode("utf-8-sig")  # an editor may have added a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuiteFileError(
            [
                SuiteProblem(
                    display_path(path), line, "suite", f"not UTF-8 text (byte {exc.start}); save it as UTF-8"
                )
            ]
        ) from None
    if "\r" in text:  # as a file read in text mode sees it (universal newlines)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return parse_suite_text(text, path)


def _read_suite_bytes(path: Path) -> bytes:
    """The file's bytes; ValueError for what is not a regular file (reading a pipe or a device such as
    /dev/zero would never end) or is larger than :data:`MAX_SUITE_BYTES`."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError("not a regular file (a folder, a device or a pipe); give the path of a suite file")
    with path.open("rb") as file:
        data = file.read(MAX_SUITE_BYTES + 1)
    if len(data) > MAX_SUITE_BYTES:
        raise ValueError(
            f"larger than {MAX_SUITE_BYTES // 1024 // 1024} MB, which is more than a suite file should hold; "
            "split it into several suites"
        )
    return data


def list_suite_paths(settings: Settings) -> list[Path]:
    """Every suite file in the suites folder (``flywheel/suites/*.yaml``), sorted by name."""
    folder = settings.suites_dir
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in SUITE_SUFFIXES and path.is_file() and not path.name.startswith(".")
    )


def suite_path_for(name: str, settings: Settings) -> Path:
    """Where the suite ``name`` lives, whether or not it exists yet (an existing ``.yml`` wins)."""
    for suffix in SUITE_SUFFIXES:
        candidate = settings.suites_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return settings.suites_dir / f"{name}.yaml"


def find_suite_path(name: str, settings: Settings) -> Path:
    """The file of an existing suite; :class:`SuiteNotFoundError` naming the suites there are otherwise."""
    path = suite_path_for(name, settings)
    if path.is_file():
        return path
    available = [candidate.stem for candidate in list_suite_paths(settings)]
    where = display_path(settings.suites_dir)
    if available:
        raise SuiteNotFoundError(
            f"no suite named {name!r}: there is no {name}.yaml in {where}; the suites are: {', '.join(available)}"
        )
    raise SuiteNotFoundError(
        f"no suite named {name!r}: {where} holds no suites yet; add a case with "
        f"`flywheel suite add {name} --trace TRACE_ID --assert ...`"
    )
