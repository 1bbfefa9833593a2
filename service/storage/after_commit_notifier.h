// Sends the notifications (NOTIFY) of committed transactions, one batch at
// a time: a writer that commits while nothing is being sent sends its own
// at once (no thread hand-off: a lone change reaches its listeners
// soonest); one that commits while a send is under way queues its
// notifications and returns, and this class's thread sends everything so
// queued, de-duplicated, as the next batch.
//
// Why: a NOTIFY after the commit is a round trip (two context switches on
// the database's host and two on ours) and a transaction of its own. Sent
// by each writer, a node's 16 concurrent rule writers paid 16 of them for
// what one NOTIFY of the node's id says.
//
// A batch that fails is counted and logged by `send`; its notifications are
// dropped (the changes committed; listeners re-check on their own,
// Database's "Notifications").
#ifndef EGRESS_SERVICE_STORAGE_AFTER_COMMIT_NOTIFIER_H_
#define EGRESS_SERVICE_STORAGE_AFTER_COMMIT_NOTIFIER_H_

#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace egress {

class AfterCommitNotifier {
 public:
  // (channel, payload)
  using Notification = std::pair<std::string, std::string>;
  // Sends one batch (no duplicates in it).
  using Send = std::function<void(const std::vector<Notification>&)>;

  explicit AfterCommitNotifier(Send send);
  // Sends what is still queued, then stops.
  ~AfterCommitNotifier();
  AfterCommitNotifier(const AfterCommitNotifier&) = delete;
  AfterCommitNotifier& operator=(const AfterCommitNotifier&) = delete;

  // The notifications of one committed transaction: sent on the calling
  // thread when no send is under way, else queued for the next batch.
  void Enqueue(const std::vector<Notification>& notifications);

  // Returns once everything queued before the call has been sent (or failed).
  void Flush();

 private:
  void Loop();

  const Send send_;
  absl::Mutex mutex_;
  std::vector<Notification> queued_ ABSL_GUARDED_BY(mutex_);
  // Batches taken off the queue, and of those, sent (or failed).
  uint64_t taken_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t sent_ ABSL_GUARDED_BY(mutex_) = 0;
  // A batch is being sent (by a writer or the thread): one at a time.
  bool sending_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_AFTER_COMMIT_NOTIFIER_H_
