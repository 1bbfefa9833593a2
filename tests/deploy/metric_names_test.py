#!/usr/bin/python3
"""Unit tests of metric_names.py: what the alert and dashboard checks rely
on to say "this metric does not exist"."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metric_names  # noqa: E402

CPP = r'''
#define EGRESS_COLLECTOR_COUNTERS(COUNTER)                                      \
  COUNTER(streams_opened, "egress_agent_streams_opened_total", "", "",        \
          "Agent streams that completed Hello.")                               \
  COUNTER(batches_committed, "egress_ingest_batches_total", "result", "committed", \
          "Batches, by result (committed, \"duplicate\").")                     \
  COUNTER(batches_duplicate, "egress_ingest_batches_total", "result", "duplicate", "")
#define EGRESS_AGENT_METRICS(COUNTER, GAUGE)                                   \
  GAUGE(spool.bytes, "egress_agent_spool_bytes", "", "", "Bytes.")
ServiceMetrics::ServiceMetrics()
    : rpc_requests_(AddCounterFamily(
          *registry_, "egress_rpc_requests_total",
          "Finished calls (streams included) by method and code.", {"method", "code"})),
      ack_latency_(AddHistogram(*registry_, "egress_ingest_ack_latency_seconds",
                                "Batch received to ack (a \"quoted\" word).",
                                LatencyBuckets())) {}
void Collect(MetricFamilies& w) {
  w.Counter("egress_ingest_records_refused_total", "Left out, by reason.",
            {{"reason", "invalid"}}, static_cast<double>(s.invalid));
  w.Counter("egress_ingest_records_refused_total", "", {{"reason", "unknown_uid"}}, 1);
  w.Gauge("egress_database_up", "1 if (re-read every 5 s).", {}, ok ? 1 : 0);
  writer->Gauge("egress_by_peer", "", {{"peer", PeerName(x)}}, 2);
  w.Histogram("egress_fold_seconds", "", {}, snapshot);
}
'''

EXPORTED = {
    "egress_rpc_requests_total": {"method": None, "code": {"OK", "INTERNAL"}, "job": None,
                                  "instance": None},
    "egress_ingest_records_refused_total": {"reason": {"invalid", "unknown_uid"}, "job": None,
                                            "instance": None},
    "egress_rpc_duration_seconds_bucket": {"method": None, "le": None, "job": None,
                                           "instance": None},
    "egress_database_up": {"job": None, "instance": None},
    "up": {"job": None, "instance": None},
}


class CppMetricsTest(unittest.TestCase):
    def test_finds_writer_calls_and_registry_families(self):
        m = metric_names.cpp_metrics(CPP)
        self.assertEqual(m["egress_rpc_requests_total"], {"method": None, "code": None})
        self.assertEqual(m["egress_ingest_records_refused_total"],
                         {"reason": {"invalid", "unknown_uid"}})
        self.assertEqual(m["egress_database_up"], {})
        # A value computed at run time: any value.
        self.assertEqual(m["egress_by_peer"], {"peer": None})

    def test_finds_tables_declared_once(self):
        m = metric_names.cpp_metrics(CPP)
        self.assertEqual(m["egress_agent_streams_opened_total"], {})
        self.assertEqual(m["egress_ingest_batches_total"], {"result": {"committed", "duplicate"}})
        self.assertEqual(m["egress_agent_spool_bytes"], {})

    def test_histograms_have_bucket_sum_and_count(self):
        m = metric_names.cpp_metrics(CPP)
        for name in ("egress_ingest_ack_latency_seconds", "egress_fold_seconds"):
            self.assertNotIn(name, m)
            self.assertEqual(m[name + "_bucket"], {"le": None})
            self.assertIn(name + "_sum", m)
            self.assertIn(name + "_count", m)


class ReadsTest(unittest.TestCase):
    def names(self, expr):
        return [name for name, _ in metric_names.reads(expr).selectors]

    def test_functions_aggregations_and_keywords_are_not_metrics(self):
        expr = ('histogram_quantile(0.99, sum by (job, le) (rate(egress_rpc_duration_seconds_bucket'
                '{method=~"egress.v1.X/.*"}[5m] offset 1h))) > 1 and on(instance) '
                'egress_database_up == bool 1 or absent(up{job="a"})')
        self.assertEqual(self.names(expr),
                         ["egress_rpc_duration_seconds_bucket", "egress_database_up", "up"])
        self.assertEqual(metric_names.reads(expr).grouping_labels, {"job", "le", "instance"})

    def test_matchers_are_read_with_their_values(self):
        r = metric_names.reads('sum(rate(egress_rpc_requests_total{code!="OK", method=~"a|b"}[1m]))'
                               ' / ignoring(code) group_left egress_database_up')
        self.assertEqual(r.selectors[0],
                         ("egress_rpc_requests_total", [("code", "!=", "OK"), ("method", "=~", "a|b")]))
        self.assertEqual(r.selectors[1], ("egress_database_up", []))

    def test_aggregation_with_grouping_after_the_arguments(self):
        self.assertEqual(self.names("max(egress_database_up) by (instance)"), ["egress_database_up"])
        self.assertEqual(self.names("topk(10, egress_database_up)"), ["egress_database_up"])
        self.assertEqual(self.names("egress_database_up[30m:1m]"), ["egress_database_up"])

    def test_a_selector_without_a_name_is_refused(self):
        self.assertEqual(metric_names.problems('{__name__="egress_database_up"}', EXPORTED),
                         ['a selector without a metric name: {__name__="egress_database_up"}'])


class ProblemsTest(unittest.TestCase):
    def test_the_real_names_pass(self):
        self.assertEqual(metric_names.problems(
            'increase(egress_ingest_records_refused_total{reason="invalid", instance=~"$node"}[15m])'
            ' > 0 and on(instance) egress_database_up == 1', EXPORTED), [])

    def test_a_metric_nobody_exports_is_named(self):
        self.assertEqual(metric_names.problems("rate(egress_rpc_request_total[5m]) > 0", EXPORTED),
                         ["metric egress_rpc_request_total is exported by nothing in the code"])

    def test_a_label_the_metric_lacks_is_named(self):
        self.assertEqual(metric_names.problems('egress_database_up{state="idle"}', EXPORTED),
                         ["metric egress_database_up has no label state"])

    def test_a_label_value_the_code_never_writes_is_named(self):
        self.assertEqual(
            metric_names.problems('egress_ingest_records_refused_total{reason=~"invalid|unknown"}',
                                  EXPORTED),
            ['metric egress_ingest_records_refused_total never has reason="unknown" '
             '(only invalid, unknown_uid)'])
        # A real regular expression is not second-guessed.
        self.assertEqual(
            metric_names.problems('egress_ingest_records_refused_total{reason=~"in.*"}', EXPORTED), [])

    def test_grouping_on_a_label_no_metric_has_is_named(self):
        self.assertEqual(metric_names.problems("sum by (upstrem) (egress_database_up)", EXPORTED),
                         ["groups or matches on label upstrem, which none of its metrics has"])

    def test_an_expression_without_a_metric_is_named(self):
        self.assertEqual(metric_names.problems("vector(1)", EXPORTED), ["reads no metric"])


if __name__ == "__main__":
    unittest.main()
