// Load: many simulated agent streams and a steady rate of panel requests
// together against the real egress-service binary on a real PostgreSQL
// (fsync on), for minutes. Reports errors of every kind (expected: zero),
// p50/p99 latency of acks (batch written -> Ack read) and of each panel call,
// the service's RSS every 10 s, and whether PostgreSQL holds exactly what
// the agents sent (compared once the ingest journal is folded). The baseline, measured first in the
// same run: one stream and 10 panel requests/s on the same service and data.
//
// Each simulated agent is its own node (one account), on its own HTTP/2
// connection, sends a batch every --batch_interval (records spread over
// --destinations keys, as a node aggregates them) and keeps at most 16
// batches unacknowledged, like egress-agent. The service runs with
// --enrichment=false --owner-database=none (no DNS traffic off the machine).
//
//   load_bench [--streams=500] [--panel_rps=200] [--minutes=3]
//              [--batch_interval=2s] [--records=20] [--destinations=200]
//              [--fold_wait=120s]
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/command_line.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/collector.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "pqxx/pqxx"
#include "tests/support/postgres_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_tokens.h"

ABSL_FLAG(int, streams, 500, "Simulated agents, one node and one connection each.");
ABSL_FLAG(int, panel_rps, 200,
          "Panel requests per second (ListDates, ListConnections, "
          "GetAccountStatus in turn).");
