#include "service/collector_service.h"

#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/note.h"
#include "common/status_macros.h"
#include "service/ingest_validation.h"
#include "service/proto_time.h"
#include "service/rule_set_proto.h"

namespace egress {

using egress::v1::AgentMessage;
using egress::v1::ServiceMessage;

// Rejections listed in one Ack at most (the rest are counted).
constexpr int kMaxRejectionsPerAck = 100;

class CollectorStream : public grpc::ServerBidiReactor<AgentMessage, ServiceMessage>,
                        public std::enable_shared_from_this<CollectorStream> {
 public:
  CollectorStream(CollectorServiceImpl* service, grpc::CallbackServerContext* context)
      : service_(*service), context_(*context) {}

  // Called once, right after construction, with `self` owning the stream
  // until OnDone.
  void Begin(std::shared_ptr<CollectorStream> self) {
    self_ = std::move(self);
    absl::StatusOr<Caller> caller = service_.authorizer_.Authenticate(context_);
    if (!caller.ok()) {
      FinishWith(caller.status());
      return;
    }
    caller_ = *std::move(caller);
    certificate_names_ = Authorizer::CertificateNames(context_);
    ReadNext();
  }

  void Close() { FinishWith(absl::UnavailableError("the service is shutting down; reconnect")); }

  // Reloads the node's rules and sends them if newer than what was sent.
  void PushRules() {
    service_.pool_.Schedule([self = shared_from_this()] { self->ReloadAndPush(); });
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent closed its side (or the call is going away); batches still
      // committing are acknowledged first.
      {
        absl::MutexLock lock(&mutex_);
        if (batches_in_flight_ > 0) {
          finish_when_committed_ = true;
          return;
        }
      }
      FinishWith(absl::OkStatus());
      return;
    }
    service_.pool_.Schedule(
        [self = shared_from_this(), message = std::move(incoming_)]() { self->Handle(message); });
  }

