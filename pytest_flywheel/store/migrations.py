"""Named, append-only schema migrations. Never edit or reorder an entry: add a new one at the end.

Each applied name is recorded in ``schema_migrations``; opening a store applies the missing ones in
order, inside one transaction each, so several processes opening a new file at once agree.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_traces_spans_feedback",
        """
        CREATE TABLE traces (
            id            TEXT PRIMARY KEY,
            project       TEXT NOT NULL,
            name          TEXT NOT NULL,
            status        TEXT NOT NULL,          -- 'ok' | 'error'
            start_time    REAL NOT NULL,          -- epoch seconds
            end_time      REAL NOT NULL,
            duration_ms   REAL NOT NULL,
            input         TEXT,                   -- JSON
            output        TEXT,                   -- JSON
            error         TEXT,                   -- JSON {type, message, traceback}
            tags          TEXT NOT NULL DEFAULT '[]',
            metadata      TEXT NOT NULL DEFAULT '{}',
            location      TEXT,                   -- module:qualname of the entrypoint
            span_count    INTEGER NOT NULL DEFAULT 0,
            input_tokens  INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd      REAL NOT NULL DEFAULT 0
        );
        CREATE INDEX traces_start ON traces(start_time);
        CREATE INDEX traces_project_start ON traces(project, start_time);
        CREATE INDEX traces_name_start ON traces(name, start_time);
        CREATE INDEX traces_status_start ON traces(status, start_time);

        CREATE TABLE spans (
            id                    TEXT PRIMARY KEY,
            trace_id              TEXT NOT NULL,
            parent_id             TEXT,
            project               TEXT NOT NULL,
            name                  TEXT NOT NULL,
            type                  TEXT NOT NULL,
            status                TEXT NOT NULL,
            start_time            REAL NOT NULL,
            end_time              REAL NOT NULL,
            duration_ms           REAL NOT NULL,
            input                 TEXT,
            output                TEXT,
            error                 TEXT,
            tags                  TEXT NOT NULL DEFAULT '[]',
            metadata              TEXT NOT NULL DEFAULT '{}',
            module                TEXT,
            qualname              TEXT,
            file                  TEXT,
            line                  INTEGER,
            model                 TEXT,
            input_tokens          INTEGER,
            output_tokens         INTEGER,
            cache_read_tokens     INTEGER,
            cache_creation_tokens INTEGER,
            cost_usd              REAL,
            stop_reason           TEXT
        );
        CREATE INDEX spans_trace ON spans(trace_id, start_time);
        CREATE INDEX spans_name ON spans(name);

        CREATE TABLE feedback (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id    TEXT NOT NULL,
            name        TEXT NOT NULL,
            value       TEXT NOT NULL,            -- JSON
            value_num   REAL,                     -- numeric view of value (bools as 0/1), for filters
            reason      TEXT,
            created_at  REAL NOT NULL
        );
        CREATE INDEX feedback_trace ON feedback(trace_id);
        CREATE INDEX feedback_name ON feedback(name, value_num);
        """,
    ),
    (
        "0002_runs",
        """
        CREATE TABLE runs (
            id            TEXT PRIMARY KEY,
            started_at    REAL NOT NULL,
            ended_at      REAL NOT NULL,
            git_commit    TEXT,
            git_branch    TEXT,
            suites        TEXT NOT NULL DEFAULT '[]',  -- JSON list of suite names
            total         INTEGER NOT NULL,
            passed        INTEGER NOT NULL,
            failed        INTEGER NOT NULL,
            errors        INTEGER NOT NULL,
            pass_rate     REAL,
            judge_calls   INTEGER NOT NULL DEFAULT 0,
            judge_tokens  INTEGER NOT NULL DEFAULT 0,
            judge_cost    REAL NOT NULL DEFAULT 0,
            report        TEXT NOT NULL               -- the whole JSON report, for later formats
        );
        CREATE INDEX runs_started ON runs(started_at);

        CREATE TABLE run_cases (
            run_id        TEXT NOT NULL,
            nodeid        TEXT NOT NULL,
            suite         TEXT,                        -- NULL for hand-written tests
            case_id       TEXT NOT NULL,
            outcome       TEXT NOT NULL,               -- passed | failed | error | skipped
            duration_ms   REAL,
            tokens        INTEGER,
            cost_usd      REAL,
            output        TEXT,                        -- JSON
            trajectory    TEXT,                        -- JSON
            message       TEXT,                        -- the error or failure text
            PRIMARY KEY (run_id, nodeid)
        );
        CREATE INDEX run_cases_suite ON run_cases(suite, case_id);

        CREATE TABLE run_assertions (
            run_id        TEXT NOT NULL,
            nodeid        TEXT NOT NULL,
            idx           INTEGER NOT NULL,
            assertion     TEXT NOT NULL,
            kind          TEXT NOT NULL,               -- sentence | check
            passed        INTEGER,                     -- NULL: no verdict (an error)
            reason        TEXT,
            cached        INTEGER,
            confidence    REAL,
            PRIMARY KEY (run_id, nodeid, idx)
        );
        """,
    ),
    (
        "0003_error_span_indexes",
        # For `flywheel stats`: partial indexes hold only the spans that raised (a few percent), so
        # finding where failures start (an error span with no erroring child) reads no other span.
        """
        CREATE INDEX spans_error_start ON spans(start_time) WHERE status = 'error';
        CREATE INDEX spans_error_parent ON spans(parent_id) WHERE status = 'error';
        """,
    ),
    (
        "0004_fixes",
        # `flywheel fix`: each proposed fix, what became of it, and the runs that validated it.
        """
        CREATE TABLE fixes (
            id               TEXT PRIMARY KEY,
            created_at       REAL NOT NULL,
            target           TEXT NOT NULL,              -- SUITE, SUITE::CASE or a trace id
            model            TEXT,
            summary          TEXT,
            diff             TEXT,                       -- the proposed patch (redacted)
            status           TEXT NOT NULL,              -- applied | declined | patch_written | refused
                                                         -- | no_change | failed
            baseline_run     TEXT,                       -- the latest run before the fix
            validation_runs  TEXT NOT NULL DEFAULT '[]', -- JSON list of run ids
            input_tokens     INTEGER NOT NULL DEFAULT 0,
            output_tokens    INTEGER NOT NULL DEFAULT 0,
            cost_usd         REAL,                       -- the fixer's; NULL when a price is unknown
            validation_cost  REAL                        -- judge and re-recorded agent calls
        );
        CREATE INDEX fixes_created ON fixes(created_at);
        """,
    ),
]
