#include "tests/support/agent_client.h"

namespace egress::testing {

AgentClient::AgentClient(const std::shared_ptr<grpc::Channel>& channel, const std::string& token)
    : stub_(egress::v1::CollectorService::NewStub(channel)) {
  if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
  stream_ = stub_->Connect(&context_);
  reader_ = std::thread([this] {
    egress::v1::ServiceMessage message;
    while (stream_->Read(&message)) {
      absl::MutexLock lock(&mutex_);
      received_.push_back(message);
    }
    absl::MutexLock lock(&mutex_);
    ended_ = true;
  });
}

AgentClient::~AgentClient() {
  context_.TryCancel();
  reader_.join();
  if (!status_.has_value()) status_ = stream_->Finish();
}

bool AgentClient::Send(const egress::v1::AgentMessage& message) { return stream_->Write(message); }

bool AgentClient::SendHello(const std::string& node_id, uint64_t applied_rule_version) {
  egress::v1::AgentMessage message;
  message.mutable_hello()->set_node_id(node_id);
  message.mutable_hello()->set_agent_version("test");
  message.mutable_hello()->set_applied_rule_version(applied_rule_version);
  return Send(message);
}

void AgentClient::CloseSend() {
  if (!send_closed_) stream_->WritesDone();
  send_closed_ = true;
}

std::optional<egress::v1::ServiceMessage> AgentClient::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto ready = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return !received_.empty() || ended_; };
  mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (received_.empty()) return std::nullopt;
  egress::v1::ServiceMessage message = std::move(received_.front());
  received_.pop_front();
  return message;
}

std::optional<egress::v1::ServiceMessage> AgentClient::NextOfKind(
    egress::v1::ServiceMessage::MessageCase kind, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::optional<egress::v1::ServiceMessage> message = Next(deadline - absl::Now());
    if (!message.has_value()) return std::nullopt;
    if (message->message_case() == kind) return message;
  }
  return std::nullopt;
}

grpc::Status AgentClient::Finish() {
  CloseSend();
  reader_.join();
  reader_ = std::thread([] {});
  status_ = stream_->Finish();
  return *status_;
}

}  // namespace egress::testing