  void OnWriteDone(bool ok) override {
    const ServiceMessage* next = nullptr;
    bool finish_now = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mutex_);
      writes_.pop_front();
      if (!ok) {
        // The agent is gone; nothing more can be written.
        writes_.clear();
        if (!finishing_) {
          finishing_ = true;
          final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
        }
      }
      if (!writes_.empty()) {
        next = &writes_.front();
      } else {
        writing_ = false;
        if (finishing_ && !finished_) {
          finished_ = true;
          finish_now = true;
          status = final_status_;
        }
      }
    }
    if (next != nullptr) StartWrite(next);
    if (finish_now) Finish(status);
  }

  void OnDone() override {
    if (!node_id_.empty()) service_.Unregister(node_id_, this);
    // Tasks still queued hold their own references; this may delete `this`.
    std::shared_ptr<CollectorStream> last = std::move(self_);
  }

 private:
  void ReadNext() {
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
    }
    StartRead(&incoming_);
  }

  // Finishes the call once queued writes are out. Idempotent.
  void FinishWith(const absl::Status& status) {
    grpc::Status final_status;
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
      finishing_ = true;
      final_status_ = ToGrpcStatus(status);
      if (writing_) return;  // OnWriteDone finishes after the last write
      finished_ = true;
      final_status = final_status_;
    }
    if (!status.ok()) {
      LogWarning("agent_stream_closed", {{"node_id", node_id_.empty() ? "-" : node_id_},
                                         {"code", absl::StatusCodeToString(status.code())},
                                         {"error", status.message()}});
    }
    Finish(final_status);
  }

  void Enqueue(ServiceMessage message) {
    const ServiceMessage* first = nullptr;
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
      writes_.push_back(std::move(message));
      if (writing_) return;
      writing_ = true;
      first = &writes_.front();
    }
    StartWrite(first);
  }

  void Handle(const AgentMessage& message) {
    absl::Status status;
    if (!hello_done_) {
      status = message.has_hello()
                   ? HandleHello(message.hello())
                   : absl::InvalidArgumentError("the first message of a stream must be Hello");
    } else if (message.has_batch()) {
      bool paused = false;
      status = HandleBatch(message.batch(), &paused);
      // Paused: the commit that frees a place in the window reads on.
      if (status.ok() && paused) return;
    } else if (message.has_rules_applied()) {
      status = HandleRulesApplied(message.rules_applied());
    } else if (message.has_stats()) {
      LogDebugStats(message.stats());
      RecordStats(message.stats());
    } else if (message.has_hello()) {
      status = absl::InvalidArgumentError("Hello may be sent only once per stream");
    } else {
      status = absl::InvalidArgumentError("empty AgentMessage");
    }
    if (!status.ok()) {
      FinishWith(status);
      return;
    }
    ReadNext();
  }

  absl::Status HandleHello(const egress::v1::Hello& hello) {
    if (hello.node_id().empty() || !ValidateIdentifier(hello.node_id()).ok()) {
      return absl::InvalidArgumentError("hello.node_id: not a node id");
    }
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(*caller_, Scope::kNode));
    if (caller_->claims.subject != hello.node_id()) {
      return absl::PermissionDeniedError(absl::StrCat("this token is for node \"",
                                                      caller_->claims.subject, "\", not \"",
                                                      hello.node_id(), "\""));
    }
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireCertificateFor(certificate_names_, hello.node_id()));
    EGRESS_ASSIGN_OR_RETURN(NodeInfo node, service_.store_.LoadNode(hello.node_id()));
    EGRESS_ASSIGN_OR_RETURN(NodeRuleSet rule_set, service_.store_.LoadRuleSet(hello.node_id()));
    if (hello.applied_rule_version() > 0) {
      // What the agent enforces right now (it applied its persisted rules at boot).
      (void)service_.store_.RecordRulesApplied(hello.node_id(), hello.applied_rule_version(), "");
    }
    agent_version_ = hello.agent_version();
    ServiceMessage message;
    egress::v1::Welcome* welcome = message.mutable_welcome();
    welcome->set_time_zone(service_.options_.time_zone.name());
    welcome->set_last_committed_seq(node.last_committed_seq);
    RuleSetToProto(rule_set, welcome->mutable_rule_set());
    TimeToProto(absl::Now(), welcome->mutable_server_time());
    {
      absl::MutexLock lock(&mutex_);
      node_ = std::move(node);
      sent_version_ = rule_set.version;
    }
    node_id_ = hello.node_id();
    if (hello.has_stats()) RecordStats(hello.stats());
    ++service_.counters_.streams_opened;
    LogInfo("agent_connected", {{"node_id", node_id_},
                                {"agent_version", hello.agent_version()},
                                {"last_committed_seq", welcome->last_committed_seq()},
                                {"rule_version", rule_set.version},
                                {"agent_rule_version", hello.applied_rule_version()}});
    // The welcome goes first: pushes may start once the stream is registered.
    Enqueue(std::move(message));
    hello_done_ = true;
    service_.Register(node_id_, shared_from_this());
    // A change committed after LoadRuleSet above but announced before
    // Register was announced to nobody: look once more (pushes only if newer).
    PushRules();
    return absl::OkStatus();
  }

  // Validates the batch and queues it for commit; the ack goes out when it
  // committed (BatchCommitted). `paused` says the window is full: the next
  // read starts when a commit frees a place.
  absl::Status HandleBatch(const egress::v1::RecordBatch& batch, bool* paused) {
    IngestLimits limits;
    limits.today = DayOf(absl::Now(), service_.options_.time_zone);
    limits.retention_days = service_.options_.retention_days;
    limits.max_records = service_.options_.max_records_per_batch;
    NodeInfo node;
    {
      absl::MutexLock lock(&mutex_);
      node = node_;
    }
    EGRESS_ASSIGN_OR_RETURN(ValidatedBatch validated, ValidateBatch(batch, node, limits));
    auto refused = std::make_shared<Refused>();
    refused->rejections = std::move(validated.rejections);
    refused->unknown_uid_records = validated.unknown_uid_records;
    const size_t accepted = validated.batch.records.size();
    {
      absl::MutexLock lock(&mutex_);
      ++batches_in_flight_;
      read_paused_ = batches_in_flight_ >= service_.options_.max_batches_in_flight;
      *paused = read_paused_;
    }
    service_.committer_.Submit(lane_, std::move(validated.batch),
                               [self = shared_from_this(), seq = batch.seq(), accepted,
                                refused](const absl::StatusOr<CommitResult>& result) {
                                 self->BatchCommitted(seq, accepted, *refused, result);
                               });
    return absl::OkStatus();
  }

  // What validation refused in a batch, reported in its ack.
  struct Refused {
    std::vector<egress::v1::RecordRejection> rejections;
    uint32_t unknown_uid_records = 0;
  };

  void BatchCommitted(uint64_t seq, size_t accepted, const Refused& refused,
                      const absl::StatusOr<CommitResult>& result) {
    bool read_on = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mutex_);
      --batches_in_flight_;
      read_on = read_paused_;
      read_paused_ = false;
      finish = finish_when_committed_ && batches_in_flight_ == 0;
    }
    if (!result.ok()) {
      // Nothing of it (nor of any later batch of this stream) was written:
      // the agent replays from here on its next stream.
      FinishWith(result.status());
      return;
    }
    auto& counters = service_.counters_;
    ServiceMessage message;
    egress::v1::Ack* ack = message.mutable_ack();
    ack->set_seq(seq);
    ack->set_duplicate(result->duplicate);
    if (result->duplicate) {
      ++counters.batches_duplicate;
    } else {
      ++counters.batches_committed;
      counters.records_committed += accepted;
      counters.records_rejected += refused.rejections.size();
      counters.records_unknown_uid += refused.unknown_uid_records;
      ack->set_accepted_records(static_cast<uint32_t>(accepted));
      if (accepted > 0 && service_.options_.on_new_destinations) {
        service_.options_.on_new_destinations();
      }
      ack->set_unknown_uid_records(refused.unknown_uid_records);
      for (size_t i = 0; i < refused.rejections.size() && i < kMaxRejectionsPerAck; ++i) {
        *ack->add_rejections() = refused.rejections[i];
      }
      if (seq != result->previous_seq + 1) {
        // Batches the agent never delivered (e.g. its spool overflowed): the
        // agent reports those losses itself; we make the gap visible.
        ++counters.sequence_gaps;
        LogWarning("sequence_gap",
                   {{"node_id", node_id_}, {"previous_seq", result->previous_seq}, {"seq", seq}});
      }
      if (!refused.rejections.empty() || refused.unknown_uid_records > 0) {
        LogWarning("records_refused",
                   {{"node_id", node_id_},
                    {"seq", seq},
                    {"rejected", refused.rejections.size()},
                    {"unknown_uid", refused.unknown_uid_records},
                    {"first_reason", refused.rejections.empty() ? std::string("-")
                                                                : refused.rejections[0].reason()}});
      }
    }
    Enqueue(std::move(message));
    if (finish) {
      FinishWith(absl::OkStatus());
    } else if (read_on) {
      ReadNext();
    }
  }

  absl::Status HandleRulesApplied(const egress::v1::RulesApplied& applied) {
    if (applied.error().size() > 4096) {
      return absl::InvalidArgumentError("rules_applied.error: at most 4096 bytes");
    }
    EGRESS_RETURN_IF_ERROR(
        service_.store_.RecordRulesApplied(node_id_, applied.version(), applied.error()));
    if (applied.error().empty()) {
      LogInfo("rules_applied", {{"node_id", node_id_}, {"version", applied.version()}});
    } else {
      LogError("rules_apply_failed",
               {{"node_id", node_id_}, {"version", applied.version()}, {"error", applied.error()}});
    }
    return absl::OkStatus();
  }

  // Kept for ops (AccountsService.GetNode, table node_agent_stats); a
  // failure to store them is logged, never fatal to the stream.
  void RecordStats(const egress::v1::AgentStats& stats) {
    AgentStatsRecord record;
    record.agent_version = agent_version_;
    record.conntrack_events = stats.conntrack_events();
    record.reject_events = stats.reject_events();
    record.unattributed_events = stats.unattributed_events();
    record.netlink_overruns = stats.netlink_overruns();
    record.resyncs = stats.resyncs();
    record.records = stats.records();
    record.batches_sent = stats.batches_sent();
    record.batches_acked = stats.batches_acked();
    record.spool_bytes = stats.spool_bytes();
    record.spool_dropped_batches = stats.spool_dropped_batches();
    record.applied_rule_version = stats.applied_rule_version();
    record.nft_errors = stats.nft_errors();
    record.conntrack_events_sysctl = stats.conntrack_events_sysctl();
    if (absl::Status s = service_.store_.RecordAgentStats(node_id_, record); !s.ok()) {
      LogWarning("agent_stats_not_stored", {{"node_id", node_id_}, {"error", s.ToString()}});
    }
  }

  void LogDebugStats(const egress::v1::AgentStats& stats) {
    Log(LogLevel::kDebug, "agent_stats",
        {{"node_id", node_id_},
         {"conntrack_events", stats.conntrack_events()},
         {"netlink_overruns", stats.netlink_overruns()},
         {"spool_bytes", stats.spool_bytes()},
         {"applied_rule_version", stats.applied_rule_version()}});
  }

  void ReloadAndPush() {
    if (!hello_done_) return;
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
    }
    absl::StatusOr<NodeInfo> node = service_.store_.LoadNode(node_id_);
    absl::StatusOr<NodeRuleSet> rule_set = service_.store_.LoadRuleSet(node_id_);
    if (!node.ok() || !rule_set.ok()) {
      const absl::Status& error = node.ok() ? rule_set.status() : node.status();
      LogWarning("rule_push_failed", {{"node_id", node_id_}, {"error", error.message()}});
      if (error.code() == absl::StatusCode::kNotFound) FinishWith(error);
      return;
    }
    {
      absl::MutexLock lock(&mutex_);
      node_ = *std::move(node);
      if (rule_set->version <= sent_version_) return;
      sent_version_ = rule_set->version;
    }
    ServiceMessage message;
    RuleSetToProto(*rule_set, message.mutable_rule_set());
    ++service_.counters_.rule_sets_pushed;
    LogInfo("rules_pushed", {{"node_id", node_id_}, {"version", rule_set->version}});
    Enqueue(std::move(message));
  }

  CollectorServiceImpl& service_;
  grpc::CallbackServerContext& context_;
  std::shared_ptr<CollectorStream> self_;
  std::optional<Caller> caller_;
  // Names of the agent's client certificate (mTLS; nullopt without one), read
  // in Begin on the call's own thread.
  std::optional<std::vector<std::string>> certificate_names_;
  // Set once by HandleHello; read afterwards (handlers run one at a time and
  // pushes start only after Register).
  std::string node_id_;
  std::string agent_version_;
  std::atomic<bool> hello_done_{false};
  AgentMessage incoming_;
  const std::shared_ptr<IngestCommitter::Lane> lane_ = service_.committer_.NewLane();

  absl::Mutex mutex_;
  NodeInfo node_ ABSL_GUARDED_BY(mutex_);
  uint64_t sent_version_ ABSL_GUARDED_BY(mutex_) = 0;
  // front() is in flight while writing_; its address stays valid until
  // OnWriteDone pops it (deque push_back keeps references).
  std::deque<ServiceMessage> writes_ ABSL_GUARDED_BY(mutex_);
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finishing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  int batches_in_flight_ ABSL_GUARDED_BY(mutex_) = 0;
  bool read_paused_ ABSL_GUARDED_BY(mutex_) = false;
  bool finish_when_committed_ ABSL_GUARDED_BY(mutex_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mutex_);
};

