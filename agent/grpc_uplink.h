// Uplink over one gRPC bidi stream (CollectorService.Connect) with the
// callback API (ClientBidiReactor): no thread waits on a completion queue;
// one background thread only sleeps between reconnections and sends the
// periodic stats.
#ifndef EGRESS_AGENT_GRPC_UPLINK_H_
#define EGRESS_AGENT_GRPC_UPLINK_H_

#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/spool.h"
#include "agent/uplink.h"
#include "egress/v1/collector.grpc.pb.h"

namespace egress::agent {

struct GrpcUplinkOptions {
  std::string target;  // host:port
  std::string node_id;
  std::string agent_version = "0.1.0";
  // Sent as `authorization: Bearer <token>` when not empty.
  std::string token;
  // PEM files; an empty CA means a plaintext channel (local testing only).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration stats_interval = absl::Seconds(60);
  // Batches sent and not yet acknowledged, at most.
  int window = 16;
};

class GrpcUplink : public Uplink {
 public:
  // `spool` and `listener` must outlive the uplink. InvalidArgument for
  // unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<GrpcUplink>> Create(const GrpcUplinkOptions& options,
                                                            Spool* spool, UplinkListener* listener);
  ~GrpcUplink() override;

  void Start() override;
  void BatchReady() override;
  bool WaitForAcks(absl::Duration timeout) override;
  void Stop() override;
  UplinkStats stats() const override;

 private:
  class Stream;
  friend class Stream;

  GrpcUplink(const GrpcUplinkOptions& options, std::shared_ptr<grpc::Channel> channel, Spool* spool,
             UplinkListener* listener);
  void Run();
  // Stream callbacks.
  void HandleMessage(Stream* stream, const v1::ServiceMessage& message);
  void StreamDone(Stream* stream, const grpc::Status& status);
  void ReadFailed(Stream* stream);
  void WriteDone(Stream* stream, bool ok);
  // Starts writing the next queued message unless a write is in flight.
  void MaybeStartWrite() ABSL_LOCKS_EXCLUDED(mu_);
  void Enqueue(v1::AgentMessage message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PumpBatches() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const GrpcUplinkOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CollectorService::Stub> stub_;
  Spool* spool_;
  UplinkListener* listener_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stream_done_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status last_status_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
  // The message being written; must stay alive until OnWriteDone.
  v1::AgentMessage in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t last_sent_seq_ ABSL_GUARDED_BY(mu_) = 0;
  UplinkStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_GRPC_UPLINK_H_
