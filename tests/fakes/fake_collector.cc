#include "tests/fakes/fake_collector.h"

#include <unistd.h>

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ip_address.h"
#include "grpcpp/grpcpp.h"

namespace egress::testing {

// One agent stream. Writes are queued and started outside the collector's
// lock (gRPC may run reactions inline).
class FakeCollector::Reactor
    : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ServiceMessage> {
 public:
  explicit Reactor(FakeCollector* owner) : owner_(owner) { StartRead(&in_); }

  void Send(v1::ServiceMessage message) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      queue_.push_back(std::move(message));
    }
    Pump();
  }
  void End(const grpc::Status& status) {
    bool finish_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      final_ = status;
      finish_now = !writing_;
      finished_ = finish_now;
    }
    if (finish_now) Finish(status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      End(grpc::Status::OK);
      return;
    }
    owner_->OnMessage(this, in_);
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    bool finish_now = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finishing_) {
        finishing_ = true;
        final_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
      }
      if (finishing_ && !finished_) {
        finish_now = finished_ = true;
        status = final_;
      }
    }
    if (finish_now) {
      Finish(status);
      return;
    }
    Pump();
  }
  void OnDone() override {
    owner_->OnDone(this);
    delete this;
  }

 private:
  void Pump() {
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || queue_.empty() || finishing_) return;
      writing_ = true;
      out_ = std::move(queue_.front());
      queue_.pop_front();
    }
    StartWrite(&out_);
  }

  FakeCollector* owner_;
  v1::AgentMessage in_;
  absl::Mutex mu_;
  std::deque<v1::ServiceMessage> queue_ ABSL_GUARDED_BY(mu_);
  v1::ServiceMessage out_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_ ABSL_GUARDED_BY(mu_);
};

class FakeCollector::Service : public v1::CollectorService::CallbackService {
 public:
  explicit Service(FakeCollector* owner) : owner_(owner) {}
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ServiceMessage>* Connect(
      grpc::CallbackServerContext*) override {
    auto* reactor = new Reactor(owner_);
    absl::MutexLock lock(&owner_->mu_);
    ++owner_->live_reactors_;
    return reactor;
  }

 private:
  FakeCollector* owner_;
};

absl::StatusOr<std::unique_ptr<FakeCollector>> FakeCollector::Start(
    const std::string& socket_path) {
  unlink(socket_path.c_str());
  std::unique_ptr<FakeCollector> collector(new FakeCollector());
  collector->target_ = absl::StrCat("unix:", socket_path);
  collector->service_ = std::make_unique<Service>(collector.get());
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(collector->target_, grpc::InsecureServerCredentials());
  builder.RegisterService(collector->service_.get());
  collector->server_ = builder.BuildAndStart();
  if (collector->server_ == nullptr) {
    return absl::InternalError(absl::StrCat("cannot listen on ", collector->target_));
  }
  return collector;
}

FakeCollector::~FakeCollector() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* live) { return *live == 0; }, &live_reactors_));
  }
}

void FakeCollector::SetWelcome(const std::string& time_zone, const v1::RuleSet& rule_set) {
  absl::MutexLock lock(&mu_);
  time_zone_ = time_zone;
  rule_set_ = rule_set;
}

void FakeCollector::PushRuleSet(const v1::RuleSet& rule_set) {
  Reactor* reactor = nullptr;
  {
    absl::MutexLock lock(&mu_);
    rule_set_ = rule_set;
    reactor = current_;
  }
  if (reactor == nullptr) return;
  v1::ServiceMessage message;
  *message.mutable_rule_set() = rule_set;
  reactor->Send(std::move(message));
}

void FakeCollector::HoldAcks(bool hold) {
  absl::MutexLock lock(&mu_);
  hold_acks_ = hold;
}

void FakeCollector::IgnoreBatches(bool ignore) {
  absl::MutexLock lock(&mu_);
  ignore_batches_ = ignore;
}

uint64_t FakeCollector::Received(uint32_t uid, v1::Action action) const {
  absl::MutexLock lock(&mu_);
  auto it = received_.find({uid, action});
  return it == received_.end() ? 0 : it->second;
}

void FakeCollector::DropStream() {
  Reactor* reactor = nullptr;
  {
    absl::MutexLock lock(&mu_);
    reactor = current_;
  }
  if (reactor != nullptr) reactor->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "dropped"));
}