CollectorServiceImpl::CollectorServiceImpl(CollectorStore* store, const Authorizer* authorizer,
                                           ThreadPool* pool, CollectorOptions options)
    : store_(*store),
      authorizer_(*authorizer),
      pool_(*pool),
      options_(std::move(options)),
      committer_(store, pool, options_.committer) {}

CollectorServiceImpl::~CollectorServiceImpl() = default;

grpc::ServerBidiReactor<AgentMessage, ServiceMessage>* CollectorServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<CollectorStream>(this, context);
  CollectorStream* raw = stream.get();
  raw->Begin(std::move(stream));
  return raw;
}

void CollectorServiceImpl::Register(const std::string& node_id,
                                    const std::shared_ptr<CollectorStream>& stream) {
  absl::MutexLock lock(&mutex_);
  streams_[node_id][stream.get()] = stream;
}

void CollectorServiceImpl::Unregister(const std::string& node_id, const CollectorStream* stream) {
  absl::MutexLock lock(&mutex_);
  auto it = streams_.find(node_id);
  if (it == streams_.end()) return;
  it->second.erase(stream);
  if (it->second.empty()) streams_.erase(it);
}

void CollectorServiceImpl::NodeRulesChanged(const std::string& node_id) {
  std::vector<std::shared_ptr<CollectorStream>> targets;
  {
    absl::MutexLock lock(&mutex_);
    auto it = streams_.find(node_id);
    if (it == streams_.end()) return;
    for (auto& [raw, weak] : it->second) {
      if (auto stream = weak.lock()) targets.push_back(std::move(stream));
    }
  }
  for (auto& stream : targets) stream->PushRules();
}

