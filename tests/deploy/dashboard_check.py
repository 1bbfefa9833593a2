#!/usr/bin/python3
"""Checks deploy/grafana/egress.json, the Grafana (9/10) dashboard:

  1. valid JSON with a title, a uid and a schemaVersion of Grafana 9 or later;
  2. the Prometheus data source is the template variable `datasource`, and
     every panel and query uses it;
  3. panel ids are unique; every panel sits in a row (rows "Service",
     "Agents", "Gateway", "PostgreSQL ..." each hold at least one); panels lie
     inside the 24-column grid and do not overlap;
  4. every query expression parses as PromQL (promtool check rules on a
     rules file made of them, Grafana's $__rate_interval etc. replaced by a
     duration), uses only variables the dashboard defines, and reads only
     metrics, labels and label values the code exports
     (tests/deploy/metric_names.py), the variables' label_values() included.

Usage: dashboard_check.py REPO_DIR
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metric_names  # noqa: E402

REQUIRED_ROWS = ("Service", "Agents", "Gateway", "PostgreSQL")
# Grafana's own interval variables, as promtool needs a real duration.
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def substitute(expr, variables, failures, where):
    """The expression as Prometheus would get it: interval variables
    replaced; the dashboard's own variables may appear only inside label
    matcher strings (a regex of instances, "$node")."""
    for name, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(name, value)
    for var in re.findall(r"\$\{?(\w+)", expr):
        if var not in variables:
            failures.append("%s: uses $%s, which the dashboard does not define" % (where, var))
    outside_strings = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    if "$" in outside_strings:
        failures.append("%s: a variable outside a label matcher string" % where)
    return expr


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def check_layout(dashboard, failures):
    top = sorted(dashboard["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    ids = [p.get("id") for p in all_panels(dashboard["panels"])]
    if len(ids) != len(set(ids)) or not all(isinstance(i, int) for i in ids):
        failures.append("panel ids are not unique integers: %s" % ids)
    if not top or top[0]["type"] != "row":
        failures.append("the first panel is not a row")
    rows = {}
    current = None
    for p in top:
        if p["type"] == "row":
            current = p["title"]
            rows[current] = len(p.get("panels", []))
            if not p.get("collapsed") and p.get("panels"):
                failures.append("row %s is open but holds panels (Grafana shows them only collapsed)"
                                % current)
        elif current is not None:
            rows[current] += 1
    for required in REQUIRED_ROWS:
        matching = [r for r in rows if r.startswith(required)]
        if not matching:
            failures.append("no row %s" % required)
        elif rows[matching[0]] == 0:
            failures.append("row %s is empty" % matching[0])
    cells = {}
    overlaps = set()
    for p in top:
        g = p["gridPos"]
        if g["x"] < 0 or g["w"] <= 0 or g["h"] <= 0 or g["x"] + g["w"] > 24:
            failures.append("panel %s (%s) lies outside the grid: %s" % (p["id"], p["title"], g))
        for yy in range(g["y"], g["y"] + g["h"]):
            for xx in range(g["x"], g["x"] + g["w"]):
                if (xx, yy) in cells:
                    overlaps.add((cells[(xx, yy)], p["id"]))
                cells[(xx, yy)] = p["id"]
    for a, b in sorted(overlaps):
        failures.append("panels %s and %s overlap" % (a, b))
    return rows


def main(repo):
    failures = []
    path = os.path.join(repo, "deploy", "grafana", "egress.json")
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except ValueError as e:
        print("FAIL: %s is not valid JSON: %s" % (path, e))
        return 1
    for key in ("title", "uid", "panels", "templating"):
        if key not in dashboard:
            failures.append("no %s" % key)
    if dashboard.get("schemaVersion", 0) < 36:
        failures.append("schemaVersion %s is older than Grafana 9 (36)" % dashboard.get("schemaVersion"))
    if dashboard.get("id") is not None:
        failures.append("id must be null (Grafana assigns it at import)")

    templating = dashboard["templating"]["list"]
    variables = {v["name"]: v for v in templating}
    source = variables.get("datasource", {})
    if source.get("type") != "datasource" or source.get("query") != "prometheus":
        failures.append("no template variable `datasource` of Prometheus data sources")

    rows = check_layout(dashboard, failures)
    exported = metric_names.exported_metrics(repo)
    records = {}  # recording-rule name -> (where, expr) for promtool

    for v in templating:
        if v["type"] != "query":
            continue
        where = "variable %s" % v["name"]
        if v.get("datasource") != DATASOURCE:
            failures.append("%s: datasource is not ${datasource}" % where)
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        if not m:
            failures.append("%s: query %r is not label_values(METRIC, LABEL)" % (where, query))
            continue
        selector, label = m.groups()
        records["dashboard:variable_%s" % v["name"]] = (where, selector)
        for problem in metric_names.problems(selector, exported):
            failures.append("%s: %s" % (where, problem))
        for metric, _ in metric_names.reads(selector).selectors:
            if metric in exported and label not in exported[metric]:
                failures.append("%s: metric %s has no label %s" % (where, metric, label))

    queries = 0
    for p in all_panels(dashboard["panels"]):
        if p["type"] == "row":
            continue
        where = "panel %s (%s)" % (p["id"], p.get("title"))
        if p.get("datasource") != DATASOURCE:
            failures.append("%s: datasource is not ${datasource}" % where)
        if not p.get("targets"):
            failures.append("%s: no query" % where)
        ref_ids = [t.get("refId") for t in p.get("targets", [])]
        if len(ref_ids) != len(set(ref_ids)) or None in ref_ids:
            failures.append("%s: refIds missing or repeated: %s" % (where, ref_ids))
        for t in p.get("targets", []):
            target = "%s query %s" % (where, t.get("refId"))
            if t.get("datasource") != DATASOURCE:
                failures.append("%s: datasource is not ${datasource}" % target)
            if not t.get("expr"):
                failures.append("%s: no expr" % target)
                continue
            queries += 1
            expr = substitute(t["expr"], variables, failures, target)
            records["dashboard:panel_%s_%s" % (p["id"], t["refId"])] = (target, expr)
            for problem in metric_names.problems(expr, exported):
                failures.append("%s: %s" % (target, problem))

    # promtool parses every expression as the expression of a recording rule.
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
            {"record": name, "expr": expr} for name, (_, expr) in records.items()]}]}, f)
        rules_file = f.name
    try:
        result = subprocess.run(["promtool", "check", "rules", rules_file],
                                capture_output=True, text=True)
    finally:
        os.unlink(rules_file)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        named = [where for name, (where, _) in records.items() if name in output]
        failures.append("promtool refuses expressions of %s:\n%s" % (", ".join(named) or "the dashboard",
                                                                     output))

    if failures:
        print("\n".join("FAIL: " + f for f in failures))
        return 1
    print("dashboard ok: %d rows (%s), %d panels, %d queries parsed by promtool, metrics checked"
          % (len(rows), ", ".join(rows), sum(rows.values()), queries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
