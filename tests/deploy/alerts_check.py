#!/usr/bin/python3
"""Checks deploy/examples/alerts.yml, the Prometheus alert rules:

  1. promtool check config on deploy/examples/prometheus.yml (which loads the
     rules) and promtool check rules on alerts.yml;
  2. promtool test rules on deploy/examples/alerts_test.yml, and that it
     tests every alert both firing and quiet (a quiet case evaluated after
     the alert's `for`, so "not yet" does not count), and names no alert
     that does not exist;
  3. every alert has a severity (page or warning), a summary, and a runbook
     annotation naming a section of docs/operations.md that exists;
  4. every metric an expression reads is exported by the code, with the
     labels and label values it matches on (tests/deploy/metric_names.py).

Usage: alerts_check.py REPO_DIR
"""

import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metric_names  # noqa: E402


def seconds(duration):
    """Prometheus duration ("1h30m", "5m", "0s") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration or "0s")
    if not parts or "".join(n + u for n, u in parts) != (duration or "0s"):
        raise ValueError("not a duration: %r" % duration)
    return sum(int(n) * units[u] for n, u in parts)


def anchors(markdown):
    """GitHub-style anchors of the headings of a Markdown text."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            out.add(text.replace(" ", "-"))
    return out


def run(failures, argv, cwd):
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    print("$ %s\n%s%s" % (" ".join(argv), result.stdout, result.stderr), end="")
    if result.returncode != 0:
        failures.append("%s exited %d" % (" ".join(argv), result.returncode))


def main(repo):
    examples = os.path.join(repo, "deploy", "examples")
    failures = []
    run(failures, ["promtool", "check", "config", "prometheus.yml"], examples)
    run(failures, ["promtool", "check", "rules", "alerts.yml"], examples)
    run(failures, ["promtool", "test", "rules", "alerts_test.yml"], examples)

    with open(os.path.join(examples, "alerts.yml"), encoding="utf-8") as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    if len(alerts) != len([r for r in rules if "alert" in r]):
        failures.append("alerts.yml: two alerts share a name")
    with open(os.path.join(examples, "alerts_test.yml"), encoding="utf-8") as f:
        tests = yaml.safe_load(f)
    with open(os.path.join(repo, "docs", "operations.md"), encoding="utf-8") as f:
        doc_anchors = anchors(f.read())
    exported = metric_names.exported_metrics(repo)

    fires = set()
    quiet = set()
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            name = case["alertname"]
            if name not in alerts:
                failures.append("alerts_test.yml tests %s, which alerts.yml lacks" % name)
                continue
            if case.get("exp_alerts"):
                fires.add(name)
            elif seconds(case["eval_time"]) >= seconds(alerts[name].get("for")):
                quiet.add(name)

    for name, rule in alerts.items():
        if name not in fires:
            failures.append("%s: no test in alerts_test.yml where it fires" % name)
        if name not in quiet:
            failures.append("%s: no test in alerts_test.yml where it stays quiet after its `for`" % name)
        if rule.get("labels", {}).get("severity") not in ("page", "warning"):
            failures.append("%s: severity label must be page or warning" % name)
        annotations = rule.get("annotations", {})
        if not annotations.get("summary"):
            failures.append("%s: no summary annotation" % name)
        runbook = annotations.get("runbook", "")
        if runbook != "docs/operations.md#" + name.lower():
            failures.append("%s: runbook annotation is %r, expected docs/operations.md#%s"
                            % (name, runbook, name.lower()))
        elif name.lower() not in doc_anchors:
            failures.append("%s: docs/operations.md has no section %s" % (name, name))
        for problem in metric_names.problems(rule["expr"], exported):
            failures.append("%s: %s" % (name, problem))

    if failures:
        print("\n".join("FAIL: " + f for f in failures))
        return 1
    print("%d alerts checked: promtool, firing and quiet tests, runbooks, %d exported metrics"
          % (len(alerts), len(exported)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