std::vector<std::shared_ptr<CollectorStream>> CollectorServiceImpl::LiveStreams() {
  std::vector<std::shared_ptr<CollectorStream>> live;
  absl::MutexLock lock(&mutex_);
  for (auto& [node, streams] : streams_) {
    for (auto& [raw, weak] : streams) {
      if (auto stream = weak.lock()) live.push_back(std::move(stream));
    }
  }
  return live;
}

void CollectorServiceImpl::AllRulesChanged() {
  for (auto& stream : LiveStreams()) stream->PushRules();
}

void CollectorServiceImpl::CloseAllStreams() {
  for (auto& stream : LiveStreams()) stream->Close();
}

CollectorStats CollectorServiceImpl::stats() const {
  CollectorStats stats;
  stats.streams_opened = counters_.streams_opened;
  stats.batches_committed = counters_.batches_committed;
  stats.batches_duplicate = counters_.batches_duplicate;
  stats.records_committed = counters_.records_committed;
  stats.records_rejected = counters_.records_rejected;
  stats.records_unknown_uid = counters_.records_unknown_uid;
  stats.sequence_gaps = counters_.sequence_gaps;
  stats.rule_sets_pushed = counters_.rule_sets_pushed;
  stats.commits = committer_.stats();
  return stats;
}

int CollectorServiceImpl::open_streams() const {
  absl::MutexLock lock(&mutex_);
  int count = 0;
  for (const auto& [node, streams] : streams_) count += static_cast<int>(streams.size());
  return count;
}

}  // namespace egress
