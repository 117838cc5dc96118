"""Evolve: production failures, looked at as trends, become tomorrow's test cases.

* :mod:`.taxonomy`: the failure labels (rule, LLM, custom) and the rule labels of a span tree.
* :mod:`.signatures`: a failure's first bad step, what went wrong there and its arguments' shape.
* :mod:`.labelling`: which traces of a window are failures; their findings, labels and signatures.
* :mod:`.llm_labels` and :mod:`.label_cache`: LLM labels, batched, concurrent, cached.
* :mod:`.plugins`: custom labels from the ``pytest_flywheel_failure_labels`` hook.
* :mod:`.clusters`: clusters, their input groups and trends; :mod:`.coverage`: which suite cases
  cover them; :mod:`.triage`: all of it for one window (``flywheel triage``, ``flywheel stats``).
* :mod:`.duplicates`: whether a new case looks like one a suite has (the suites piece asks it).
* :mod:`.candidates` and :mod:`.proposing`: the candidates file, propose, accept, reject.

Layering: the modules the suites piece calls (:mod:`.duplicates` and what it imports: taxonomy,
signatures, labelling) read only the store and the analysis rules; the modules that read suite files
(coverage, candidates, proposing, triage) sit above the suites piece. Nothing here imports the plugin.
"""
