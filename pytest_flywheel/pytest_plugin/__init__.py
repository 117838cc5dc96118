"""The pytest plugin's machinery (the entry point, ``pytest_flywheel/plugin.py``, stays thin).

Using it
--------

``pytest --flywheel-suite=customer-support-qa`` collects every case of
``flywheel/suites/customer-support-qa.yaml`` as a test item (node id
``flywheel/suites/customer-support-qa.yaml::<case-id>``), next to whatever else pytest collects;
``flywheel test run --suite NAME [-- pytest args]`` runs the suite alone. A case calls the suite's
``target`` with its ``input`` inside its cassette, checks the deterministic assertions locally and asks
the judge about the sentences (verdicts come from ``flywheel/verdicts.jsonl`` when cached).

=============================  ==========================  =====================  ===================
command line                   ini key                     ``[tool.flywheel]``    meaning
=============================  ==========================  =====================  ===================
``--flywheel-suite NAME``      ``flywheel_suite``          ``suite``              suites to run
                                                                                  (repeatable, ``all``)
``--flywheel-record MODE``     ``flywheel_record``         ``record``             none (default), once,
                                                                                  new_episodes, all,
                                                                                  rewrite
``--flywheel-judge-model M``   ``flywheel_judge_model``    ``judge_model``        the judge's model
``--flywheel-update-verdicts`` ``flywheel_update_verdicts`` ``update_verdicts``   judge again, overwrite
``--flywheel-offline``         ``flywheel_offline``        ``offline``            no judge calls; an
                                                                                  uncached verdict is an
                                                                                  error
``--flywheel-prune``           ``flywheel_prune``          ``prune``              drop verdicts no test
                                                                                  of this run used
``--flywheel-report PATH``     ``flywheel_report``         ``report``             JSON report
``--flywheel-min-pass-rate F`` ``flywheel_min_pass_rate``  ``min_pass_rate``      fail a run whose suite
                                                                                  pass rate is below F
=============================  ==========================  =====================  ===================

Precedence: command line > ini key > ``[tool.flywheel]`` (and ``FLYWHEEL_*`` variables where
``config.py`` reads one) > default. The judge model: the option > a suite file's ``judge: {model}`` >
``[tool.flywheel] judge_model`` / ``FLYWHEEL_JUDGE_MODEL`` > ``claude-sonnet-5-5``.

Outcomes: a case passes when every assertion does; it **fails** when one does not (the failure lists
each assertion with PASS/FAIL and the judge's reason, then the output) or when the target raised; it is
an **error** when it could not be checked: the target does not import, the cassette has no answer for a
request (record mode ``none``), or the judge cannot answer (no key, API error, ``--flywheel-offline``
with no cached verdict). Case tags become markers (``-m billing``) and ``-k`` matches ids and tags.

Hand-written tests: ``@pytest.mark.assertion("The reply ...", ...)`` judges the test's return value
(inside the test's own cassette, ``flywheel/cassettes/<test file path>/<test name>.yaml``), and the
``judge`` fixture judges any output: ``judge(output, assertion) -> Verdict``,
``judge.expect(output, *assertions)``.

Reporting: a ``flywheel`` section in the terminal summary, ``flywheel.*`` properties on each testcase
in ``--junitxml``, the JSON report (format in :mod:`.report`), and each session recorded as a run in the
store (``flywheel runs list``). Exit status: pytest's (non-zero on any failure or error). With
``--flywheel-min-pass-rate F`` the suites' pass rates are the gate: a suite below F fails the run even
when nothing else did, and when every suite meets F its failed cases are tolerated (the run passes and
the summary says how many were). Errors (a case that could not be checked) and failing tests that are
not suite cases are never tolerated.

Modules
-------

``options`` (options and ini keys: plain data), ``settings`` (root and ``[tool.flywheel]`` from pytest's
rootdir), ``session`` (the session's pieces in ``config.stash``), ``collect`` / ``items`` / ``case_spec``
(``SuiteFile``, ``CaseItem`` and what the pipeline reads off it), ``runner`` (one agent run in its
cassette), ``pipeline`` (the run-ahead that overlaps judge calls), ``judging`` (judges and the verdict
cache), ``outcome`` / ``results`` (what each touched test came to), ``marked`` / ``fixtures``
(hand-written tests), ``touched`` (results on every report), ``verdicts`` (unused entries, the write),
``gate`` (the minimum pass rate), ``report`` / ``reporting`` / ``ci_summary`` (JSON, terminal, JUnit,
Markdown, GitHub annotations), ``ending`` (the end of a session, in order), ``xdist`` (workers'
verdicts to the controller). Only ``options``, ``settings``, ``session`` and (with pytest-xdist
installed) ``xdist`` are imported on a run that uses no flywheel feature.
"""