ABSL_FLAG(double, minutes, 3, "Duration of the load phase.");
ABSL_FLAG(absl::Duration, baseline, absl::Seconds(20), "Duration of the baseline phase.");
ABSL_FLAG(absl::Duration, batch_interval, absl::Seconds(2), "Each agent sends a batch this often.");
ABSL_FLAG(int, records, 20, "Records per batch.");
ABSL_FLAG(int, destinations, 200, "Distinct destinations per account.");
ABSL_FLAG(absl::Duration, fold_wait, absl::Seconds(120),
          "After the last ack, wait at most this long for the ingest journal to be folded into "
          "the daily counts before comparing them with what was sent.");

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using Clock = std::chrono::steady_clock;
constexpr int kWindow = 16;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Latencies and errors of one phase.
struct Recorder {
  std::mutex mu;
  std::vector<double> acks;
  std::map<std::string, std::vector<double>> panel;
  std::map<std::string, int64_t> errors;  // kind -> count
  void Error(const std::string& kind) {
    std::lock_guard<std::mutex> lock(mu);
    ++errors[kind];
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

class SimAgent : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ServiceMessage> {
 public:
  SimAgent(int index, const std::shared_ptr<grpc::Channel>& channel, int destinations)
      : index_(index),
        node_(absl::StrCat("load-n", index)),
        stub_(v1::CollectorService::NewStub(channel)),
        rng_(static_cast<uint32_t>(index) + 7),
        destinations_(destinations) {}

  void Begin(const std::string& token) {
    context_.AddMetadata("authorization", "Bearer " + token);
    stub_->async()->Connect(&context_, this);
    AddHold();
    StartRead(&incoming_);
    v1::AgentMessage hello;
    hello.mutable_hello()->set_node_id(node_);
    hello.mutable_hello()->set_agent_version("load-bench");
    Enqueue(std::move(hello));
    StartCall();
  }

  bool welcomed() {
    std::lock_guard<std::mutex> lock(mu_);
    return welcomed_;
  }

  // Sends one batch unless kWindow batches wait for their ack.
  void SendBatch(int records, Recorder* recorder) {
    v1::AgentMessage message;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!welcomed_ || done_) return;
      if (sent_.size() >= kWindow) {
        recorder->Error("window_full");
        return;
      }
      recorder_ = recorder;
      v1::RecordBatch* batch = message.mutable_batch();
      batch->set_seq(++seq_);
      const absl::CivilDay day = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
      const int64_t now = absl::ToUnixSeconds(absl::Now());
      std::vector<int> picks(static_cast<size_t>(destinations_));
      for (int i = 0; i < destinations_; ++i) picks[static_cast<size_t>(i)] = i;
      std::shuffle(picks.begin(), picks.end(), rng_);
      for (int i = 0; i < records && i < destinations_; ++i) {
        const int d = picks[static_cast<size_t>(i)];
        v1::ConnectionRecord* r = batch->add_records();
        r->set_uid(10000);
        r->mutable_day()->set_year(static_cast<int32_t>(day.year()));
        r->mutable_day()->set_month(day.month());
        r->mutable_day()->set_day(day.day());
        const unsigned char ip[4] = {198, static_cast<unsigned char>(18 + (d >> 8) % 2),
                                     static_cast<unsigned char>(d & 0xff),
                                     static_cast<unsigned char>(1 + index_ % 250)};
        r->set_dst_ip(std::string(reinterpret_cast<const char*>(ip), 4));
        const bool udp = d % 5 == 0;
        r->set_protocol(udp ? v1::PROTOCOL_UDP : v1::PROTOCOL_TCP);
        r->set_dst_port(udp ? 53 : (d % 3 == 0 ? 80 : 443));
        r->set_action(d % 17 == 0 ? v1::ACTION_REJECT : v1::ACTION_ACCEPT);
        const uint64_t count = 1 + rng_() % 5;
        r->set_count(count);
        sent_count_ += count;
        r->mutable_first_seen()->set_seconds(now);
        r->mutable_last_seen()->set_seconds(now);
      }
      batch->mutable_create_time()->set_seconds(now);
      sent_[seq_] = Clock::now();
    }
    Enqueue(std::move(message));
  }

  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutting_down_ = true;
    }
    context_.TryCancel();
  }
  void WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }
  size_t unacked() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.size();
  }
  uint64_t sent_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_count_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!shutting_down_ && recorder_ != nullptr) recorder_->Error("stream_read_ended");
      RemoveHold();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (incoming_.has_welcome()) {
        welcomed_ = true;
        seq_ = incoming_.welcome().last_committed_seq();
      } else if (incoming_.has_ack()) {
        const v1::Ack& ack = incoming_.ack();
        auto it = sent_.find(ack.seq());
        if (it == sent_.end()) {
          if (recorder_ != nullptr) recorder_->Error("ack_unknown_seq");
        } else {
          const double ms = Ms(Clock::now() - it->second);
          sent_.erase(it);
          if (recorder_ != nullptr) {
            std::lock_guard<std::mutex> rlock(recorder_->mu);
            recorder_->acks.push_back(ms);
            if (ack.rejections_size() > 0) recorder_->errors["ack_rejections"] += 1;
            if (ack.unknown_uid_records() > 0) recorder_->errors["ack_unknown_uid"] += 1;
            if (ack.duplicate()) recorder_->errors["ack_duplicate"] += 1;
          }
        }
      }
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    v1::AgentMessage* next = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.pop_front();
      if (!ok) {
        writing_ = false;
        return;
      }
      if (queue_.empty()) {
        writing_ = false;
      } else {
        next = &queue_.front();
      }
    }
    if (next != nullptr) StartWrite(next);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shutting_down_) {
      std::fprintf(stderr, "stream %s ended: %d %s\n", node_.c_str(), status.error_code(),
                   status.error_message().c_str());
      if (recorder_ != nullptr) recorder_->Error("stream_ended");
    }
    done_ = true;
    cv_.notify_all();
  }

 private:
  // One write at a time; std::deque keeps the element being written in place.
  void Enqueue(v1::AgentMessage message) {
    v1::AgentMessage* first = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(message));
      if (writing_) return;
      writing_ = true;
      first = &queue_.front();
    }
    StartWrite(first);
  }

  const int index_;
  const std::string node_;
  std::unique_ptr<v1::CollectorService::Stub> stub_;
  grpc::ClientContext context_;
  v1::ServiceMessage incoming_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::AgentMessage> queue_;
  bool writing_ = false;
  bool welcomed_ = false;
  bool done_ = false;
  bool shutting_down_ = false;
  uint64_t seq_ = 0;
  uint64_t sent_count_ = 0;
  std::map<uint64_t, Clock::time_point> sent_;
  std::mt19937 rng_;
  const int destinations_;
  Recorder* recorder_ = nullptr;
};

// Panel calls through the callback API, paced by the calling thread.
class Panel {
 public:
  Panel(const std::shared_ptr<grpc::Channel>& channel, int accounts)
      : stub_(v1::ConnectionsService::NewStub(channel)), accounts_(accounts) {
    for (int i = 0; i < accounts; ++i) {
      tokens_.push_back(testing::PanelToken(absl::StrCat("load-a", i)));
    }
  }

