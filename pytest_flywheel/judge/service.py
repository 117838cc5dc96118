"""A judge in front of the verdict cache: cached verdicts are served, only the rest are judged.

The plugin holds one :class:`CachedJudge` per session (per xdist worker). For each case it asks for
all the case's sentence assertions at once; the ones whose key is in the cache come back at once
(``cached=True``), the others go to the judge in one call, and their verdicts are put in the cache.

With ``repeats=N`` the judge answers the missing assertions N times, in N separate calls that overlap
like any others; each verdict is the majority of its N answers (a tie fails), and the answers are
kept with it (``Verdict.votes``), in the cache too, so a later run still knows an assertion whose
answers split. A cached verdict with fewer answers than asked for is judged again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import replace
from typing import Any

from pytest_flywheel.judge.cache import VerdictCache, VerdictEntry, verdict_keys
from pytest_flywheel.judge.types import CallUsage, Judge, JudgeError, JudgeRequest, JudgeUsage, Verdict


def _quote(assertions: list[str], limit: int = 5) -> str:
    shown = "; ".join(f"\"{text}\"" for text in assertions[:limit])
    return shown + (f"; and {len(assertions) - limit} more" if len(assertions) > limit else "")


class CachedJudge:
    """Serve verdicts from ``cache``; judge the rest with ``judge``.

    ``offline``: never call the judge; an assertion with no cached verdict is a :class:`JudgeError`
    (``--flywheel-offline``). ``update``: ignore cached verdicts, judge everything again and overwrite
    them (``--flywheel-update-verdicts``).
    """

    def __init__(
        self,
        judge: Judge,
        cache: VerdictCache,
        *,
        offline: bool = False,
        update: bool = False,
        repeats: int = 1,
        override: Callable[[list[Verdict]], list[Verdict]] | None = None,
        redact: Callable[[Any], Any] | None = None,
    ) -> None:
        if offline and update:
            raise ValueError("offline and update exclude each other: updating verdicts needs judge calls")
        if repeats < 1:
            raise ValueError(f"repeats={repeats!r}: the judge answers at least once")
        self.judge = judge
        self.cache = cache
        self.offline = offline
        self.update = update
        self.repeats = repeats
        #: Applied to every request's verdicts last (the plugin's people's labels).
        self.override = override
        #: Applied to a request's input, output and trajectory before they are keyed or judged (the
        #: plugin's redactor). A recording run sees the agent's raw reply and tool results, while its
        #: cassette, and so every replay, holds them redacted: keyed raw, the verdicts a recording paid
        #: for would never be found again offline; and secrets have no business in the judge's prompt.
        self.redact = redact
        #: Verdicts served and judged through this service, and the calls behind them.
        self.usage = JudgeUsage()

    # -- planning ---------------------------------------------------------------------------------

    def keys_for(self, request: JudgeRequest) -> list[str]:
        """The cache key of each of ``request``'s assertions."""
        return self._keys(self._redacted(request))

    def _keys(self, request: JudgeRequest) -> list[str]:
        return verdict_keys(self.judge, request.assertions, request.input, request.output, request.trajectory)

    def _redacted(self, request: JudgeRequest) -> JudgeRequest:
        redact = self.redact
        if redact is None:
            return request
        return replace(
            request,
            input=redact(request.input),
            output=redact(request.output),
            trajectory=list(redact(request.trajectory)),
        )

    def _split(self, request: JudgeRequest) -> tuple[list[str], dict[int, Verdict], list[int]]:
        keys = self._keys(request)
        found: dict[int, Verdict] = {}
        missing: list[int] = []
        for index, key in enumerate(keys):
            entry = None if self.update else self.cache.get(key)
            self.cache.mark_used(key)
            if entry is not None and self.repeats > 1 and len(entry.votes or (entry.passed,)) < self.repeats:
                entry = None  # fewer answers than asked for: judged again, this time N times
            if entry is None:
                missing.append(index)
            else:
                found[index] = replace(entry.to_verdict(cached=True), assertion=request.assertions[index])
        if missing and self.offline:
            lacking = [request.assertions[index] for index in missing]
            of = f" of {request.label}" if request.label else ""
            path = self.cache.path or "the verdict file"
            raise JudgeError(
                f"No cached verdict for {len(lacking)} assertion{'s' if len(lacking) != 1 else ''}{of} "
                f"({_quote(lacking)}) and judge calls are off (--flywheel-offline). Run without "
                f"--flywheel-offline (with ANTHROPIC_API_KEY set) to judge them, then commit {path}.",
                assertions=lacking,
            )
        return keys, found, missing

    def _finish(
        self,
        request: JudgeRequest,
        keys: list[str],
        found: dict[int, Verdict],
        missing: list[int],
        judged: list[Verdict],
    ) -> list[Verdict]:
        if len(judged) != len(missing):
            raise JudgeError(
                f"The judge {self.judge.backend}/{self.judge.model} answered {len(judged)} verdicts for "
                f"{len(missing)} assertions; a judge must give one verdict per assertion, in order.",
                assertions=[request.assertions[index] for index in missing],
            )
        results = dict(found)
        if judged and all(verdict.usage is None for verdict in judged):
            # a plugin's judge that reports no usage: its calls still count, with no tokens
            no_usage = CallUsage(model=self.judge.model, calls=self.repeats)
            judged = [replace(verdict, usage=no_usage) for verdict in judged]
        entries: dict[str, VerdictEntry] = {}
        for index, verdict in zip(missing, judged, strict=True):
            key = keys[index]
            verdict = replace(verdict, assertion=request.assertions[index], key=key, cached=False)
            entries[key] = VerdictEntry.from_verdict(verdict, key=key, judge=self.judge, case=request.label)
            results[index] = verdict
        self.cache.put_many(entries)  # appended to the file now: a killed session keeps what it paid for
        ordered = [results[index] for index in range(len(request.assertions))]
        self.usage.add_verdicts(ordered)
        return self.override(ordered) if self.override is not None else ordered

    def _missing_request(self, request: JudgeRequest, missing: list[int]) -> JudgeRequest:
        return replace(request, assertions=[request.assertions[index] for index in missing])

    # -- the API ----------------------------------------------------------------------------------

    def evaluate(self, request: JudgeRequest) -> list[Verdict]:
        """One verdict per assertion of ``request``, in order; raises :class:`JudgeError`."""
        request = self._redacted(request)
        keys, found, missing = self._split(request)
        judged: list[Verdict] = []
        if missing:
            asked = self._missing_request(request, missing)
            try:
                judged = majority([self.judge.judge(asked) for _ in range(self.repeats)])
            except JudgeError as exc:
                raise self._why_judged(exc, keys, missing) from exc
        return self._finish(request, keys, found, missing, judged)

    def _why_judged(self, error: BaseException, keys: list[str], missing: list[int]) -> BaseException:
        """A judge error under ``update`` also says that cached verdicts were passed over on purpose
        (the judge's own advice, to commit the verdict file, cannot help then)."""
        if not self.update or not isinstance(error, JudgeError):
            return error
        cached = sum(1 for index in missing if self.cache.get(keys[index]) is not None)
        if not cached:
            return error
        return JudgeError(
            f"{error} --flywheel-update-verdicts asks the judge again for every assertion: {cached} of these "
            "have a cached verdict, which a run without the flag uses.",
            assertions=error.assertions,
        )

    def submit(self, request: JudgeRequest) -> Future[list[Verdict]]:
        """Like :meth:`evaluate`, but the judge call runs on the judge's pool; a fully cached request
        gives an already finished future. Errors (offline misses too) arrive through the future.
        Cancelling the future cancels the judge call if it has not started yet."""
        result: Future[list[Verdict]] = Future()
        request = self._redacted(request)
        try:
            keys, found, missing = self._split(request)
        except JudgeError as exc:
            result.set_exception(exc)
            return result
        if not missing:
            result.set_result(self._finish(request, keys, found, missing, []))
            return result
        asked = self._missing_request(request, missing)
        inner = _all_of([self.judge.submit(asked) for _ in range(self.repeats)])

        def done(call: Future[list[list[Verdict]]]) -> None:
            if call.cancelled():
                result.cancel()
                return
            try:
                # verdicts of a call that finished are cached even if the caller gave up on them
                judged = majority(call.result())
                outcome: list[Verdict] | BaseException = self._finish(request, keys, found, missing, judged)
            except BaseException as exc:  # the caller sees the judge's own error through the future
                outcome = self._why_judged(exc, keys, missing)
            try:
                if isinstance(outcome, BaseException):
                    result.set_exception(outcome)
                else:
                    result.set_result(outcome)
            except InvalidStateError:  # the caller cancelled the future meanwhile
                pass

        def cancelled(outer: Future[list[Verdict]]) -> None:
            if outer.cancelled():
                inner.cancel()  # a call not yet started is never made

        result.add_done_callback(cancelled)
        inner.add_done_callback(done)
        return result

    def close(self) -> None:
        """Wait for judge calls still running and release the judge's threads."""
        close = getattr(self.judge, "close", None)
        if callable(close):
            close()


