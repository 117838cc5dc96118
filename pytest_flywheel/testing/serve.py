"""``python -m pytest_flywheel.testing``: the loopback Messages API as a process of its own.

Try the judge (or an agent) with no API key: start the server, point the Anthropic SDK at it with
``ANTHROPIC_BASE_URL``, and give any key. How it answers the judge (a request that forces the
``record_verdicts`` tool) is set by ``--judge``:

* ``pass`` / ``fail``: every criterion passes / fails;
* a JSON file: a script of replies, answered in order, one per request (see :func:`read_script`);
  when it runs out, every further request gets an HTTP 500, so a judge can never pass by accident;
* left out: a criterion passes when the output holds every word it quotes in single quotes
  (``"The reply must mention 'refund'"``).

``flywheel triage``'s labeller (a request forcing ``record_failure_labels``) gets no LLM label for any
trace, so triage and ``candidates propose`` work on the rule labels alone. Any other request (an
agent's own model call) gets a short text reply, except in script mode, where the script answers
every request.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.testing.messages_api import (
    ErrorReply,
    Handler,
    MessagesAPIServer,
    RecordedRequest,
    Reply,
    text_message,
    tool_use_message,
)

PROG = "python -m pytest_flywheel.testing"
_TRACE_FENCE = re.compile(r'<trace index="\d+">')


class ScriptError(FlywheelError):
    """A ``--judge`` script file that cannot be used: names the file, the reply and what is wrong."""


def forced_tool(request: RecordedRequest) -> str | None:
    """The tool a request forces the model to call (``tool_choice`` of type ``tool``), or None."""
    choice = request.body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return None


def is_judge_request(request: RecordedRequest) -> bool:
    """A request of the flywheel judge: it forces the verdict tool."""
    from pytest_flywheel.judge.prompt import TOOL_NAME

    return forced_tool(request) == TOOL_NAME


def no_failure_labels(request: RecordedRequest) -> Reply:
    """The answer to ``flywheel triage``'s labeller: no LLM label for any trace of the batch (the rule
    labels stand alone), so triage and ``candidates propose`` run with no key as they would with one."""
    from pytest_flywheel.evolve.llm_labels import TOOL_NAME

    messages = request.body.get("messages") or [{}]
    content = messages[0].get("content") if isinstance(messages[0], dict) else ""
    count = len(_TRACE_FENCE.findall(content if isinstance(content, str) else ""))
    entries = [{"index": index, "labels": []} for index in range(count)]
    return tool_use_message(TOOL_NAME, {"traces": entries}, model=str(request.body.get("model", "claude-sonnet-5-5")))


def _verdict(where: str, item: Any, index: int) -> dict[str, Any]:
    if isinstance(item, bool):
        item = {"passed": item}
    if not isinstance(item, dict) or not isinstance(item.get("passed"), bool):
        raise ScriptError(f"{where}: verdict {index} must be true, false or {{\"passed\": true, ...}}")
    reason = item.get("reason", f"Scripted verdict: {'pass' if item['passed'] else 'fail'}.")
    confidence = item.get("confidence", 1.0)
    if not isinstance(reason, str) or not reason.strip():
        raise ScriptError(f"{where}: verdict {index}: reason must be a non-empty string")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ScriptError(f"{where}: verdict {index}: confidence must be a number from 0 to 1")
    return {"index": index, "reason": reason, "passed": item["passed"], "confidence": float(confidence)}


def _reply(where: str, item: Any) -> Reply:
    from pytest_flywheel.judge.loopback import verdict_reply

    if not isinstance(item, dict):
        raise ScriptError(f"{where}: expected an object with verdicts, text, error or a whole message")
    if item.get("type") == "message":
        return item
    if "verdicts" in item:
        verdicts = item["verdicts"]
        if not isinstance(verdicts, list):
            raise ScriptError(f"{where}: verdicts must be a list")
        return verdict_reply([_verdict(where, v, index) for index, v in enumerate(verdicts)])
    if "text" in item:
        if not isinstance(item["text"], str):
            raise ScriptError(f"{where}: text must be a string")
        return text_message(item["text"])
    if "error" in item:
        error = item["error"]
        status = error.get("status", 500) if isinstance(error, dict) else None
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ScriptError(f"{where}: error must be an object with an HTTP status from 400 to 599")
        return ErrorReply(
            status, str(error.get("type", "api_error")), str(error.get("message", "Scripted error"))
        )
    raise ScriptError(f"{where}: expected one of the keys verdicts, text, error, or a message (type: message)")


def read_script(path: Path) -> list[Reply]:
    """The replies of a ``--judge`` script file: a JSON list, one reply per request, in order.

    Each reply is ``{"verdicts": [true, false, {"passed": false, "reason": "...", "confidence": 0.7}]}``
    (one verdict per criterion, by position), ``{"text": "..."}``, ``{"error": {"status": 529, "type":
    "overloaded_error", "message": "..."}}``, or a whole Messages API message (``"type": "message"``).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except OSError as exc:
        raise ScriptError(f"cannot read the script {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path} is not UTF-8 text: a script is a JSON file") from None
    except ValueError as exc:
        raise ScriptError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ScriptError(f"{path}: expected a JSON list of replies, one per request")
    return [_reply(f"{path}: reply {number}", item) for number, item in enumerate(data, 1)]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def judge_handler(mode: str) -> Handler:
    """The server's handler for ``--judge pass`` or ``fail``, or the quoted-words rule for ``None``."""
    from pytest_flywheel.judge.loopback import verdict_handler

    if mode == "pass":
        judge = verdict_handler(lambda criterion, prompt: (True, "Loopback judge: passes every criterion."))
    elif mode == "fail":
        judge = verdict_handler(lambda criterion, prompt: (False, "Loopback judge: fails every criterion."))
    else:
        judge = verdict_handler()

    from pytest_flywheel.evolve.llm_labels import TOOL_NAME as LABELS_TOOL

    def handle(request: RecordedRequest) -> Reply:
        tool = forced_tool(request)
        if is_judge_request(request):
            return judge(request)
        if tool == LABELS_TOOL:
            return no_failure_labels(request)
        return text_message("OK", model=str(request.body.get("model", "claude-sonnet-5-5")))

    return handle


