#include "agent/grpc_uplink.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/capabilities.h"
#include "common/files.h"
#include "common/log.h"

namespace egress::agent {
// One Connect call. A hold keeps the call open until its read side fails (or
// is cancelled) and no write is in flight, so that a write is never started
// on a finished call.
class GrpcUplink::Stream : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ServiceMessage> {
 public:
  explicit Stream(GrpcUplink* owner) : owner_(owner) {
    if (!owner->options_.token.empty()) {
      context_.AddMetadata("authorization", absl::StrCat("Bearer ", owner->options_.token));
    }
    owner->stub_->async()->Connect(&context_, this);
    AddHold();
    StartRead(&incoming_);
  }

  void Begin() { StartCall(); }
  void Cancel() { context_.TryCancel(); }
  void Write(const v1::AgentMessage* message) { StartWrite(message); }
  void Release() { RemoveHold(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      owner_->ReadFailed(this);
      return;
    }
    owner_->HandleMessage(this, incoming_);
    StartRead(&incoming_);
  }
  void OnWriteDone(bool ok) override { owner_->WriteDone(this, ok); }
  void OnDone(const grpc::Status& status) override { owner_->StreamDone(this, status); }

 private:
  GrpcUplink* owner_;
  grpc::ClientContext context_;
  v1::ServiceMessage incoming_;
};

absl::StatusOr<std::unique_ptr<GrpcUplink>> GrpcUplink::Create(const GrpcUplinkOptions& options,
                                                               Spool* spool,
                                                               UplinkListener* listener) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    auto ca = ReadWholeFile(options.tls_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    if (!options.tls_cert_file.empty()) {
      auto cert = ReadWholeFile(options.tls_cert_file);
      if (!cert.ok()) return cert.status();
      auto key = ReadWholeFile(options.tls_key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // We back off ourselves; the channel should retry promptly when asked.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  auto channel = grpc::CreateCustomChannel(options.target, credentials, args);
  return std::unique_ptr<GrpcUplink>(new GrpcUplink(options, channel, spool, listener));
}

GrpcUplink::GrpcUplink(const GrpcUplinkOptions& options, std::shared_ptr<grpc::Channel> channel,
                       Spool* spool, UplinkListener* listener)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::CollectorService::NewStub(channel_)),
      spool_(spool),
      listener_(listener) {}

GrpcUplink::~GrpcUplink() { Stop(); }

void GrpcUplink::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void GrpcUplink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

UplinkStats GrpcUplink::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void GrpcUplink::BatchReady() {
  {
    absl::MutexLock lock(&mu_);
    if (stream_ == nullptr || !welcomed_) return;
    PumpBatches();
  }
  MaybeStartWrite();
}

bool GrpcUplink::WaitForAcks(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto all_acked = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return spool_->stats().batches == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&all_acked), timeout);
}

void GrpcUplink::Enqueue(v1::AgentMessage message) { queue_.push_back(std::move(message)); }

void GrpcUplink::PumpBatches() {
  const uint64_t acked = spool_->stats().acked_seq;
  last_sent_seq_ = std::max(last_sent_seq_, acked);
  while (last_sent_seq_ - acked < static_cast<uint64_t>(options_.window)) {
    auto batch = spool_->NextAfter(last_sent_seq_);
    if (!batch.ok()) {
      if (!absl::IsNotFound(batch.status())) {
        LogError("spool_read_failed", {{"error", batch.status().ToString()}});
      }
      return;
    }
    last_sent_seq_ = batch->seq();
    v1::AgentMessage message;
    *message.mutable_batch() = std::move(*batch);
    Enqueue(std::move(message));
    ++stats_.batches_sent;
  }
}

void GrpcUplink::MaybeStartWrite() {
  Stream* stream = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || queue_.empty() || stream_ == nullptr || read_failed_) return;
    writing_ = true;
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    stream = stream_;
  }
  stream->Write(&in_flight_);
}

void GrpcUplink::WriteDone(Stream* stream, bool ok) {
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok || read_failed_) {
      release = read_failed_ && !released_;
      released_ = released_ || release;
    }
  }
  if (release) {
    stream->Release();
    return;
  }
  if (ok) MaybeStartWrite();
}

void GrpcUplink::ReadFailed(Stream* stream) {
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    read_failed_ = true;
    if (!writing_ && !released_) release = released_ = true;
  }
  if (release) stream->Release();
}

