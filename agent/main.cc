// egress-agent: records every outgoing connection of the node's accounts and
// enforces their block rules. See agent/README.md.
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/agent.h"
#include "agent/agent_metrics.h"
#include "agent/real_agent_parts.h"
#include "agent/spool_dump.h"
#include "agent/systemd_notify.h"
#include "common/command_line.h"
#include "common/files.h"
#include "common/log.h"
#include "common/metrics_exposer.h"

ABSL_FLAG(std::string, node_id, "", "This node's id, as registered in the service (required).");
ABSL_FLAG(std::string, service, "",
          "CollectorService address host:port. Several replicas: "
          "ipv4:10.0.0.1:7443,10.0.0.2:7443 (or a DNS name with several records); the agent "
          "uses the first that answers and moves to the next when it fails. Empty: run offline "
          "(records stay in the spool, persisted rules stay enforced).");
ABSL_FLAG(std::string, token_file, "",
          "File holding this node's bearer token, sent as `authorization: Bearer <token>`.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle to verify the service; empty means a plaintext channel (testing only).");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM client certificate for mTLS (with --tls-key-file).");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls-cert-file.");
ABSL_FLAG(std::string, state_dir, "/var/lib/egress-agent",
          "Directory for the last applied rule set and the time zone.");
ABSL_FLAG(std::string, spool_dir, "",
          "Directory of the on-disk spool of unacknowledged batches (default <state-dir>/spool).");
ABSL_FLAG(int64_t, spool_max_bytes, 256ll << 20,
          "Spool size limit; beyond it the oldest batches are dropped and reported as lost.");
ABSL_FLAG(std::string, spool_fsync, "batch",
          "`batch`: fsync every batch (survives power loss); `never`: leave it to the kernel "
          "(survives an agent crash only).");
ABSL_FLAG(absl::Duration, batch_interval, absl::Seconds(1),
          "Seal and send a batch of aggregated records this often.");
ABSL_FLAG(int64_t, batch_max_records, 10000,
          "Seal a batch early when the aggregator holds this many distinct keys (bounds memory; "
          "at most 50000, so that a batch fits gRPC's 4 MiB message limit at the service).");
ABSL_FLAG(int32_t, conntrack_rcvbuf, 8 << 20,
          "Conntrack event socket receive buffer in bytes (about 1.3 KB per queued event).");
ABSL_FLAG(int32_t, conntrack_rcvbuf_max, 64 << 20,
          "Cap for growing the conntrack receive buffer after an overrun (ENOBUFS).");
ABSL_FLAG(std::string, reject_source, "kernel-sets",
          "Where REJECTs are counted: kernel-sets (counting sets in the agent's table, read "
          "every batch interval; attempts refused while no agent runs are counted too) or "
          "nflog (logged to --nflog-group and read as they happen; lost while no agent runs).");
ABSL_FLAG(std::string, accept_source, "kernel-sets",
          "Where accepted connections are counted: conntrack (NEW events read as they happen; "
          "after a restart a resync recounts what the kernel still tracks) or kernel-sets (the "
          "counting sets that count REJECTs, read every batch interval: no event queue to "
          "overrun, and connections made while no agent runs are counted too; needs "
          "--reject-source=kernel-sets). Switch with a clean stop (systemctl restart).");
ABSL_FLAG(int32_t, nflog_group, 7, "NFLOG group the reject rules log to.");
ABSL_FLAG(int32_t, nflog_rcvbuf, 4 << 20, "NFLOG socket receive buffer in bytes.");
ABSL_FLAG(int64_t, wakeup_events, 1024,
          "Events read from one socket per wakeup at most, so no socket starves the others.");
ABSL_FLAG(std::string, nft_table, "egress",
          "Name of the agent's own nftables table (family inet); no other table is touched.");
ABSL_FLAG(std::string, time_zone, "UTC",
          "Time zone for days until the service announces its own (then that one is kept).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(2),
          "On SIGTERM, wait this long for the service to ack the last batches.");
ABSL_FLAG(absl::Duration, stats_interval, absl::Seconds(60), "Send AgentStats this often.");
ABSL_FLAG(absl::Duration, reconnect_max_backoff, absl::Seconds(30),
          "Longest wait between two attempts to reach the service (the wait starts at 200 ms "
          "and doubles, with +/-50% jitter).");
ABSL_FLAG(bool, remove_rules_on_exit, false,
          "Delete the nftables table on exit (default: keep enforcing while the agent is down).");