  void Run(int rps, absl::Duration duration, int account_limit, Recorder* recorder) {
    const Clock::duration step = std::chrono::nanoseconds(1'000'000'000 / std::max(1, rps));
    const Clock::time_point end = Clock::now() + absl::ToChronoNanoseconds(duration);
    Clock::time_point next = Clock::now();
    std::mt19937 rng(42);
    int n = 0;
    while (next < end) {
      std::this_thread::sleep_until(next);
      next += step;
      if (in_flight_.load() > 2000) {
        recorder->Error("panel_backlog");
        continue;
      }
      const int account = static_cast<int>(rng() % static_cast<uint32_t>(account_limit));
      Issue(n++ % 3, account, recorder);
    }
  }

  void Drain() {
    while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

 private:
  struct Call {
    grpc::ClientContext context;
    Clock::time_point start;
    v1::ListDatesRequest dates_request;
    v1::ListDatesResponse dates_response;
    v1::ListConnectionsRequest list_request;
    v1::ListConnectionsResponse list_response;
    v1::GetAccountStatusRequest status_request;
    v1::AccountStatus status_response;
  };

  void Issue(int kind, int account, Recorder* recorder) {
    auto* call = new Call();
    call->context.AddMetadata("authorization", "Bearer " + tokens_[static_cast<size_t>(account)]);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const std::string id = absl::StrCat("load-a", account);
    static const char* const kNames[] = {"ListDates", "ListConnections", "GetAccountStatus"};
    const std::string name = kNames[kind];
    ++in_flight_;
    call->start = Clock::now();
    auto done = [this, call, name, recorder](grpc::Status status) {
      const double ms = Ms(Clock::now() - call->start);
      {
        std::lock_guard<std::mutex> lock(recorder->mu);
        recorder->panel[name].push_back(ms);
        if (!status.ok()) {
          recorder->errors[absl::StrCat(name, "_", status.error_code())] += 1;
        }
      }
      delete call;
      --in_flight_;
    };
    if (kind == 0) {
      call->dates_request.set_account_id(id);
      stub_->async()->ListDates(&call->context, &call->dates_request, &call->dates_response, done);
    } else if (kind == 1) {
      call->list_request.set_account_id(id);
      const absl::CivilDay day = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
      call->list_request.mutable_date()->set_year(static_cast<int32_t>(day.year()));
      call->list_request.mutable_date()->set_month(day.month());
      call->list_request.mutable_date()->set_day(day.day());
      stub_->async()->ListConnections(&call->context, &call->list_request, &call->list_response,
                                      done);
    } else {
      call->status_request.set_account_id(id);
      stub_->async()->GetAccountStatus(&call->context, &call->status_request,
                                       &call->status_response, done);
    }
  }

  std::unique_ptr<v1::ConnectionsService::Stub> stub_;
  const int accounts_;
  std::vector<std::string> tokens_;
  std::atomic<int> in_flight_{0};
};

int64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kib = 0;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// Sends batches from `agents[0..count)` every `interval`, spread evenly,
// until `end`.
void DriveAgents(std::vector<std::unique_ptr<SimAgent>>& agents, size_t count,
                 absl::Duration interval, int records, Clock::time_point end, Recorder* recorder) {
  const Clock::duration period = absl::ToChronoNanoseconds(interval);
  const Clock::time_point start = Clock::now();
  std::vector<Clock::time_point> next(count);
  for (size_t i = 0; i < count; ++i) {
    next[i] = start + period * static_cast<int64_t>(i) / static_cast<int64_t>(count);
  }
  while (Clock::now() < end) {
    const Clock::time_point now = Clock::now();
    for (size_t i = 0; i < count; ++i) {
      if (next[i] <= now) {
        agents[i]->SendBatch(records, recorder);
        next[i] += period;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Report(const char* phase, Recorder& r, double seconds) {
  std::lock_guard<std::mutex> lock(r.mu);
  std::printf("%s: acks=%zu (%.1f/s) ack p50=%.2f ms p99=%.2f ms\n", phase, r.acks.size(),
              static_cast<double>(r.acks.size()) / seconds, Percentile(r.acks, 0.5),
              Percentile(r.acks, 0.99));
  for (const auto& [name, v] : r.panel) {
    std::printf("%s: %s n=%zu p50=%.2f ms p99=%.2f ms\n", phase, name.c_str(), v.size(),
                Percentile(v, 0.5), Percentile(v, 0.99));
  }
  int64_t total = 0;
  for (const auto& [kind, n] : r.errors) {
    std::printf("%s: error %s = %lld\n", phase, kind.c_str(), static_cast<long long>(n));
    total += n;
  }
  std::printf("%s: errors total = %lld\n", phase, static_cast<long long>(total));
}

int Run() {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int records = absl::GetFlag(FLAGS_records);
  const int destinations = absl::GetFlag(FLAGS_destinations);
  std::printf("load average at start: %s; %u cpus\n", LoadAverage().c_str(),
              std::thread::hardware_concurrency());

  testing::PostgresClusterOptions pg_options;
  pg_options.durable = true;
  auto cluster = testing::PostgresCluster::Start(pg_options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "postgres: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  if (auto s = (*cluster)->CreateDatabase("egress"); !s.ok()) {
    std::fprintf(stderr, "createdb: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string conninfo = (*cluster)->ConnectionString("egress");
  char tmpl[] = "/tmp/egress-load-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  std::ofstream(dir + "/secret") << testing::kTestTokenSecret;
  auto service = testing::ChildProcess::Start(
      {"/bin/sh", "-c",
       absl::StrCat("exec ", EGRESS_SERVICE_PATH, " --listen=127.0.0.1:0 '--database=", conninfo,
                    "' --token-secret-file=", dir, "/secret --owner-database=none",
                    " --enrichment=false --log-level=warning 2>>", dir, "/service.log")});
  if (!service.ok()) return 1;
  auto listening = (*service)->WaitForLine("egress-service listening on ", absl::Seconds(60));
  if (!listening.ok()) {
    std::fprintf(stderr, "%s\n", listening.status().ToString().c_str());
    return 1;
  }
  const std::string address = listening->substr(std::string("egress-service listening on ").size());
  const pid_t service_pid = (*service)->pid();
  std::printf("service %s pid %d\n", address.c_str(), service_pid);

  // Nodes and accounts, through the admin API.
  auto admin_channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto admin = v1::AccountsService::NewStub(admin_channel);
  for (int i = 0; i < streams; ++i) {
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id(absl::StrCat("load-n", i));
    v1::Node node_out;
    grpc::ClientContext node_context;
    testing::Authorize(&node_context, testing::AdminToken());
    grpc::Status s = admin->UpsertNode(&node_context, node, &node_out);
    v1::UpsertAccountRequest account;
    account.mutable_account()->set_account_id(absl::StrCat("load-a", i));
    account.mutable_account()->set_node_id(absl::StrCat("load-n", i));
    account.mutable_account()->set_uid(10000);
    v1::Account out;
    grpc::ClientContext context;
    testing::Authorize(&context, testing::AdminToken());
    if (s.ok()) s = admin->UpsertAccount(&context, account, &out);
    if (!s.ok()) {
      std::fprintf(stderr, "register %d: %s\n", i, s.error_message().c_str());
      return 1;
    }
  }

  // One connection per agent (a local subchannel pool keeps them apart).
  std::vector<std::unique_ptr<SimAgent>> agents;
  for (int i = 0; i < streams; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("egress.load_bench.agent", i);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    agents.push_back(std::make_unique<SimAgent>(i, channel, destinations));
    agents.back()->Begin(testing::NodeToken(absl::StrCat("load-n", i)));
  }
  const absl::Time welcome_deadline = absl::Now() + absl::Seconds(60);
  for (auto& agent : agents) {
    while (!agent->welcomed() && absl::Now() < welcome_deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (!agent->welcomed()) {
      std::fprintf(stderr, "an agent got no Welcome in 60 s\n");
      return 1;
    }
  }
  std::printf("%d streams welcomed; RSS %lld KiB\n", streams,
              static_cast<long long>(RssKiB(service_pid)));

  Panel panel(admin_channel, streams);
  // Baseline: one stream, 10 panel requests/s.
  Recorder baseline;
  {
    const absl::Duration length = absl::GetFlag(FLAGS_baseline);
    const Clock::time_point end = Clock::now() + absl::ToChronoNanoseconds(length);
    std::thread drive([&] {
      DriveAgents(agents, 1, absl::GetFlag(FLAGS_batch_interval), records, end, &baseline);
    });
    panel.Run(10, length, 1, &baseline);
    drive.join();
    panel.Drain();
    Report("baseline (1 stream, 10 panel req/s)", baseline, absl::ToDoubleSeconds(length));
  }

  // Load.
  Recorder load;
  const absl::Duration length = absl::Minutes(absl::GetFlag(FLAGS_minutes));
  const Clock::time_point end = Clock::now() + absl::ToChronoNanoseconds(length);
  std::atomic<bool> sampling{true};
  std::vector<int64_t> rss;
  std::thread sampler([&] {
    while (sampling.load()) {
      rss.push_back(RssKiB(service_pid));
      std::printf("t=%zus service RSS %lld KiB, load average %s\n", (rss.size() - 1) * 10,
                  static_cast<long long>(rss.back()), LoadAverage().c_str());
      std::fflush(stdout);
      for (int i = 0; i < 100 && sampling.load(); ++i) absl::SleepFor(absl::Milliseconds(100));
    }
  });
  std::thread drive([&] {
    DriveAgents(agents, agents.size(), absl::GetFlag(FLAGS_batch_interval), records, end, &load);
  });
  panel.Run(absl::GetFlag(FLAGS_panel_rps), length, streams, &load);
  drive.join();
  panel.Drain();
  // The last acks.
  const absl::Time ack_deadline = absl::Now() + absl::Seconds(60);
  for (auto& agent : agents) {
    while (agent->unacked() > 0 && absl::Now() < ack_deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (agent->unacked() > 0) load.Error("unacked_at_end");
  }
  sampling = false;
  sampler.join();
  char title[128];
  std::snprintf(title, sizeof(title), "load (%d streams, %d panel req/s, %.1f min)", streams,
                absl::GetFlag(FLAGS_panel_rps), absl::GetFlag(FLAGS_minutes));
  Report(title, load, absl::ToDoubleSeconds(length));
  std::printf("service RSS KiB every 10 s:");
  for (int64_t kib : rss) std::printf(" %lld", static_cast<long long>(kib));
  std::printf("\n");

  // Exactness: PostgreSQL holds what was sent and acknowledged. An ack
  // means "in the ingest journal"; the daily counts get it at the journal's
  // next fold (every 250 ms, longer with a backlog), so compare only once the
  // journal is empty: right after the last ack, a correct run would show a
  // false MISMATCH.
  uint64_t sent = 0;
  for (auto& agent : agents) sent += agent->sent_count();
  int64_t stored = -1;
  bool folded = false;
  try {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    const absl::Time wait_start = absl::Now();
    const absl::Duration fold_wait = absl::GetFlag(FLAGS_fold_wait);
    absl::Time next_report = wait_start + absl::Seconds(5);
    while (true) {
      const pqxx::row waiting =
          work.exec1("SELECT count(*), coalesce(sum(records), 0) FROM ingest_journal");
      if (waiting[0].as<int64_t>() == 0) {
        folded = true;
        std::printf("ingest journal folded %.1f s after the last ack\n",
                    absl::ToDoubleSeconds(absl::Now() - wait_start));
        break;
      }
      if (absl::Now() - wait_start > fold_wait) {
        std::printf(
            "ingest journal still holds %lld entries (%lld records) %.0f s after the last "
            "ack: the counts below miss them\n",
            waiting[0].as<long long>(), waiting[1].as<long long>(),
            absl::ToDoubleSeconds(fold_wait));
        break;
      }
      if (absl::Now() >= next_report) {
        std::printf("waiting for the ingest journal's folds: %lld entries (%lld records) left\n",
                    waiting[0].as<long long>(), waiting[1].as<long long>());
        std::fflush(stdout);
        next_report += absl::Seconds(5);
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    stored = work.exec1("SELECT coalesce(sum(count), 0) FROM connection_daily")[0].as<int64_t>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "query: %s\n", e.what());
  }
  const char* verdict = static_cast<int64_t>(sent) == stored ? "exact"
                        : folded                             ? "MISMATCH"
                                 : "not comparable: the journal was not folded in time";
  std::printf("counts sent %llu, in PostgreSQL %lld (%s)\n", static_cast<unsigned long long>(sent),
              static_cast<long long>(stored), verdict);

  for (auto& agent : agents) agent->Cancel();
  for (auto& agent : agents) agent->WaitDone();
  agents.clear();
  (*service)->Signal(SIGTERM);
  (void)(*service)->Wait(absl::Seconds(30));
  std::filesystem::remove_all(dir);
  return static_cast<int64_t>(sent) == stored ? 0 : 1;
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv,
                           "load_bench: simulated agent streams and panel requests together "
                           "against the real egress-service on a real PostgreSQL.");
  return egress::Run();
}