def majority(answers: Sequence[list[Verdict]]) -> list[Verdict]:
    """One verdict per assertion from one or more calls' answers: with one call, its verdicts; with
    several, each assertion's majority (a tie fails), its answers in ``votes``, the reason of an
    answer agreeing with the majority, and the calls' usage added up."""
    if len(answers) == 1:
        return list(answers[0])
    counts = {len(answer) for answer in answers}
    if len(counts) != 1:
        raise JudgeError(
            f"the judge's repeats answered different numbers of assertions ({sorted(counts)}); a judge "
            "must give one verdict per assertion, in order"
        )
    usages = [answer[0].usage for answer in answers if answer and answer[0].usage is not None]
    combined = _combined_usage(usages, calls=len(answers)) if usages else None
    verdicts: list[Verdict] = []
    for position in range(counts.pop()):
        votes = tuple(bool(answer[position].passed) for answer in answers)
        passed = sum(votes) * 2 > len(votes)
        chosen = next(answer[position] for answer in answers if bool(answer[position].passed) == passed)
        verdicts.append(replace(chosen, passed=passed, votes=votes, usage=combined))
    return verdicts


def _combined_usage(usages: list[CallUsage], *, calls: int) -> CallUsage:
    return CallUsage(
        model=usages[0].model,
        input_tokens=sum(u.input_tokens for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
        cache_read_tokens=sum(u.cache_read_tokens for u in usages),
        cache_creation_tokens=sum(u.cache_creation_tokens for u in usages),
        cost_usd=sum(u.cost_usd for u in usages),
        attempts=sum(u.attempts for u in usages),
        duration_ms=max(u.duration_ms for u in usages),
        calls=calls,
    )


def _all_of(futures: list[Future[list[Verdict]]]) -> Future[list[list[Verdict]]]:
    """A future of every one of ``futures``' results, in order (the first failure fails it; cancelling
    it cancels those not started)."""
    combined: Future[list[list[Verdict]]] = Future()
    if len(futures) == 1:
        only = futures[0]

        def single(done: Future[list[Verdict]]) -> None:
            if done.cancelled():
                combined.cancel()
                return
            error = done.exception()
            try:
                if error is not None:
                    combined.set_exception(error)
                else:
                    combined.set_result([done.result()])
            except InvalidStateError:
                pass

        only.add_done_callback(single)
    else:
        remaining = [len(futures)]
        lock = threading.Lock()

        def one_done(done: Future[list[Verdict]]) -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if not last or combined.done():
                return
            try:
                if any(future.cancelled() for future in futures):
                    combined.cancel()
                    return
                errors = [future.exception() for future in futures if future.exception() is not None]
                if errors:
                    combined.set_exception(errors[0])
                else:
                    combined.set_result([future.result() for future in futures])
            except InvalidStateError:
                pass

        for future in futures:
            future.add_done_callback(one_done)

    def cancel_all(outer: Future[list[list[Verdict]]]) -> None:
        if outer.cancelled():
            for future in futures:
                future.cancel()

    combined.add_done_callback(cancel_all)
    return combined
