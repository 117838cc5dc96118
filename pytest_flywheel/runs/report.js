// pytest-flywheel HTML report: renders the JSON embedded in #flywheel-data. No network, no libraries.
// Everything taken from the data goes through textContent, never innerHTML: outputs are untrusted text.
"use strict";
(function () {
  var consoleErrors = 0;
  var originalError = console.error;
  console.error = function () { consoleErrors += 1; document.body.dataset.consoleErrors = String(consoleErrors); return originalError.apply(console, arguments); };
  window.addEventListener("error", function () { consoleErrors += 1; document.body.dataset.consoleErrors = String(consoleErrors); });

  var data = JSON.parse(document.getElementById("flywheel-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }
  function pct(rate) { return rate === null || rate === undefined ? "n/a" : (rate * 100).toFixed(1) + "%"; }
  function pretty(value) { return typeof value === "string" ? value : JSON.stringify(value, null, 2); }

  function lineChart(title, points, options) {
    // points: [{label, value}] with value in [0, max] or null
    var width = 640, height = 200, pad = 36;
    var max = options.max || Math.max.apply(null, points.map(function (p) { return p.value || 0; }).concat([1]));
    var box = el("figure", { "class": "chart", "data-chart": options.id }, [el("figcaption", { text: title })]);
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": title });
    chart.appendChild(svg("line", { x1: pad, y1: height - pad, x2: width - 8, y2: height - pad, "class": "axis" }));
    chart.appendChild(svg("line", { x1: pad, y1: 8, x2: pad, y2: height - pad, "class": "axis" }));
    var step = points.length > 1 ? (width - pad - 16) / (points.length - 1) : 0;
    var coords = [];
    points.forEach(function (point, index) {
      var x = pad + 8 + index * step;
      if (point.value === null || point.value === undefined) { return; }
      var y = height - pad - (point.value / max) * (height - pad - 16);
      coords.push(x.toFixed(1) + "," + y.toFixed(1));
      var dot = svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, "class": "dot", "data-value": String(point.value) });
      var tip = svg("title", {});
      tip.textContent = point.label + ": " + (options.format || String)(point.value);
      dot.appendChild(tip);
      chart.appendChild(dot);
    });
    if (coords.length > 1) { chart.insertBefore(svg("polyline", { points: coords.join(" "), "class": "line" }), chart.firstChild); }
    var top = svg("text", { x: 4, y: 16, "class": "tick" }); top.textContent = (options.format || String)(max); chart.appendChild(top);
    box.appendChild(chart);
    return box;
  }

  function renderSummary(root) {
    var runs = data.runs;
    var latest = runs[runs.length - 1];
    var summary = el("section", { id: "summary" }, [
      el("h2", { text: "Latest run" }),
      el("p", {}, [
        el("span", { "class": "figure", id: "latest-pass-rate", text: latest ? pct(latest.pass_rate) : "n/a" }),
        el("span", { text: latest ? " pass rate over " + latest.ran + " cases (" + latest.passed + " passed, " + latest.failed + " failed, " + latest.errors + " errors)" : " no runs recorded" })
      ])
    ]);
    root.appendChild(summary);
    if (runs.length) {
      root.appendChild(lineChart("Pass rate across runs", runs.map(function (run) { return { label: run.label, value: run.pass_rate }; }), { id: "pass-rate", max: 1, format: pct }));
    }
  }

  function detailsFor(result) {
    var box = el("div", { "class": "details" });
    box.appendChild(el("h4", { text: result.nodeid + " — " + result.outcome }));
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
    if (result.output !== null && result.output !== undefined) {
      box.appendChild(el("details", { open: "" }, [el("summary", { text: "Output" }), el("pre", { text: pretty(result.output) })]));
    }
    if (result.trajectory && result.trajectory.length && result.outcome !== "passed") {
      var steps = el("ol", { "class": "trajectory" });
      result.trajectory.forEach(function (step) { steps.appendChild(el("li", {}, [el("pre", { text: pretty(step) })])); });
      box.appendChild(el("details", {}, [el("summary", { text: "Trajectory (" + result.trajectory.length + " steps)" }), steps]));
    }
    return box;
  }

  function renderMatrix(root) {
    var section = el("section", { id: "matrix" }, [el("h2", { text: "Cases × runs" })]);
    var table = el("table", { "class": "matrix" });
    var head = el("tr", {}, [el("th", { text: "case" })]);
    data.runs.forEach(function (run) { head.appendChild(el("th", { title: run.id, text: run.label })); });
    table.appendChild(el("thead", {}, [head]));
    var body = el("tbody");
    var panel = el("div", { id: "case-details" });
    data.cases.forEach(function (key) {
      var row = el("tr", { "data-case": key }, [el("th", { "class": "case", text: key })]);
      data.runs.forEach(function (run) {
        var result = run.results[key];
        var cell = el("td", { "class": "cell " + (result ? result.outcome : "absent"), text: result ? result.outcome : "—" });
        if (result) {
          cell.tabIndex = 0;
          cell.addEventListener("click", function () { panel.textContent = ""; panel.appendChild(detailsFor(result)); });
        }
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    table.appendChild(body);
    section.appendChild(table);
    section.appendChild(panel);
    root.appendChild(section);

    var failing = el("section", { id: "failing" }, [el("h2", { text: "Failing in the latest run" })]);
    var latest = data.runs[data.runs.length - 1];
    var count = 0;
    if (latest) {
      data.cases.forEach(function (key) {
        var result = latest.results[key];
        if (result && (result.outcome === "failed" || result.outcome === "error")) { count += 1; failing.appendChild(detailsFor(result)); }
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
    section.appendChild(lineChart("Traces per " + (stats.by || "period"), periods.map(function (p) { return { label: p.label, value: p.traces }; }), { id: "volume" }));
    section.appendChild(lineChart("Error rate", periods.map(function (p) { return { label: p.label, value: p.error_rate }; }), { id: "error-rate", max: 1, format: pct }));
    section.appendChild(lineChart("Task success rate", periods.map(function (p) { return { label: p.label, value: p.success_rate }; }), { id: "success-rate", max: 1, format: pct }));
    var uncovered = stats.uncovered || [];
    if (uncovered.length) {
      var list = el("ol", { id: "uncovered" });
      uncovered.forEach(function (item) { list.appendChild(el("li", { text: item.label + " — " + item.count + " traces, e.g. " + (item.example_trace_ids || []).join(", ") })); });
      section.appendChild(el("h3", { text: "Uncovered failures: capture these next" }));
      section.appendChild(list);
    }
    root.appendChild(section);
  }

  var root = document.getElementById("report");
  renderSummary(root);
  renderMatrix(root);
  renderStats(root);
  document.body.dataset.rendered = "ok";
})();
