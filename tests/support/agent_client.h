// A scripted agent for service tests: opens CollectorService.Connect with a
// token, sends messages, and reads the service's messages on a background
// thread so tests can wait for them with a timeout.
#ifndef EGRESS_TESTS_SUPPORT_AGENT_CLIENT_H_
#define EGRESS_TESTS_SUPPORT_AGENT_CLIENT_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "egress/v1/collector.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace egress::testing {

class AgentClient {
 public:
  // `token` empty: no credentials.
  AgentClient(const std::shared_ptr<grpc::Channel>& channel, const std::string& token);
  ~AgentClient();

  bool Send(const egress::v1::AgentMessage& message);
  bool SendHello(const std::string& node_id, uint64_t applied_rule_version = 0);
  // Half-closes the stream.
  void CloseSend();

  // The next message from the service, or nullopt after `timeout` or when
  // the stream ended.
  std::optional<egress::v1::ServiceMessage> Next(absl::Duration timeout = absl::Seconds(10));
  // Skips messages until one of the given kind arrives.
  std::optional<egress::v1::ServiceMessage> NextOfKind(egress::v1::ServiceMessage::MessageCase kind,
                                                       absl::Duration timeout = absl::Seconds(10));

  // The call's final status (waits for the end of the stream).
  grpc::Status Finish();

 private:
  grpc::ClientContext context_;
  std::unique_ptr<egress::v1::CollectorService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<egress::v1::AgentMessage, egress::v1::ServiceMessage>>
      stream_;
  absl::Mutex mutex_;
  std::deque<egress::v1::ServiceMessage> received_ ABSL_GUARDED_BY(mutex_);
  bool ended_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread reader_;
  std::optional<grpc::Status> status_;
  bool send_closed_ = false;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_AGENT_CLIENT_H_
