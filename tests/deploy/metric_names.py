"""Which metrics egress exports, and which metrics a PromQL expression reads.

Shared by the alert and dashboard checks (tests/deploy): an alert or a panel
that names a metric nobody exports would never fire or always show "No data",
and nothing else would tell.

Exported names come from the code itself:
  * C++ (service/, agent/, common/), read from the sources: every entry of
    a table declared once (COUNTER(field, "name", "label", "value", help) or
    GAUGE(...), see common/metric_spec.h), every scrape-time MetricFamilies
    call (w.Counter/Gauge("name", help, {{"label", value}}, ...)) and every
    prometheus-cpp family (AddCounterFamily(registry, "name", help,
    {"label", ...}), AddHistogram(registry, "name", ...));
  * gateway: the real prom-client registry of gateway/src/metrics.js, listed
    by node (prom-client's default process/Node.js metrics included), which
    needs gateway/node_modules (tests/browser/setup-gateway.sh).
Histograms add _bucket (with "le"), _sum and _count. Every series also
carries the target labels Prometheus adds (job, instance), and Prometheus
itself writes `up` for every target.
"""

import json
import os
import re
import subprocess

TARGET_LABELS = {"job", "instance"}
GRPC_CODES = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
              "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
              "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
              "UNAUTHENTICATED"}
# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = {"up": {}}

# In what follows, a metric's labels are {label name: the values the code
# writes (a set), or None when they come from data (a method, a status code)}.

# --------------------------------------------------------------- exported

_WRITER_CALL = re.compile(r'\b\w+\s*(?:\.|->)\s*(Counter|Gauge|Histogram)\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')
_FAMILY_CALL = re.compile(
    r'\bAdd(Counter|Gauge|Histogram)(Family)?\(\s*(?:[^,"()]+,\s*)?"([a-zA-Z_:][a-zA-Z0-9_:]*)"')
_TABLE_ENTRY = re.compile(r'\b(COUNTER|GAUGE)\(\s*[\w.]+\s*,\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"\s*,'
                          r'\s*"([a-zA-Z0-9_]*)"\s*,\s*"([^"\\]*)"')
_LABEL_PAIR = re.compile(r'\{\s*"([a-zA-Z_][a-zA-Z0-9_]*)"\s*,\s*([^{}]*?)\s*\}')
_STRING_LIST = re.compile(r'\{\s*("[^"]*"(?:\s*,\s*"[^"]*")*)\s*\}')


def _call_arguments(text, start):
    """Text from `start` (just after the call's opening parenthesis) to its
    closing parenthesis, string literals skipped."""
    depth = 1
    i = start
    while i < len(text) and depth:
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return text[start:i - 1]


def _merge(metrics, name, labels):
    known = metrics.setdefault(name, {})
    for label, values in labels.items():
        if values is None or (label in known and known[label] is None):
            known[label] = None
        else:
            known[label] = (known.get(label) or set()) | set(values)


def _add(metrics, name, kind, labels):
    if kind == "histogram":
        _merge(metrics, name + "_bucket", dict(labels, le=None))
        _merge(metrics, name + "_sum", labels)
        _merge(metrics, name + "_count", labels)
    else:
        _merge(metrics, name, labels)


def cpp_metrics(source_text):
    """{metric name: labels} written by one C++ source file."""
    metrics = {}
    for m in _WRITER_CALL.finditer(source_text):
        arguments = _call_arguments(source_text, source_text.index("(", m.start(1)) + 1)
        labels = {}
        for label, value in _LABEL_PAIR.findall(arguments):
            # A value that is not a string literal comes from data.
            literal = re.fullmatch(r'"([^"\\]*)"', value)
            labels[label] = {literal.group(1)} if literal else None
        _add(metrics, m.group(2), m.group(1).lower(), labels)
    for m in _FAMILY_CALL.finditer(source_text):
        arguments = _call_arguments(source_text, source_text.index("(", m.start(1)) + 1)
        labels = {}
        if m.group(2):  # a family: its label names are the {"a", "b"} argument
            for group in _STRING_LIST.findall(arguments):
                labels.update({name: None for name in re.findall(r'"([^"]*)"', group)})
        _add(metrics, m.group(3), m.group(1).lower(), labels)
    for m in _TABLE_ENTRY.finditer(source_text):
        labels = {m.group(3): {m.group(4)}} if m.group(3) else {}
        _add(metrics, m.group(2), m.group(1).lower(), labels)
    return metrics


def gateway_metrics(repo):
    """{metric name: labels} of the gateway's real registry."""
    script = (
        'const { createMetrics } = await import(process.argv[1]);'
        'const out = {};'
        'for (const m of createMetrics().registry.getMetricsAsArray())'
        '  out[m.name] = { type: m.type, labels: m.labelNames || [] };'
        'console.log(JSON.stringify(out));')
    module = os.path.abspath(os.path.join(repo, "gateway", "src", "metrics.js"))
    if not os.path.isdir(os.path.join(repo, "gateway", "node_modules", "prom-client")):
        raise RuntimeError("gateway/node_modules lacks prom-client: run tests/browser/setup-gateway.sh")
    result = subprocess.run(["node", "--input-type=module", "-e", script, "file://" + module],
                            capture_output=True, text=True, check=True)
    metrics = {}
    for name, info in json.loads(result.stdout).items():
        _add(metrics, name, info["type"], {label: None for label in info["labels"]})
    return metrics