void GrpcUplink::HandleMessage(Stream* stream, const v1::ServiceMessage& message) {
  switch (message.message_case()) {
    case v1::ServiceMessage::kWelcome: {
      const v1::Welcome& welcome = message.welcome();
      v1::RulesApplied applied = listener_->OnWelcome(welcome);
      bool anchor_failed = false;
      {
        absl::MutexLock lock(&mu_);
        if (welcome.has_rule_set()) {
          v1::AgentMessage reply;
          *reply.mutable_rules_applied() = std::move(applied);
          Enqueue(std::move(reply));
        }
        // A fresh spool numbered its batches from 1 before knowing the
        // node's history: renumber them above what the service committed,
        // or the ack below would drop them as committed.
        if (absl::Status anchored = spool_->Anchor(welcome.last_committed_seq()); !anchored.ok()) {
          LogError("spool_anchor_failed", {{"error", anchored.ToString()}});
          anchor_failed = true;
        } else if (welcome.last_committed_seq() > 0) {
          if (absl::Status s = spool_->AckThrough(welcome.last_committed_seq()); !s.ok()) {
            LogError("spool_ack_failed", {{"error", s.ToString()}});
          }
        }
      }
      if (anchor_failed) {
        // Sending now could lose batches; retry on a new stream.
        stream->Cancel();
        break;
      }
      {
        absl::MutexLock lock(&mu_);
        welcomed_ = true;
        stats_.connected = true;
        last_sent_seq_ = 0;
        PumpBatches();
      }
      LogInfo("uplink_welcome", {{"last_committed_seq", welcome.last_committed_seq()},
                                 {"time_zone", welcome.time_zone()},
                                 {"rule_version", welcome.rule_set().version()}});
      break;
    }
    case v1::ServiceMessage::kAck: {
      absl::MutexLock lock(&mu_);
      if (absl::Status s = spool_->AckThrough(message.ack().seq()); !s.ok()) {
        LogError("spool_ack_failed", {{"error", s.ToString()}});
      }
      ++stats_.batches_acked;
      if (welcomed_) PumpBatches();
      break;
    }
    case v1::ServiceMessage::kRuleSet: {
      std::optional<v1::RulesApplied> applied = listener_->OnRuleSet(message.rule_set());
      if (!applied.has_value()) {
        // Out of step with the service: a new stream starts from a full set.
        stream->Cancel();
        break;
      }
      absl::MutexLock lock(&mu_);
      v1::AgentMessage reply;
      *reply.mutable_rules_applied() = *std::move(applied);
      Enqueue(std::move(reply));
      break;
    }
    default:
      LogWarning("uplink_unknown_message", {{"case", static_cast<int>(message.message_case())}});
  }
  MaybeStartWrite();
}

void GrpcUplink::StreamDone(Stream* /*stream*/, const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  stream_done_ = true;
  last_status_ = status;
}

void GrpcUplink::Run() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    v1::AgentMessage hello;
    v1::Hello* h = hello.mutable_hello();
    h->set_node_id(options_.node_id);
    h->set_agent_version(options_.agent_version);
    h->add_capabilities("ipv6");
    h->add_capabilities("nflog-reject");
    h->add_capabilities(kRuleSetDeltasCapability);
    *h->mutable_stats() = listener_->Stats();
    h->set_applied_rule_version(h->stats().applied_rule_version());

    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    auto stream = std::make_unique<Stream>(this);
    {
      absl::MutexLock lock(&mu_);
      stream_ = stream.get();
      stream_done_ = false;
      welcomed_ = false;
      writing_ = false;
      read_failed_ = false;
      released_ = false;
      queue_.clear();
      last_sent_seq_ = 0;
      Enqueue(std::move(hello));
      ++stats_.connects;
    }
    stream->Begin();
    MaybeStartWrite();

    bool cancelled = false;
    absl::Time next_stats = absl::Now() + options_.stats_interval;
    bool was_welcomed = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      while (!stream_done_) {
        auto wake = [this]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stream_done_ || stopping_; };
        if (stopping_ && !cancelled) {
          cancelled = true;
          mu_.Unlock();
          stream->Cancel();
          mu_.Lock();
          continue;
        }
        if (cancelled) {
          mu_.Await(absl::Condition(&stream_done_));
          break;
        }
        mu_.AwaitWithDeadline(absl::Condition(&wake), next_stats);
        if (!stream_done_ && !stopping_ && absl::Now() >= next_stats) {
          next_stats = absl::Now() + options_.stats_interval;
          if (welcomed_) {
            mu_.Unlock();
            v1::AgentMessage stats;
            *stats.mutable_stats() = listener_->Stats();
            mu_.Lock();
            Enqueue(std::move(stats));
            mu_.Unlock();
            MaybeStartWrite();
            mu_.Lock();
          }
        }
      }
      was_welcomed = welcomed_;
      status = last_status_;
      stream_ = nullptr;
      welcomed_ = false;
      stats_.connected = false;
      ++stats_.disconnects;
    }
    stream.reset();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    if (was_welcomed) backoff = options_.initial_backoff;
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    const absl::Duration wait = backoff * jitter(rng);
    backoff = std::min(backoff * 2, options_.max_backoff);
    LogWarning("uplink_disconnected", {{"code", static_cast<int>(status.error_code())},
                                       {"error", status.error_message()},
                                       {"retry_ms", absl::ToInt64Milliseconds(wait)}});
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) break;
  }
}

}  // namespace egress::agent
