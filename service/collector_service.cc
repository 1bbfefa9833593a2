#include "service/collector_service.h"

#include <deque>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/capabilities.h"
#include "common/civil_day.h"
#include "common/field_status.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/note.h"
#include "common/status_macros.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "service/ingest_validation.h"
#include "service/proto_time.h"
#include "service/rpc_edge.h"
#include "service/rule_set_proto.h"
#include "service/unparsable_request_interceptor.h"
#include "service/wire_integers.h"

namespace egress {

using egress::v1::AgentMessage;
using egress::v1::ServiceMessage;

// Rejections listed in one Ack at most (the rest are counted).
constexpr int kMaxRejectionsPerAck = 100;

// Reads and writes serialized messages (the method is registered raw) so
// that a message that does not parse ends the stream with INVALID_ARGUMENT
// naming the problem, as unary calls answer, rather than looking like the
// agent's half-close.
class CollectorStream : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
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
    auto message = std::make_shared<AgentMessage>();
    const bool parsed =
        grpc::GenericDeserialize<grpc::ProtoBufferReader, AgentMessage>(&incoming_, message.get())
            .ok();
    incoming_.Clear();
    if (!parsed) {
      FinishWith(absl::InvalidArgumentError(
          UnparsableRequestMessage("/egress.v1.CollectorService/Connect")));
      return;
    }
    service_.pool_.Schedule(
        [self = shared_from_this(), message = std::move(message)]() { self->Handle(*message); });
  }

  void OnWriteDone(bool ok) override {
    const grpc::ByteBuffer* next = nullptr;
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
    size_t unacked = 0;
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
      finishing_ = true;
      final_status_ = FinishRpc("Connect", status);
      unacked = unacked_.size();
      unacked_.clear();
      if (writing_) return;  // OnWriteDone finishes after the last write
      finished_ = true;
      final_status = final_status_;
    }
    if (unacked > 0 && service_.options_.on_end_unacked) {
      service_.options_.on_end_unacked(status.code(), unacked);
    }
    if (!status.ok()) {
      LogWarning("agent_stream_closed", {{"node_id", node_id_.empty() ? "-" : node_id_},
                                         {"code", absl::StatusCodeToString(status.code())},
                                         {"error", status.message()}});
    }
    Finish(final_status);
  }

  void Enqueue(const ServiceMessage& message) {
    grpc::ByteBuffer buffer;
    bool own_buffer = false;
    if (!grpc::GenericSerialize<grpc::ProtoBufferWriter, ServiceMessage>(message, &buffer,
                                                                         &own_buffer)
             .ok()) {
      // Our own message: a bug. The agent reconnects and gets a Welcome.
      FinishWith(absl::InternalError("could not serialize a ServiceMessage"));
      return;
    }
    const grpc::ByteBuffer* first = nullptr;
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
      writes_.push_back(std::move(buffer));
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
      {
        absl::MutexLock lock(&mutex_);
        unacked_.try_emplace(message.batch().seq(), absl::Now());
      }
      bool paused = false;
      status = HandleBatch(message.batch(), &paused);
      // Paused: the commit that frees a place in the window reads on.
      if (status.ok() && paused) return;
    } else if (message.has_rules_applied()) {
      status = HandleRulesApplied(message.rules_applied());
    } else if (message.has_stats()) {
      status = ValidateWireIntegers(message.stats(), "stats");
      if (status.ok()) {
        LogDebugStats(message.stats());
        RecordStats(message.stats());
      }
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
    EGRESS_RETURN_IF_ERROR(ValidateWireIntegers(hello, "hello"));
    if (caller_->claims.subject != hello.node_id()) {
      return absl::PermissionDeniedError(absl::StrCat("this token is for node \"",
                                                      caller_->claims.subject, "\", not \"",
                                                      hello.node_id(), "\""));
    }
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireCertificateFor(certificate_names_, hello.node_id()));
    EGRESS_ASSIGN_OR_RETURN(NodeInfo node, service_.store_.LoadNode(hello.node_id()));
    EGRESS_ASSIGN_OR_RETURN(NodeRuleSet rule_set, service_.store_.LoadRuleSet(hello.node_id()));
    if (hello.applied_rule_version() > 0) {
      // What the agent enforces right now (it applied its persisted rules at
      // boot); which account versions that holds is unknown here, so only
      // the node's figure is recorded.
      (void)service_.store_.RecordRulesApplied(hello.node_id(), hello.applied_rule_version(), "",
                                               {});
    }
    agent_version_ = hello.agent_version();
    for (const std::string& capability : hello.capabilities()) {
      if (capability == kRuleSetDeltasCapability) deltas_ = true;
    }
    ServiceMessage message;
    egress::v1::Welcome* welcome = message.mutable_welcome();
    welcome->set_time_zone(service_.options_.time_zone.name());
    welcome->set_last_committed_seq(node.last_committed_seq);
    RuleSetToProto(rule_set, /*base_version=*/0, welcome->mutable_rule_set());
    TimeToProto(service_.options_.clock->Now(), welcome->mutable_server_time());
    {
      absl::MutexLock lock(&mutex_);
      node_ = std::move(node);
      RecordSent(rule_set);
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
    limits.today = DayOf(service_.options_.clock->Now(), service_.options_.time_zone);
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
    if (service_.options_.on_committed_records && !validated.batch.records.empty()) {
      // The abuse detector's copy, handed over once the batch is committed.
      absl::flat_hash_map<std::string, uint32_t> uid_of;
      for (const auto& [uid, account_id] : node.account_by_uid) uid_of[account_id] = uid;
      refused->observations.reserve(validated.batch.records.size());
      for (const IngestRecord& record : validated.batch.records) {
        refused->observations.push_back(
            AbuseObservation{record.account_id, uid_of[record.account_id], record.ip,
                             record.protocol, record.port, record.action, record.count});
      }
    }
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

  // What validation refused in a batch, reported in its ack (and what the
  // abuse detector gets of what it accepted).
  struct Refused {
    std::vector<egress::v1::RecordRejection> rejections;
    uint32_t unknown_uid_records = 0;
    std::vector<AbuseObservation> observations;
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
    absl::Time received = absl::InfinitePast();
    {
      absl::MutexLock lock(&mutex_);
      auto it = unacked_.find(seq);
      if (it != unacked_.end()) {
        received = it->second;
        unacked_.erase(it);
      }
    }
    if (received != absl::InfinitePast() && service_.options_.on_ack) {
      service_.options_.on_ack(absl::Now() - received);
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
      if (!refused.observations.empty() && service_.options_.on_committed_records) {
        service_.options_.on_committed_records(node_id_, refused.observations);
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
    EGRESS_RETURN_IF_ERROR(ValidateWireIntegers(applied, "rules_applied"));
    if (applied.error().size() > 4096) {
      return absl::InvalidArgumentError("rules_applied.error: at most 4096 bytes");
    }
    // Whatever bytes nftables put in its message, they are stored and shown.
    const std::string error = EscapeToPrintableUtf8(applied.error());
    AppliedAccountVersions accounts;
    if (error.empty()) {
      absl::MutexLock lock(&mutex_);
      accounts = TakeApplied(applied.version());
    }
    EGRESS_RETURN_IF_ERROR(
        service_.store_.RecordRulesApplied(node_id_, applied.version(), error, accounts));
    if (error.empty()) {
      Log(LogLevel::kDebug, "rules_applied",
          {{"node_id", node_id_}, {"version", applied.version()}, {"accounts", accounts.size()}});
    } else {
      LogError("rules_apply_failed",
               {{"node_id", node_id_}, {"version", applied.version()}, {"error", error}});
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

  // Loads what changed since the last rule set this stream sent and sends
  // it, if anything did. One run at a time per stream: announcements that
  // arrive meanwhile make the running one look again (coalescing), so a
  // burst of changes costs a few loads, not one each.
  void ReloadAndPush() {
    if (!hello_done_) return;
    {
      absl::MutexLock lock(&mutex_);
      if (finishing_) return;
      if (reload_running_) {
        reload_again_ = true;
        return;
      }
      reload_running_ = true;
      reload_again_ = false;
    }
    while (true) {
      RuleSetBase base;
      {
        absl::MutexLock lock(&mutex_);
        base = sent_;
      }
      absl::StatusOr<NodeRuleSet> rule_set =
          deltas_ ? service_.store_.LoadRuleSetChanges(node_id_, base)
                  : service_.store_.LoadRuleSet(node_id_);
      if (!rule_set.ok()) {
        LogWarning("rule_push_failed",
                   {{"node_id", node_id_}, {"error", rule_set.status().message()}});
        if (rule_set.status().code() == absl::StatusCode::kNotFound) {
          FinishWith(rule_set.status());
        }
      } else {
        bool send = false;
        {
          absl::MutexLock lock(&mutex_);
          if (rule_set->version > sent_.version) {
            RecordSent(*rule_set);
            send = true;
          }
        }
        if (send) {
          ServiceMessage message;
          RuleSetToProto(*rule_set, base.version, message.mutable_rule_set());
          ++service_.counters_.rule_sets_pushed;
          Log(LogLevel::kDebug, "rules_pushed",
              {{"node_id", node_id_},
               {"version", rule_set->version},
               {"partial", rule_set->partial},
               {"accounts", rule_set->accounts.size()},
               {"removed", rule_set->removed_accounts.size()}});
          Enqueue(std::move(message));
        }
      }
      absl::MutexLock lock(&mutex_);
      if (!reload_again_ || finishing_) {
        reload_running_ = false;
        return;
      }
      reload_again_ = false;
    }
  }

  // `rule_set` goes out next: it becomes the base of the next delta, its
  // accounts' uids attribute the node's records, and its account versions
  // wait for the agent's RulesApplied.
  void RecordSent(const NodeRuleSet& rule_set) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    PendingRuleSet pending;
    pending.version = rule_set.version;
    if (!rule_set.partial) {
      sent_.account_versions.clear();
      node_.account_by_uid.clear();
      uid_of_account_.clear();
    }
    for (const std::string& account_id : rule_set.removed_accounts) {
      sent_.account_versions.erase(account_id);
      auto uid = uid_of_account_.find(account_id);
      if (uid != uid_of_account_.end()) {
        node_.account_by_uid.erase(uid->second);
        uid_of_account_.erase(uid);
      }
    }
    for (const AccountRuleSet& account : rule_set.accounts) {
      auto uid = uid_of_account_.find(account.account_id);
      if (uid != uid_of_account_.end()) node_.account_by_uid.erase(uid->second);
      uid_of_account_[account.account_id] = account.uid;
      node_.account_by_uid[account.uid] = account.account_id;
      sent_.account_versions[account.account_id] = account.version;
      pending.accounts.emplace_back(account.account_id, account.version);
    }
    sent_.version = rule_set.version;
    sent_.config_version = rule_set.config_version;
    pending_.push_back(std::move(pending));
    // An agent that never confirms must not grow this without bound: the
    // oldest entries are covered by any later confirmation of a full set.
    while (pending_.size() > kMaxPendingRuleSets) pending_.pop_front();
  }

  // The account versions the agent confirmed by applying `version`: those
  // of every rule set sent up to it.
  AppliedAccountVersions TakeApplied(uint64_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    absl::flat_hash_map<std::string, uint64_t> latest;
    while (!pending_.empty() && pending_.front().version <= version) {
      for (auto& [account_id, account_version] : pending_.front().accounts) {
        latest[account_id] = account_version;
      }
      pending_.pop_front();
    }
    AppliedAccountVersions applied(latest.begin(), latest.end());
    std::sort(applied.begin(), applied.end());
    return applied;
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
  grpc::ByteBuffer incoming_;
  const std::shared_ptr<IngestCommitter::Lane> lane_ = service_.committer_.NewLane();

  // The agent announced kRuleSetDeltasCapability (set once in HandleHello).
  bool deltas_ = false;

  struct PendingRuleSet {
    uint64_t version = 0;
    AppliedAccountVersions accounts;
  };
  static constexpr size_t kMaxPendingRuleSets = 1024;

  absl::Mutex mutex_;
  NodeInfo node_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, uint32_t> uid_of_account_ ABSL_GUARDED_BY(mutex_);
  // What the agent has been sent (it applies every rule set in order).
  RuleSetBase sent_ ABSL_GUARDED_BY(mutex_);
  // Sent, not yet confirmed by RulesApplied.
  std::deque<PendingRuleSet> pending_ ABSL_GUARDED_BY(mutex_);
  // Batches received and not yet acknowledged: seq -> when (bounded by
  // max_batches_in_flight, as the stream stops reading beyond it).
  absl::flat_hash_map<uint64_t, absl::Time> unacked_ ABSL_GUARDED_BY(mutex_);
  bool reload_running_ ABSL_GUARDED_BY(mutex_) = false;
  bool reload_again_ ABSL_GUARDED_BY(mutex_) = false;
  // front() is in flight while writing_; its address stays valid until
  // OnWriteDone pops it (deque push_back keeps references).
  std::deque<grpc::ByteBuffer> writes_ ABSL_GUARDED_BY(mutex_);
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

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* CollectorServiceImpl::Connect(
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
#define EGRESS_COPY_COUNTER(field, ...) stats.field = counters_.field.load();
  EGRESS_COLLECTOR_COUNTERS(EGRESS_COPY_COUNTER)
#undef EGRESS_COPY_COUNTER
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
