"""``flywheel collect --listen HOST:PORT``: receive OTLP/HTTP traces (from services or a Collector) into the store."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, add_target_store_option, print_json, store_path
from pytest_flywheel.errors import FlywheelError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="Receive OTLP/HTTP traces into the store until stopped",
        description="An OTLP/HTTP receiver: POST /v1/traces (protobuf or JSON, gzip) from OpenTelemetry SDKs "
        "or a Collector is written into the store. When its queue is full it answers 503 with Retry-After, "
        "so senders retry instead of waiting. Ctrl-C or SIGTERM stops it after writing what it received.",
    )
    parser.add_argument("--listen", type=_listen, default="127.0.0.1:4318", metavar="HOST:PORT",
                        help="Address to listen on (default 127.0.0.1:4318, OTLP/HTTP's port)")
    parser.add_argument("--project", type=values.text, metavar="PROJECT",
                        help="Put every received span in this project (default: the service name)")
    parser.add_argument("--queue-spans", type=values.count, default=100_000, metavar="N",
                        help="Spans held in memory before senders are told to retry (default 100000)")
    add_json_option(parser, "Print the closing summary as JSON")
    add_target_store_option(parser, "The trace store to write (default: FLYWHEEL_STORE, or [tool.flywheel])")
    parser.set_defaults(func=run_collect)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4318`` for IPv6) as (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise FlywheelError(f"--listen {text!r}: expected HOST:PORT, such as 127.0.0.1:4318")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port_text)


def _check_listen(text: str) -> str:
    try:
        parse_listen(text)
    except FlywheelError as exc:
        raise ValueError(str(exc).removeprefix(f"--listen {text!r}: ")) from None
    return text


_listen = values.text_matching("an address", _check_listen)


def run_collect(args: argparse.Namespace) -> int:
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.interop.mapping import MapOptions
    from pytest_flywheel.interop.receiver import OTLPReceiver

    host, port = parse_listen(args.listen)
    settings = load_settings()
    target = store_path(args)
    options = MapOptions(default_project=settings.project, project=args.project, prices=settings.prices,
                         max_payload_bytes=settings.max_payload_bytes, source="otlp-http")
    receiver = OTLPReceiver(target, host=host, port=port, options=options, queue_spans=args.queue_spans)
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        receiver.start()
        print(f"flywheel collect: receiving OTLP traces at {receiver.url} into {target} (Ctrl-C stops)", flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print("flywheel collect: listening beyond this machine; the receiver has no authentication, so keep "
                  "it on a private network (or behind the Collector)", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        summary = receiver.stop()
    stats = receiver.stats
    if args.json:
        print_json({**summary.to_json(), **stats.to_json(), "store": str(target)})
    else:
        print(f"flywheel collect: stopped; {stats.requests:,} requests, {summary.traces_new:,} new traces, "
              f"{summary.spans_new:,} new spans ({summary.spans_present:,} already stored), {summary.orphans:,} "
              f"orphans; refused {stats.rejected_full:,} requests while full and {stats.rejected_bad:,} bad ones")
        for reason, count in summary.skipped.most_common():
            print(f"  skipped {count:,}: {reason}")
    if receiver.queued:
        print(f"flywheel: error: {receiver.queued:,} received spans could not be written to {target} "
              f"({receiver.last_store_error})", file=sys.stderr)
        return 1
    return 0
