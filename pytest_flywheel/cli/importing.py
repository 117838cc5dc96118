"""``flywheel import``: traces made elsewhere (OpenTelemetry, Langfuse, Opik, another store) into the store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, add_target_store_option, print_json, store_path
from pytest_flywheel.errors import FlywheelError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pytest_flywheel.interop.importer import FORMATS

    parser = subparsers.add_parser(
        "import",
        help="Import traces from OTLP files, Langfuse or Opik exports, or another store",
        description="Import trace files into the store: OTLP JSON (the OpenTelemetry Collector's file "
        "exporter), OTLP protobuf, Langfuse and Opik exports, another flywheel store. Folders are searched; "
        "'-' reads standard input. A file that is cut short or of another format is refused whole. "
        "Importing the same files again adds nothing.",
    )
    parser.add_argument(
        "paths", nargs="+", type=_source, metavar="PATH", help="Files, folders, or - for standard input"
    )
    parser.add_argument(
        "--format", default="auto", choices=FORMATS, metavar="FORMAT",
        help=f"The files' format: {', '.join(FORMATS)} (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--project", type=values.text, metavar="PROJECT", help="Put every imported span in this project"
    )
    add_json_option(parser, "Print the summary as JSON")
    add_target_store_option(parser, "The trace store to import into (default: FLYWHEEL_STORE, or [tool.flywheel])")
    parser.set_defaults(func=run_import)


def _source_text(text: str) -> str:
    return text if text == "-" else str(values.path(text))


#: A file or folder to import, or ``-`` for standard input.
_source = values.ValueConverter("path", _source_text, "a file, a folder or -")


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None

    def show(summary: Any, where: str) -> None:
        sys.stderr.write(f"\r\x1b[Kimporting {where}: {summary.spans_new:,} spans, {summary.traces_new:,} traces")
        sys.stderr.flush()

    return show


def run_import(args: argparse.Namespace) -> int:
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.interop import MapOptions, import_paths

    settings = load_settings()
    target = store_path(args)
    options = MapOptions(default_project=settings.project, project=args.project, prices=settings.prices,
                         max_payload_bytes=settings.max_payload_bytes)
    progress = None if args.json else _progress_printer()
    try:
        result = import_paths(args.paths, store_path=target, format=args.format, options=options, progress=progress)
    finally:
        if progress is not None:
            sys.stderr.write("\r\x1b[K")
    summary = result.summary
    if args.json:
        print_json({**summary.to_json(), "store": str(target), "formats": result.formats,
                    "failed": [{"path": path, "error": error} for path, error in result.failed],
                    "passed_over": result.passed_over})
    else:
        print(f"imported {summary.files} file{'s' if summary.files != 1 else ''} into {target}: "
              f"{summary.traces_new:,} new traces, {summary.spans_new:,} new spans, "
              f"{summary.spans_present:,} already in the store, {summary.feedback_new:,} feedback")
        if result.passed_over:
            print(f"passed over {len(result.passed_over)} files in the folders that hold no trace data: "
                  f"{', '.join(result.passed_over[:3])}{', ...' if len(result.passed_over) > 3 else ''}")
        if summary.skipped:
            print(f"skipped {summary.skipped_total:,} spans:")
            for reason, count in summary.skipped.most_common():
                print(f"  {count:>8,}  {reason}")
        if summary.orphans:
            print(f"orphans: {summary.orphans:,} spans whose parent never arrived (kept; "
                  "`flywheel traces show` draws them under the trace's roots)")
        for _, error in result.failed:
            print(f"flywheel: error: {error}", file=sys.stderr)
    if result.failed:
        return 1
    if summary.files == 0:
        raise FlywheelError(f"no trace files found in {', '.join(args.paths)}: name files, folders holding "
                            ".json, .jsonl, .pb or .db files, or - for standard input")
    return 0