void FakeCollector::OnMessage(Reactor* reactor, const v1::AgentMessage& message) {
  v1::ServiceMessage reply;
  bool send = false;
  {
    absl::MutexLock lock(&mu_);
    switch (message.message_case()) {
      case v1::AgentMessage::kHello: {
        ++hellos_;
        current_ = reactor;
        v1::Welcome* welcome = reply.mutable_welcome();
        welcome->set_time_zone(time_zone_);
        welcome->set_last_committed_seq(committed_seq_);
        *welcome->mutable_rule_set() = rule_set_;
        send = true;
        break;
      }
      case v1::AgentMessage::kBatch: {
        const v1::RecordBatch& batch = message.batch();
        for (const v1::ConnectionRecord& r : batch.records()) {
          received_[{r.uid(), r.action()}] += r.count();
        }
        if (ignore_batches_) break;
        v1::Ack* ack = reply.mutable_ack();
        ack->set_seq(batch.seq());
        if (batch.seq() <= committed_seq_) {
          ++duplicates_;
          ack->set_duplicate(true);
        } else {
          if (batch.seq() != committed_seq_ + 1) ++gaps_;
          committed_seq_ = batch.seq();
          for (const v1::ConnectionRecord& r : batch.records()) {
            auto ip = IpAddress::FromBytes(absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>(r.dst_ip().data()), r.dst_ip().size()));
            counts_[Key{r.uid(), ip.ok() ? ip->ToString() : "?", r.protocol(), r.dst_port(),
                        r.action()}] += r.count();
          }
          for (const v1::LossReport& loss : batch.losses()) {
            lost_ += loss.events();
            ++loss_reports_;
            if (loss.size_unknown()) ++unknown_size_loss_reports_;
          }
          ack->set_accepted_records(static_cast<uint32_t>(batch.records_size()));
        }
        send = !hold_acks_;
        break;
      }
      case v1::AgentMessage::kRulesApplied:
        rules_applied_.push_back(message.rules_applied());
        break;
      case v1::AgentMessage::kStats:
        stats_.push_back(message.stats());
        break;
      default:
        break;
    }
  }
  if (send) reactor->Send(std::move(reply));
}

void FakeCollector::OnDone(Reactor* reactor) {
  absl::MutexLock lock(&mu_);
  if (current_ == reactor) current_ = nullptr;
  --live_reactors_;
}

uint64_t FakeCollector::Count(uint32_t uid, const std::string& ip, v1::Protocol protocol,
                              uint32_t port, v1::Action action) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(Key{uid, ip, protocol, port, action});
  return it == counts_.end() ? 0 : it->second;
}

uint64_t FakeCollector::Total(uint32_t uid, v1::Action action) const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [key, count] : counts_) {
    if (std::get<0>(key) == uid && std::get<4>(key) == action) total += count;
  }
  return total;
}

std::map<FakeCollector::Key, uint64_t> FakeCollector::Counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}
void FakeCollector::SetCommittedSeq(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  committed_seq_ = seq;
}

uint64_t FakeCollector::committed_seq() const {
  absl::MutexLock lock(&mu_);
  return committed_seq_;
}
uint64_t FakeCollector::duplicate_batches() const {
  absl::MutexLock lock(&mu_);
  return duplicates_;
}
uint64_t FakeCollector::sequence_gaps() const {
  absl::MutexLock lock(&mu_);
  return gaps_;
}
uint64_t FakeCollector::unknown_size_loss_reports() const {
  absl::MutexLock lock(&mu_);
  return unknown_size_loss_reports_;
}

uint64_t FakeCollector::lost_events() const {
  absl::MutexLock lock(&mu_);
  return lost_;
}
uint64_t FakeCollector::loss_reports() const {
  absl::MutexLock lock(&mu_);
  return loss_reports_;
}
int FakeCollector::hellos() const {
  absl::MutexLock lock(&mu_);
  return hellos_;
}
std::vector<v1::RulesApplied> FakeCollector::rules_applied() const {
  absl::MutexLock lock(&mu_);
  return rules_applied_;
}
std::vector<v1::AgentStats> FakeCollector::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool FakeCollector::WaitUntil(const std::function<bool(const FakeCollector&)>& predicate,
                              absl::Duration timeout) const {
  // The predicate calls the public getters, which take the lock themselves;
  // poll with a short period instead of holding the lock.
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (predicate(*this)) return true;
    if (absl::Now() >= deadline) return false;
    // Bounded polling of a predicate, not a sleep standing in for an event.
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string FakeCollector::WaitForRulesApplied(uint64_t version, absl::Duration timeout) const {
  std::string error = "<timeout>";
  WaitUntil(
      [&](const FakeCollector& c) {
        for (const v1::RulesApplied& a : c.rules_applied()) {
          if (a.version() == version) {
            error = a.error();
            return true;
          }
        }
        return false;
      },
      timeout);
  return error;
}

}  // namespace egress::testing
