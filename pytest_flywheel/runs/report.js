// pytest-flywheel HTML report: renders the JSON embedded in #flywheel-data. No network, no libraries.
// Everything taken from the data goes through textContent, never innerHTML: outputs are untrusted text.
"use strict";
(function () {
  var status = document.getElementById("report-status");
  var consoleErrors = 0;
  var originalError = console.error;
  console.error = function () { consoleErrors += 1; document.body.dataset.consoleErrors = String(consoleErrors); return originalError.apply(console, arguments); };
  window.addEventListener("error", function (event) {
    consoleErrors += 1;
    document.body.dataset.consoleErrors = String(consoleErrors);
    if (status && !document.body.dataset.rendered) { status.textContent = "The report could not be drawn: " + event.message; }
  });

  var SVG = "http://www.w3.org/2000/svg";
  var DAY = 86400000;
  var data;

  // -- small helpers --------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else if (attrs[key] !== null && attrs[key] !== undefined) { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); } });
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function pct(rate) { return rate === null || rate === undefined ? "n/a" : (rate * 100).toFixed(1) + "%"; }
  function pretty(value) {
    if (value === null || value === undefined) { return "(none)"; }
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }
  function value(index) { return index === null || index === undefined ? null : data.values[index]; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function utcDate(time) { var d = new Date(time); return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()); }
  function utcTime(time) { var d = new Date(time); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function utcLabel(time, span) {
    if (span >= 3 * DAY) { return utcDate(time); }
    return utcDate(time).slice(5) + " " + utcTime(time);
  }
  function runLabel(run) { var t = Date.parse(run.started_at); return utcDate(t).slice(5) + " " + utcTime(t); }

  // -- charts: x is time, with dated ticks ---------------------------------------------------------

  function timeChart(title, points, options) {
    // points: [{time (ms), label, value (number or null)}], oldest first
    var width = 680, height = 220, left = 44, right = 16, top = 12, bottom = 40;
    var format = options.format || function (v) { return String(Math.round(v * 100) / 100); };
    var max = options.max || Math.max.apply(null, points.map(function (p) { return p.value || 0; }).concat([1]));
    var times = points.map(function (p) { return p.time; });
    var first = Math.min.apply(null, times), last = Math.max.apply(null, times);
    var span = last - first;
    function x(time) { return span > 0 ? left + (time - first) / span * (width - left - right) : left + (width - left - right) / 2; }
    function y(v) { return height - bottom - (v / max) * (height - bottom - top); }
    var box = el("figure", { "class": "chart", "data-chart": options.id }, [el("figcaption", { text: title })]);
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": title });
    chart.appendChild(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, "class": "axis" }));
    chart.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, "class": "axis" }));
    [0, 0.5, 1].forEach(function (share) {
      chart.appendChild(svg("text", { x: left - 4, y: y(max * share) + 4, "class": "tick y", "text-anchor": "end" }, format(max * share)));
    });
    var ticks = span > 0 ? 5 : 1;
    for (var i = 0; i < ticks; i += 1) {
      var time = ticks > 1 ? first + span * i / (ticks - 1) : first;
      chart.appendChild(svg("line", { x1: x(time), y1: height - bottom, x2: x(time), y2: height - bottom + 4, "class": "axis" }));
      chart.appendChild(svg("text", {
        x: x(time), y: height - bottom + 16, "class": "tick x", "text-anchor": ticks > 1 ? (i === 0 ? "start" : i === ticks - 1 ? "end" : "middle") : "middle",
        "data-time": new Date(time).toISOString()
      }, utcLabel(time, span)));
    }
    chart.appendChild(svg("text", { x: width - right, y: height - 4, "class": "tick", "text-anchor": "end" }, "UTC"));
    var coords = [];
    points.forEach(function (point) {
      if (point.value === null || point.value === undefined) { return; }
      coords.push(x(point.time).toFixed(1) + "," + y(point.value).toFixed(1));
      var dot = svg("circle", { cx: x(point.time).toFixed(1), cy: y(point.value).toFixed(1), r: 4, "class": "dot", "data-value": String(point.value), "data-time": new Date(point.time).toISOString() });
      dot.appendChild(svg("title", {}, point.label + ": " + format(point.value)));
      chart.appendChild(dot);
    });
    if (coords.length > 1) { chart.insertBefore(svg("polyline", { points: coords.join(" "), "class": "line" }), chart.firstChild); }
    box.appendChild(chart);
    return box;
  }

  // -- what changed in an output: a line diff --------------------------------------------------------

  function lineDiff(a, b) {
    var n = a.length, m = b.length, ops = [];
    if (n * m > 4000000) { // too big to align: all of one, then all of the other
      a.forEach(function (line) { ops.push(["-", line]); });
      b.forEach(function (line) { ops.push(["+", line]); });
      return ops;
    }
    var table = new Uint32Array((n + 1) * (m + 1));
    for (var i = n - 1; i >= 0; i -= 1) {
      for (var j = m - 1; j >= 0; j -= 1) {
        table[i * (m + 1) + j] = a[i] === b[j] ? table[(i + 1) * (m + 1) + j + 1] + 1 : Math.max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1]);
      }
    }
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { ops.push([" ", a[i]]); i += 1; j += 1; }
      else if (i < n && (j === m || table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1])) { ops.push(["-", a[i]]); i += 1; }
      else { ops.push(["+", b[j]]); j += 1; }
    }
    return ops;
  }

  function diffView(before, after) {
    var ops = lineDiff(pretty(before).split("\n"), pretty(after).split("\n"));
    var context = 3, near = new Uint8Array(ops.length), skipping = false;
    ops.forEach(function (op, index) {
      if (op[0] === " ") { return; }
      for (var k = Math.max(0, index - context); k <= Math.min(ops.length - 1, index + context); k += 1) { near[k] = 1; }
    });
    var pre = el("pre", { "class": "diff" });
    ops.forEach(function (op, index) {
      if (!near[index]) {  // unchanged lines far from any change fold into one "…"
        if (!skipping) { pre.appendChild(el("span", { "class": "skip", text: "  …\n" })); }
        skipping = true;
        return;
      }
      skipping = false;
      var kind = op[0] === "-" ? "del" : op[0] === "+" ? "ins" : "same";
      pre.appendChild(el("span", { "class": kind, text: op[0] + " " + op[1] + "\n" }));
    });
    return pre;
  }

  // -- one result's details --------------------------------------------------------------------------

  function previousResult(runIndex, key) {
    for (var i = runIndex - 1; i >= 0; i -= 1) {
      if (data.runs[i].results[key]) { return { run: data.runs[i], result: data.runs[i].results[key] }; }
    }
    return null;
  }

  function trajectoryView(result) {
    if (result.trajectory === null || result.trajectory === undefined) {
      return el("p", { "class": "not-recorded", "data-trajectory": "not-recorded", text: "Trajectory not recorded: this run's record holds none for this case (runs recorded by an older pytest-flywheel, or a case that stopped before its agent ran)." });
    }
    var steps = value(result.trajectory) || [];
    if (!steps.length) { return el("p", { "data-trajectory": "empty", text: "No tool or LLM calls." }); }
    var list = el("ol", { "class": "trajectory", "data-trajectory": "recorded", "data-steps": String(steps.length) });
    steps.forEach(function (step) {
      var item;
      if (step && step.type === "tool") {
        item = el("li", { "class": "step tool", "data-step": "tool" }, [
          el("div", {}, [el("strong", { text: "tool " }), el("code", { "class": "name", text: String(step.name) })]),
          el("div", { "class": "label", text: "arguments" }), el("pre", { "class": "arguments", text: pretty(step.arguments) }),
          step.error
            ? el("div", { "class": "step-error", text: "raised " + (step.error.type || "Error") + ": " + (step.error.message || "") })
            : el("div", {}, [el("div", { "class": "label", text: "result" }), el("pre", { "class": "result", text: pretty(step.result) })])
        ]);
      } else if (step && step.type === "llm") {
        var facts = [step.model || "model not recorded",
          (step.input_tokens === null || step.input_tokens === undefined ? "?" : step.input_tokens) + " in / " + (step.output_tokens === null || step.output_tokens === undefined ? "?" : step.output_tokens) + " out tokens",
          "stop reason " + (step.stop_reason || "not recorded")];
        item = el("li", { "class": "step llm", "data-step": "llm" }, [
          el("div", {}, [el("strong", { text: "LLM call " }), el("span", { "class": "facts", text: facts.join(" · ") })])
        ]);
        (step.tool_uses || []).forEach(function (use) {
          item.appendChild(el("div", { "class": "tool-use" }, [el("span", { text: "asks for " }), el("code", { text: String(use.name) }), el("pre", { text: pretty(use.input) })]));
        });
        if (step.error) { item.appendChild(el("div", { "class": "step-error", text: "raised " + (step.error.type || "Error") + ": " + (step.error.message || "") })); }
      } else {
        item = el("li", { "class": "step" }, [el("pre", { text: pretty(step) })]);
      }
      list.appendChild(item);
    });
    return el("details", { open: "", "class": "trajectory-box" }, [el("summary", { text: "Trajectory (" + steps.length + " steps)" }), list]);
  }

  function outputView(result, runIndex, key) {
    var box = el("div", { "class": "output" });
    var before = previousResult(runIndex, key);
    if (before && before.result.output !== result.output) {
      box.dataset.diff = "changed";
      box.appendChild(el("h5", { text: "Output, changed since the run of " + runLabel(before.run) + " UTC (- before, + now)" }));
      box.appendChild(diffView(value(before.result.output), value(result.output)));
      box.appendChild(el("details", {}, [el("summary", { text: "Whole output" }), el("pre", { "class": "output-text", text: pretty(value(result.output)) })]));
    } else {
      box.dataset.diff = before ? "unchanged" : "first";
      box.appendChild(el("h5", { text: before ? "Output (the same as in the run of " + runLabel(before.run) + " UTC)" : "Output" }));
      box.appendChild(el("pre", { "class": "output-text", text: pretty(value(result.output)) }));
    }
    return box;
  }

  function detailsFor(runIndex, key) {
    var run = data.runs[runIndex], result = run.results[key];
    var box = el("div", { "class": "details", "data-case": key, "data-run": run.id });
    box.appendChild(el("h4", { text: result.nodeid + " — " + result.outcome + " in the run of " + runLabel(run) + " UTC" }));
    if (result.message) { box.appendChild(el("pre", { "class": "message", text: result.message })); }
    if (result.assertions.length) {
      var list = el("ul", { "class": "assertions" });
      result.assertions.forEach(function (item) {
        var verdict = item.passed === null ? "NO VERDICT" : item.passed ? "PASS" : "FAIL";
        list.appendChild(el("li", { "class": item.passed ? "pass" : "fail" }, [
          el("strong", { text: verdict + " " }), el("span", { text: item.assertion }),
          item.reason ? el("div", { "class": "reason", text: item.reason }) : null
        ]));
      });
      box.appendChild(list);
    }
    box.appendChild(outputView(result, runIndex, key));
    box.appendChild(trajectoryView(result));
    return box;
  }

  // -- sections ----------------------------------------------------------------------------------------

  function renderSummary(root) {
    var runs = data.runs;
    var latest = runs[runs.length - 1];
    root.appendChild(el("section", { id: "summary" }, [
      el("h2", { text: "Latest run" }),
      el("p", {}, [
        el("span", { "class": "figure", id: "latest-pass-rate", text: latest ? pct(latest.pass_rate) : "n/a" }),
        el("span", { text: latest ? " pass rate over " + latest.ran + " cases (" + latest.passed + " passed, " + latest.failed + " failed, " + latest.errors + " errors), " + runLabel(latest) + " UTC" : " no runs recorded" })
      ])
    ]));
    if (runs.length) {
      root.appendChild(timeChart("Pass rate across runs", runs.map(function (run) {
        return { time: Date.parse(run.started_at), label: runLabel(run) + (run.git_commit ? " " + run.git_commit.slice(0, 7) : ""), value: run.pass_rate };
      }), { id: "pass-rate", max: 1, format: pct }));
    }
  }

  var MARKS = { passed: "✓", failed: "✗", error: "E", skipped: "s" };

  function filtersFromHash() {
    var found = { status: "all", tag: "" };
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var pair = part.split("=");
      if (pair.length === 2 && (pair[0] === "status" || pair[0] === "tag")) { found[pair[0]] = decodeURIComponent(pair[1]); }
    });
    return found;
  }

  function renderMatrix(root) {
    var section = el("section", { id: "matrix" }, [el("h2", { text: "Cases × runs (newest run first)" })]);
    var latestIndex = data.runs.length - 1;
    var order = data.runs.map(function (_, index) { return index; }).reverse();
    var tags = {};
    data.cases.forEach(function (c) { c.tags.forEach(function (t) { tags[t] = true; }); });

    var statusSelect = el("select", { id: "filter-status" });
    [["all", "all cases"], ["failing", "failing now (failed or error)"], ["failed", "failed now"], ["error", "error now"],
      ["passed", "passed now"], ["skipped", "skipped now"], ["changed", "changed since the run before"]].forEach(function (option) {
      statusSelect.appendChild(el("option", { value: option[0], text: option[1] }));
    });
    var tagSelect = el("select", { id: "filter-tag" }, [el("option", { value: "", text: "any tag" })]);
    Object.keys(tags).sort().forEach(function (tag) { tagSelect.appendChild(el("option", { value: tag, text: tag })); });
    var shown = el("span", { id: "matrix-count" });
    section.appendChild(el("div", { "class": "filters" }, [el("label", {}, ["Status ", statusSelect]), el("label", {}, ["Tag ", tagSelect]), shown]));

    var table = el("table", { "class": "matrix" });
    var head = el("tr", {}, [el("th", { "class": "case", text: "case" })]);
    order.forEach(function (index) {
      var run = data.runs[index];
      head.appendChild(el("th", { "class": "run", "data-started-at": run.started_at, title: run.id + "\n" + run.started_at + (run.git_commit ? "\ncommit " + run.git_commit : "") },
        [utcDate(Date.parse(run.started_at)).slice(5), el("br"), utcTime(Date.parse(run.started_at)), run.git_commit ? el("div", { "class": "commit", text: run.git_commit.slice(0, 7) }) : null]));
    });
    table.appendChild(el("thead", {}, [head]));
    var body = el("tbody");
    var rows = [];
    data.cases.forEach(function (c, caseIndex) {
      var row = el("tr", { "data-case": c.key, "data-tags": c.tags.join(" ") }, [el("th", { "class": "case", title: c.tags.length ? "tags: " + c.tags.join(", ") : null, text: c.key })]);
      order.forEach(function (runIndex) {
        var result = data.runs[runIndex].results[c.key];
        var outcome = result ? result.outcome : "absent";
        var cell = el("td", { "class": "cell " + outcome, "data-run": String(runIndex), "data-case-index": String(caseIndex), title: outcome, text: result ? (MARKS[outcome] || outcome) : "—" });
        if (result) { cell.tabIndex = 0; }
        row.appendChild(cell);
      });
      var now = latestIndex >= 0 ? data.runs[latestIndex].results[c.key] : null;
      var before = now ? previousResult(latestIndex, c.key) : null;
      rows.push({ node: row, tags: c.tags, outcome: now ? now.outcome : "absent", changed: !!(now && before && before.result.outcome !== now.outcome) });
      body.appendChild(row);
    });
    table.appendChild(body);
    section.appendChild(el("div", { "class": "matrix-scroll", id: "matrix-scroll" }, [table]));
    var panel = el("div", { id: "case-details" });
    section.appendChild(panel);
    function show(target) {
      var cell = target.closest ? target.closest("td.cell") : null;
      if (!cell || cell.classList.contains("absent")) { return; }
      panel.textContent = "";
      panel.appendChild(detailsFor(Number(cell.dataset.run), data.cases[Number(cell.dataset.caseIndex)].key));
    }
    body.addEventListener("click", function (event) { show(event.target); });
    body.addEventListener("keydown", function (event) { if (event.key === "Enter") { show(event.target); } });

    function apply() {
      var wanted = statusSelect.value, tag = tagSelect.value, count = 0;
      rows.forEach(function (row) {
        var byStatus = wanted === "all" || (wanted === "failing" ? row.outcome === "failed" || row.outcome === "error" : wanted === "changed" ? row.changed : row.outcome === wanted);
        var visible = byStatus && (!tag || row.tags.indexOf(tag) >= 0);
        row.node.hidden = !visible;
        if (visible) { count += 1; }
      });
      shown.textContent = "showing " + count + " of " + rows.length + " cases";
      shown.dataset.shown = String(count);
    }
    var initial = filtersFromHash();
    statusSelect.value = initial.status;
    if (statusSelect.value !== initial.status) { statusSelect.value = "all"; }
    tagSelect.value = tags[initial.tag] ? initial.tag : "";
    function changed() {
      apply();
      var hash = "status=" + encodeURIComponent(statusSelect.value) + (tagSelect.value ? "&tag=" + encodeURIComponent(tagSelect.value) : "");
      history.replaceState(null, "", "#" + hash);
    }
    statusSelect.addEventListener("change", changed);
    tagSelect.addEventListener("change", changed);
    apply();
    root.appendChild(section);

    var failing = el("section", { id: "failing" }, [el("h2", { text: "Failing in the latest run" })]);
    var count = 0;
    if (latestIndex >= 0) {
      data.cases.forEach(function (c) {
        var result = data.runs[latestIndex].results[c.key];
        if (result && (result.outcome === "failed" || result.outcome === "error")) { count += 1; failing.appendChild(detailsFor(latestIndex, c.key)); }
      });
    }
    if (!count) { failing.appendChild(el("p", { text: "Nothing failed." })); }
    failing.dataset.count = String(count);
    root.appendChild(failing);
  }

  function renderStats(root) {
    if (!data.stats) { return; }
    var stats = data.stats;
    var section = el("section", { id: "stats" }, [el("h2", { text: "Production trends" })]);
    var periods = stats.periods || [];
    function points(field) { return periods.map(function (p) { return { time: Date.parse(p.start), label: p.label, value: p[field] }; }); }
    if (periods.length) {
      section.appendChild(timeChart("Traces per " + (stats.by || "period"), points("traces"), { id: "volume" }));
      section.appendChild(timeChart("Error rate", points("error_rate"), { id: "error-rate", max: 1, format: pct }));
      section.appendChild(timeChart("Task success rate", points("success_rate"), { id: "success-rate", max: 1, format: pct }));
    }
    var uncovered = stats.uncovered || [];
    if (uncovered.length) {
      var list = el("ol", { id: "uncovered" });
      uncovered.forEach(function (item) { list.appendChild(el("li", { text: item.label + " — " + item.count + " traces, e.g. " + (item.example_trace_ids || []).join(", ") })); });
      section.appendChild(el("h3", { text: "Uncovered failures: capture these next" }));
      section.appendChild(list);
    }
    root.appendChild(section);
  }

  try {
    data = JSON.parse(document.getElementById("flywheel-data").textContent);
    var root = document.getElementById("report");
    renderSummary(root);
    renderMatrix(root);
    renderStats(root);
    if (status) { status.remove(); }
    document.body.dataset.rendered = "ok";
  } catch (error) {
    document.body.dataset.rendered = "error";
    if (status) { status.textContent = "The report could not be drawn: " + error; }
    throw error;
  }
})();
