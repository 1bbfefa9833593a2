#include "tests/support/rule_following_agent.h"

#include "absl/time/clock.h"
#include "common/capabilities.h"

namespace egress::testing {

namespace v1 = ::egress::v1;

RuleFollowingAgent::RuleFollowingAgent(const std::shared_ptr<grpc::Channel>& channel,
                                       Options options)
    : options_(std::move(options)), stub_(v1::CollectorService::NewStub(channel)) {}

RuleFollowingAgent::~RuleFollowingAgent() { Stop(); }

bool RuleFollowingAgent::Start(absl::Duration timeout) {
  if (!options_.token.empty()) {
    context_.AddMetadata("authorization", "Bearer " + options_.token);
  }
  stream_ = stub_->Connect(&context_);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_node_id(options_.node_id);
  hello.mutable_hello()->set_agent_version("rule-following-agent");
  if (options_.deltas) hello.mutable_hello()->add_capabilities(kRuleSetDeltasCapability);
  if (!Write(hello)) return false;
  reader_ = std::thread([this] { ReadLoop(); });
  absl::MutexLock lock(&mutex_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return welcomed_ || ended_; };
  mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return welcomed_;
}

bool RuleFollowingAgent::Write(const v1::AgentMessage& message) {
  absl::MutexLock lock(&write_mutex_);
  return stream_->Write(message);
}

void RuleFollowingAgent::ReadLoop() {
  v1::ServiceMessage message;
  while (stream_->Read(&message)) {
    const absl::Time received = absl::Now();
    const v1::RuleSet* rule_set = nullptr;
    if (message.has_welcome()) {
      absl::MutexLock lock(&mutex_);
      next_seq_ = message.welcome().last_committed_seq() + 1;
      last_acked_ = message.welcome().last_committed_seq();
      rule_set = &message.welcome().rule_set();
    } else if (message.has_rule_set()) {
      rule_set = &message.rule_set();
    } else if (message.has_ack()) {
      absl::MutexLock lock(&mutex_);
      last_acked_ = std::max(last_acked_, message.ack().seq());
      ++counters_.acks;
      continue;
    }
    if (rule_set == nullptr) continue;
    v1::AgentMessage reply;
    {
      absl::MutexLock lock(&mutex_);
      if (!rules_.Merge(*rule_set).ok()) {
        ++counters_.merge_failures;
        break;  // like the real agent: drop the stream
      }
      ++(rule_set->partial() ? counters_.partial_rule_sets : counters_.full_rule_sets);
      if (message.has_welcome()) welcomed_ = true;
      reply.mutable_rules_applied()->set_version(rules_.current().version());
    }
    if (options_.on_rule_set) options_.on_rule_set(*rule_set, received);
    if (!Write(reply)) break;
  }
  absl::MutexLock lock(&mutex_);
  ended_ = true;
}

bool RuleFollowingAgent::SendBatch(std::vector<v1::ConnectionRecord> records) {
  v1::AgentMessage message;
  {
    absl::MutexLock lock(&mutex_);
    if (ended_) return false;
    message.mutable_batch()->set_seq(next_seq_++);
  }
  for (v1::ConnectionRecord& record : records) {
    *message.mutable_batch()->add_records() = std::move(record);
  }
  return Write(message);
}

bool RuleFollowingAgent::WaitForAcks(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return last_acked_ + 1 >= next_seq_ || ended_;
  };
  mutex_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return last_acked_ + 1 >= next_seq_;
}

v1::RuleSet RuleFollowingAgent::current() {
  absl::MutexLock lock(&mutex_);
  return rules_.current();
}

bool RuleFollowingAgent::WaitForVersion(uint64_t version, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto reached = [this, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return (!rules_.empty() && rules_.current().version() >= version) || ended_;
  };
  mutex_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  return !rules_.empty() && rules_.current().version() >= version;
}

RuleFollowingAgent::Counters RuleFollowingAgent::counters() {
  absl::MutexLock lock(&mutex_);
  return counters_;
}

bool RuleFollowingAgent::ended() {
  absl::MutexLock lock(&mutex_);
  return ended_;
}

void RuleFollowingAgent::Stop() {
  if (stopped_) return;
  stopped_ = true;
  context_.TryCancel();
  if (reader_.joinable()) reader_.join();
  if (stream_ != nullptr) stream_->Finish();
}

}  // namespace egress::testing