def script_handler(replies: list[Reply], path: Path) -> Handler:
    """Answer with ``replies`` in order; once they are used up, an HTTP 500 naming the script."""
    remaining = deque(replies)
    lock = threading.Lock()

    def handle(request: RecordedRequest) -> Reply:
        with lock:
            if remaining:
                return remaining.popleft()
        return ErrorReply(500, "api_error", f"the script {path} has no reply left for this request")

    return handle


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a port from 0 to 65535 (0: any free port)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the Anthropic Messages API on loopback, with a stand-in judge: try judging with "
        "no API key (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT, any ANTHROPIC_API_KEY).",
    )
    parser.add_argument("--port", type=_port, default=0, metavar="N", help="The port (default 0: any free one)")
    parser.add_argument(
        "--judge",
        metavar="pass|fail|SCRIPT",
        help="Pass or fail every criterion, or answer from a JSON script of replies (default: a criterion "
        "passes when the output holds every word it quotes in 'single quotes')",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mode = args.judge
    try:
        if mode in (None, "pass", "fail"):
            handler = judge_handler(mode)
        else:
            path = Path(mode)
            handler = script_handler(read_script(path), path)
        server = MessagesAPIServer(handler, port=args.port).start()
    except FlywheelError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on port {args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    described = {None: "quoted words", "pass": "pass", "fail": "fail"}.get(mode, f"script {mode}")
    print(f"Messages API on {server.base_url} (judge: {described}); stop with Ctrl-C", flush=True)
    print(f"  export ANTHROPIC_BASE_URL={server.base_url} ANTHROPIC_API_KEY=loopback", flush=True)
    try:
        while not stop.wait(timeout=1.0):  # a short wait: Ctrl-C is seen on every platform
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print(f"Stopped after {len(server.requests)} request{'s' if len(server.requests) != 1 else ''}.", flush=True)
    return 0
