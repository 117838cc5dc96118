"""Fix with approval: from failing cases to a validated change, nothing applied without a yes.

``flywheel fix SUITE[::CASE] | TRACE_ID`` runs these pieces in order:

* :mod:`~pytest_flywheel.fix.context`: what the fixer starts with (the failing cases of the suite's
  latest run with their input, output, trajectory and every verdict; the analysis of their traces; the
  suite's target and where its source is).
* :mod:`~pytest_flywheel.fix.area`: the project files the fixer may read and edit, and the refusals
  (``.git/``, ``.env*``, what git ignores, the redact patterns, paths out of the root; and for edits,
  the regression corpus, the tests and the test configuration).
* :mod:`~pytest_flywheel.fix.tools` and :mod:`~pytest_flywheel.fix.agent`: the fixer, an LLM agent on
  the Anthropic SDK's tool use whose edits are recorded, never written; bounded in turns, tokens, cost.
* :mod:`~pytest_flywheel.fix.patch`: the proposed edits as a unified diff ``git apply`` accepts.
* :mod:`~pytest_flywheel.fix.validate`: the suite run in a temporary copy with the edits applied,
  compared with the runs before.
* :mod:`~pytest_flywheel.fix.apply`: on a yes, the edits and the validation's re-recorded cassettes
  and verdicts written together, or nothing at all.
* :mod:`~pytest_flywheel.fix.record`: each fix, linked to its validation runs, in the store.

The ``anthropic`` SDK and pytest are never imported here: the fixer's client is made by the caller, and
validation runs pytest in a subprocess, as a user would.
"""
