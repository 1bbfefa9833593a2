// Delivers abuse incidents to the configured webhook: an HTTP(S) POST of the
// event's JSON, signed with HMAC-SHA256 of the body under a shared secret
// (header X-Egress-Signature: sha256=<hex>), with the incident id in
// X-Egress-Incident so the receiver de-duplicates retries.
//
// One background thread, one event at a time, in order; a bounded queue
// (Enqueue refuses past max_queue, counted as dropped). A failed attempt
// (no connection, timeout, 408, 429 or 5xx) is retried with doubling backoff
// up to max_attempts; other answers end it (counted as failed). The secret
// and the request body never reach the logs; the URL is logged by host only.
//
// Thread-safe. Stop() or the destructor ends the thread.
#ifndef EGRESS_SERVICE_ABUSE_WEBHOOK_H_
#define EGRESS_SERVICE_ABUSE_WEBHOOK_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace egress {

struct AbuseWebhookOptions {
  // The HMAC key (from --abuse-webhook-secret-file); empty: unsigned.
  std::string secret;
  size_t max_queue = 1000;
  int max_attempts = 8;
  absl::Duration first_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);
  absl::Duration timeout = absl::Seconds(10);
};

struct AbuseWebhookStats {
  uint64_t delivered = 0;
  uint64_t attempts_failed = 0;
  uint64_t failed = 0;   // given up
  uint64_t dropped = 0;  // queue full
};

// "sha256=" + lowercase hex of HMAC-SHA256(secret, body).
std::string WebhookSignature(const std::string& secret, const std::string& body);

class AbuseWebhook {
 public:
  explicit AbuseWebhook(AbuseWebhookOptions options);
  ~AbuseWebhook();
  AbuseWebhook(const AbuseWebhook&) = delete;
  AbuseWebhook& operator=(const AbuseWebhook&) = delete;

  // Called on the webhook's thread once the event is delivered (true) or
  // given up (false); never for an event dropped by Enqueue or at shutdown.
  using Done = std::function<void(bool delivered)>;
  // Queues one POST of `body` to `url` (already validated http(s)).
  // False when the queue is full.
  bool Enqueue(const std::string& url, uint64_t incident_id, std::string body, Done done = nullptr);
  // Ends the thread (an attempt in flight ends within `timeout`); queued
  // events are dropped, no Done runs after it returns. Idempotent; Enqueue
  // afterwards only queues.
  void Stop();

  AbuseWebhookStats stats() const;

 private:
  struct Event {
    std::string url;
    uint64_t incident_id = 0;
    std::string body;
    Done done;
  };
  void Run();
  // The HTTP status, or 0 when no answer came (connection, timeout).
  long Post(const Event& event) const;

  const AbuseWebhookOptions options_;
  mutable absl::Mutex mutex_;
  std::deque<Event> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  AbuseWebhookStats stats_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_WEBHOOK_H_
