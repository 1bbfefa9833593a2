// AfterCommitNotifier (service/storage/after_commit_notifier.h): writers do
// not wait for the send; what queues up during one send goes out in the
// next, each notification once; nothing queued is lost at shutdown.
#include "service/storage/after_commit_notifier.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress {
namespace {

using Notification = AfterCommitNotifier::Notification;
using ::testing::ElementsAre;

// Records every batch it is given; the first send blocks until released.
class RecordingSend {
 public:
  void operator()(const std::vector<Notification>& batch) {
    {
      absl::MutexLock lock(&mutex_);
      batches_.push_back(batch);
    }
    if (!first_started_.HasBeenNotified()) {
      first_started_.Notify();
      release_first_.WaitForNotification();
    }
  }
  std::vector<std::vector<Notification>> batches() {
    absl::MutexLock lock(&mutex_);
    return batches_;
  }
  absl::Notification first_started_;
  absl::Notification release_first_;

 private:
  absl::Mutex mutex_;
  std::vector<std::vector<Notification>> batches_;
};

TEST(AfterCommitNotifierTest, WhatQueuesDuringASendGoesOutOnceInTheNext) {
  RecordingSend recorder;
  AfterCommitNotifier notifier([&](const std::vector<Notification>& batch) { recorder(batch); });
  notifier.Enqueue({{"rules", "web-01"}});
  recorder.first_started_.WaitForNotification();
  // Sixteen writers of two nodes commit while the first send is under way.
  for (int i = 0; i < 16; ++i) {
    notifier.Enqueue({{"rules", i % 2 == 0 ? "web-01" : "web-02"}});
  }
  notifier.Enqueue({{"other", "web-01"}});
  recorder.release_first_.Notify();
  notifier.Flush();
  EXPECT_THAT(recorder.batches(), ElementsAre(ElementsAre(Notification("rules", "web-01")),
                                              ElementsAre(Notification("rules", "web-01"),
                                                          Notification("rules", "web-02"),
                                                          Notification("other", "web-01"))));
}

TEST(AfterCommitNotifierTest, EnqueueDoesNotWaitForASend) {
  RecordingSend recorder;
  AfterCommitNotifier notifier([&](const std::vector<Notification>& batch) { recorder(batch); });
  notifier.Enqueue({{"rules", "web-01"}});
  recorder.first_started_.WaitForNotification();
  // The send is blocked; a writer still returns at once.
  notifier.Enqueue({{"rules", "web-02"}});
  EXPECT_EQ(recorder.batches().size(), 1u);
  recorder.release_first_.Notify();
}

TEST(AfterCommitNotifierTest, WhatIsQueuedAtShutdownIsSent) {
  RecordingSend recorder;
  {
    AfterCommitNotifier notifier([&](const std::vector<Notification>& batch) { recorder(batch); });
    notifier.Enqueue({{"rules", "web-01"}});
    recorder.first_started_.WaitForNotification();
    notifier.Enqueue({{"rules", "web-02"}});
    recorder.release_first_.Notify();
  }
  EXPECT_THAT(recorder.batches(), ElementsAre(ElementsAre(Notification("rules", "web-01")),
                                              ElementsAre(Notification("rules", "web-02"))));
}

TEST(AfterCommitNotifierTest, FlushWaitsForTheSendAndReturnsWhenNothingIsQueued) {
  absl::Mutex mutex;
  int sent = 0;
  AfterCommitNotifier notifier([&](const std::vector<Notification>&) {
    absl::SleepFor(absl::Milliseconds(50));
    absl::MutexLock lock(&mutex);
    ++sent;
  });
  notifier.Enqueue({{"rules", "web-01"}});
  notifier.Flush();
  {
    absl::MutexLock lock(&mutex);
    EXPECT_EQ(sent, 1);
  }
  notifier.Flush();  // nothing queued: returns at once, sends nothing
  absl::MutexLock lock(&mutex);
  EXPECT_EQ(sent, 1);
}

}  // namespace
}  // namespace egress