ABSL_FLAG(bool, print_batches, false, "Print every sealed batch on stdout (debugging).");
ABSL_FLAG(bool, once_dump, false,
          "Print what this node's agent holds and exit (debugging): the persisted rule version "
          "and time zone, the spool's state and the aggregates of every batch the service has "
          "not acknowledged, summed per (uid, day, destination, protocol, port, action). Reads "
          "--state-dir/--spool-dir only, changes nothing, needs no root, safe while the agent "
          "runs (send it SIGUSR1 first to seal what it holds in memory).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port of a Prometheus /metrics HTTP listener, e.g. 127.0.0.1:9465. Empty: none.");

namespace {

egress::agent::Agent* g_agent = nullptr;

void OnSignal(int) {
  if (g_agent != nullptr) g_agent->RequestShutdown();
}

void OnSealSignal(int) {
  if (g_agent != nullptr) g_agent->RequestSeal();
}

}  // namespace

int main(int argc, char** argv) {
  egress::ParseCommandLine(
      argc, argv,
      "records every outgoing connection of the node's hosting accounts from "
      "the kernel's counting sets (ACCEPT and REJECT; or conntrack events and NFLOG), enforces "
      "their block rules, lock and egress "
      "address with nftables (table inet egress), and streams daily aggregates to the "
      "egress service. Runs as root (CAP_NET_ADMIN).\n\n"
      "  egress-agent --node-id=web1 --service=collector.example:7443 --tls-ca-file=ca.pem "
      "--token-file=/etc/egress/node.token\n\nSIGTERM/SIGINT: seal the last batch, wait for "
      "acks (--shutdown-grace) and exit 0. SIGUSR1: seal what is counted in memory into "
      "the spool now and log the agent's counters (then --once-dump shows everything).");
  egress::LogLevel level;
  if (!egress::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "--log-level: unknown level\n");
    return 2;
  }
  egress::SetMinLogLevel(level);

  if (absl::GetFlag(FLAGS_once_dump)) {
    const std::string state_dir = absl::GetFlag(FLAGS_state_dir);
    const std::string spool_dir = absl::GetFlag(FLAGS_spool_dir).empty()
                                      ? state_dir + "/spool"
                                      : absl::GetFlag(FLAGS_spool_dir);
    auto dump = egress::agent::DumpSpool(state_dir, spool_dir);
    if (!dump.ok()) {
      std::fprintf(stderr, "--once-dump: %s\n", dump.status().ToString().c_str());
      return 1;
    }
    std::fputs(dump->c_str(), stdout);
    return 0;
  }

  egress::agent::AgentConfig config;
  egress::agent::RealAgentPartsOptions parts_options;
  const std::string node_id = absl::GetFlag(FLAGS_node_id);
  if (node_id.empty()) {
    std::fprintf(stderr, "--node-id is required\n");
    return 2;
  }
  parts_options.state_dir = absl::GetFlag(FLAGS_state_dir);
  parts_options.spool.dir = absl::GetFlag(FLAGS_spool_dir).empty()
                                ? parts_options.state_dir + "/spool"
                                : absl::GetFlag(FLAGS_spool_dir);
  parts_options.spool.max_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_spool_max_bytes));
  const std::string fsync = absl::GetFlag(FLAGS_spool_fsync);
  if (fsync == "batch") {
    parts_options.spool.fsync = egress::agent::FsyncPolicy::kEveryBatch;
  } else if (fsync == "never") {
    parts_options.spool.fsync = egress::agent::FsyncPolicy::kNever;
  } else {
    std::fprintf(stderr, "--spool-fsync: must be batch or never\n");
    return 2;
  }
  parts_options.conntrack.rcvbuf_bytes = absl::GetFlag(FLAGS_conntrack_rcvbuf);
  parts_options.conntrack.max_rcvbuf_bytes = absl::GetFlag(FLAGS_conntrack_rcvbuf_max);
  const int group = absl::GetFlag(FLAGS_nflog_group);
  if (group < 0 || group > 65535) {
    std::fprintf(stderr, "--nflog-group: must be 0..65535\n");
    return 2;
  }
  parts_options.nflog.group = static_cast<uint16_t>(group);
  parts_options.nflog.rcvbuf_bytes = absl::GetFlag(FLAGS_nflog_rcvbuf);
  parts_options.nft.table = absl::GetFlag(FLAGS_nft_table);
  parts_options.nft.nflog_group = parts_options.nflog.group;
  const std::string reject_source = absl::GetFlag(FLAGS_reject_source);
  if (reject_source != "kernel-sets" && reject_source != "nflog") {
    std::fprintf(stderr, "--reject-source: must be kernel-sets or nflog\n");
    return 2;
  }
  parts_options.nft.count_rejects_in_kernel = reject_source == "kernel-sets";
  const std::string accept_source = absl::GetFlag(FLAGS_accept_source);
  if (accept_source != "kernel-sets" && accept_source != "conntrack") {
    std::fprintf(stderr, "--accept-source: must be conntrack or kernel-sets\n");
    return 2;
  }
  if (accept_source == "kernel-sets" && reject_source != "kernel-sets") {
    // The accept sets share the REJECT sets' generations.
    std::fprintf(stderr,
                 "--accept-source=kernel-sets needs --reject-source=kernel-sets (with "
                 "--reject-source=nflog, add --accept-source=conntrack)\n");
    return 2;
  }
  parts_options.nft.count_accepts_in_kernel = accept_source == "kernel-sets";
  config.batch_interval = absl::GetFlag(FLAGS_batch_interval);
  if (config.batch_interval <= absl::ZeroDuration() || absl::GetFlag(FLAGS_batch_max_records) < 1 ||
      absl::GetFlag(FLAGS_wakeup_events) < 1) {
    std::fprintf(stderr,
                 "--batch-interval, --batch-max-records and --wakeup-events must be positive\n");
    return 2;
  }
  // ~70 bytes a record (IPv6): 50,000 records stay well under the 4 MiB a
  // gRPC message may have by default; a larger batch would be refused by
  // the service on every resend.
  if (absl::GetFlag(FLAGS_batch_max_records) > 50000) {
    std::fprintf(stderr,
                 "--batch-max-records must be at most 50000 (a batch must fit a 4 MiB "
                 "gRPC message)\n");
    return 2;
  }
  config.batch_max_records = static_cast<size_t>(absl::GetFlag(FLAGS_batch_max_records));
  config.max_wakeup_events = static_cast<size_t>(absl::GetFlag(FLAGS_wakeup_events));
  config.default_time_zone = absl::GetFlag(FLAGS_time_zone);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.remove_rules_on_exit = absl::GetFlag(FLAGS_remove_rules_on_exit);
  config.print_batches = absl::GetFlag(FLAGS_print_batches);
  parts_options.uplink.target = absl::GetFlag(FLAGS_service);
  parts_options.uplink.node_id = node_id;
  if (const std::string token_file = absl::GetFlag(FLAGS_token_file); !token_file.empty()) {
    // An unreadable or empty token file is a mistake to report now, not a
    // stream the service refuses later with a less helpful message.
    absl::StatusOr<std::string> token = egress::ReadTrimmedFile(token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "--token-file: %s\n", std::string(token.status().message()).c_str());
      return 2;
    }
    if (token->empty()) {
      std::fprintf(stderr, "--token-file: %s is empty\n", token_file.c_str());
      return 2;
    }
    parts_options.uplink.token = *std::move(token);
  }
  parts_options.uplink.tls_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  parts_options.uplink.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  parts_options.uplink.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  parts_options.uplink.stats_interval = absl::GetFlag(FLAGS_stats_interval);
  parts_options.uplink.max_backoff = absl::GetFlag(FLAGS_reconnect_max_backoff);
  if (parts_options.uplink.max_backoff < parts_options.uplink.initial_backoff) {
    std::fprintf(stderr, "--reconnect-max-backoff: must be at least 200ms\n");
    return 2;
  }

  const egress::Clock* clock = egress::RealClock::Get();
  egress::agent::RealAgentParts real_parts(parts_options, clock);
  auto agent = egress::agent::Agent::Create(config, &real_parts, clock);
  if (!agent.ok()) {
    egress::LogError("agent_start_failed", {{"error", agent.status().ToString()}});
    return 1;
  }
  g_agent = agent->get();
  // The table (rules and REJECT counting) is in the kernel: let the boot go
  // on (the unit is ordered before network-pre.target).
  if (absl::Status s = egress::agent::NotifySystemdReady(); !s.ok()) {
    egress::LogWarning("systemd_notify_failed", {{"error", s.ToString()}});
  }
  const std::shared_ptr<prometheus::Collectable> metrics =
      egress::agent::NewAgentCollectable(agent->get());
  std::unique_ptr<egress::MetricsExposer> metrics_server;
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    auto server = egress::MetricsExposer::Start(absl::GetFlag(FLAGS_metrics_listen), {metrics});
    if (!server.ok()) {
      egress::LogError("agent_start_failed", {{"error", server.status().ToString()}});
      return 1;
    }
    metrics_server = *std::move(server);
    egress::LogInfo("metrics_listening", {{"address", metrics_server->address()}});
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  struct sigaction seal = {};
  seal.sa_handler = OnSealSignal;
  sigemptyset(&seal.sa_mask);
  sigaction(SIGUSR1, &seal, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const absl::Status status = (*agent)->Run();
  g_agent = nullptr;
  metrics_server.reset();
  agent->reset();
  if (!status.ok()) {
    egress::LogError("agent_failed", {{"error", status.ToString()}});
    return 1;
  }
  return 0;
}