def exported_metrics(repo):
    """{metric name: labels} of everything egress exports, plus what
    Prometheus adds to every target."""
    metrics = {}
    for folder in ("service", "agent", "common"):
        for root, _, files in os.walk(os.path.join(repo, folder)):
            for f in sorted(files):
                if f.endswith((".cc", ".h")):
                    with open(os.path.join(root, f), encoding="utf-8") as source:
                        for name, labels in cpp_metrics(source.read()).items():
                            _merge(metrics, name, labels)
    for name, labels in gateway_metrics(repo).items():
        _merge(metrics, name, labels)
    for name, labels in PROMETHEUS_SERIES.items():
        _merge(metrics, name, labels)
    for name, labels in metrics.items():
        labels.update({label: None for label in TARGET_LABELS})
        # Status codes come from data, from a fixed vocabulary: gRPC's names
        # in the C++ (absl::StatusCodeToString), Connect's in the gateway.
        if "code" in labels and labels["code"] is None:
            labels["code"] = {c.lower() for c in GRPC_CODES} if name.startswith("egress_gateway_") \
                else set(GRPC_CODES)
    return metrics

# ----------------------------------------------------------------- PromQL

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+|[0-9][0-9a-zA-Z_.]*|\.[0-9][0-9eE+\-]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])
""", re.VERBOSE)

AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
               "bottomk", "topk", "quantile"}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"} | _GROUPING
_MATCH_OPS = {"=", "!=", "=~", "!~"}


def tokens(expr):
    out = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError("cannot read PromQL at %r" % expr[pos:pos + 20])
        pos = m.end()
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group()))
    return out


def _unquote(text):
    if text.startswith("`"):
        return text[1:-1]
    return json.loads('"%s"' % text[1:-1].replace('"', '\\"')) if text[0] == "'" else json.loads(text)


class Reads:
    """What one expression reads: selectors (metric, [(label, operator,
    value)]) and the label names it groups or matches on."""

    def __init__(self):
        self.selectors = []
        self.grouping_labels = set()


def reads(expr):
    """Parses the names out of a PromQL expression (promtool has checked its
    syntax). ValueError for a selector without a metric name."""
    result = Reads()
    toks = tokens(expr)
    i = 0
    bracket = 0

    def skip_label_list(j):
        # toks[j] is "(": label names up to ")".
        j += 1
        while j < len(toks) and toks[j][1] != ")":
            if toks[j][0] == "ident":
                result.grouping_labels.add(toks[j][1])
            j += 1
        return j + 1

    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if text == "[":
            bracket += 1
        elif text == "]":
            bracket -= 1
        elif text == "{":
            raise ValueError("a selector without a metric name: %s" % expr)
        elif kind == "ident" and bracket == 0:
            lower = text.lower()
            if lower in _GROUPING:
                if following == "(":
                    i = skip_label_list(i + 1)
                    continue
            elif lower in _KEYWORDS:
                pass
            elif following == "(" or (text in AGGREGATORS and following in ("by", "without")):
                pass  # a function or an aggregation
            else:
                matchers = []
                if following == "{":
                    i += 2
                    while toks[i][1] != "}":
                        if toks[i][0] == "ident" and toks[i + 1][1] in _MATCH_OPS:
                            matchers.append((toks[i][1], toks[i + 1][1], _unquote(toks[i + 2][1])))
                            i += 2
                        i += 1
                result.selectors.append((text, matchers))
        i += 1
    return result


def problems(expr, exported):
    """What is wrong with the names `expr` reads, as sentences ([] if none)."""
    try:
        r = reads(expr)
    except ValueError as e:
        return [str(e)]
    out = []
    known_labels = set(TARGET_LABELS)
    if not r.selectors:
        out.append("reads no metric")
    for metric, matchers in r.selectors:
        if metric not in exported:
            out.append("metric %s is exported by nothing in the code" % metric)
            continue
        labels = exported[metric]
        known_labels |= set(labels)
        for label, op, value in matchers:
            if label not in labels:
                out.append("metric %s has no label %s" % (metric, label))
                continue
            if labels[label] is None or "$" in value:
                continue  # values from data, or a dashboard variable
            if op in ("=~", "!~"):
                if not re.fullmatch(r"[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*", value):
                    continue  # a real regular expression: not checked
                values = value.split("|")
            else:
                values = [value]
            for v in values:
                if v not in labels[label]:
                    out.append("metric %s never has %s=\"%s\" (only %s)"
                               % (metric, label, v, ", ".join(sorted(labels[label]))))
    for label in sorted(r.grouping_labels - known_labels - {"le"}):
        out.append("groups or matches on label %s, which none of its metrics has" % label)
    return out
