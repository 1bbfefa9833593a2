// AfterCommitNotifier (service/storage/after_commit_notifier.h): a lone
// writer sends its own; writers that commit during a send do not wait for
// it, and what they queued goes out in the next, each notification once;
// nothing queued is lost at shutdown.
#include "service/storage/after_commit_notifier.h"

#include <string>
#include <thread>
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

TEST(AfterCommitNotifierTest, AWriterSendsItsOwnWhenNothingIsUnderWay) {
  std::thread::id sender;
  AfterCommitNotifier notifier(
      [&](const std::vector<Notification>&) { sender = std::this_thread::get_id(); });
  // Identical requests of one transaction go out once.
  notifier.Enqueue({{"rules", "web-01"}, {"rules", "web-01"}});
  // Sent before Enqueue returned, on this thread: no hand-off.
  EXPECT_EQ(sender, std::this_thread::get_id());
}

TEST(AfterCommitNotifierTest, WhatQueuesDuringASendGoesOutOnceInTheNext) {
  RecordingSend recorder;
  AfterCommitNotifier notifier([&](const std::vector<Notification>& batch) { recorder(batch); });
  std::thread first_writer([&] { notifier.Enqueue({{"rules", "web-01"}}); });
  recorder.first_started_.WaitForNotification();
  // Sixteen writers of two nodes commit while the first send is under way;
  // none waits for it.
  for (int i = 0; i < 16; ++i) {
    notifier.Enqueue({{"rules", i % 2 == 0 ? "web-01" : "web-02"}});
  }
  notifier.Enqueue({{"other", "web-01"}});
  EXPECT_EQ(recorder.batches().size(), 1u);
  recorder.release_first_.Notify();
  first_writer.join();
  notifier.Flush();
  EXPECT_THAT(recorder.batches(), ElementsAre(ElementsAre(Notification("rules", "web-01")),
                                              ElementsAre(Notification("rules", "web-01"),
                                                          Notification("rules", "web-02"),
                                                          Notification("other", "web-01"))));
}

TEST(AfterCommitNotifierTest, WhatIsQueuedAtShutdownIsSent) {
  RecordingSend recorder;
  std::thread first_writer;
  {
    AfterCommitNotifier notifier([&](const std::vector<Notification>& batch) { recorder(batch); });
    first_writer = std::thread([&] { notifier.Enqueue({{"rules", "web-01"}}); });
    recorder.first_started_.WaitForNotification();
    notifier.Enqueue({{"rules", "web-02"}});
    recorder.release_first_.Notify();
    first_writer.join();
  }
  EXPECT_THAT(recorder.batches(), ElementsAre(ElementsAre(Notification("rules", "web-01")),
                                              ElementsAre(Notification("rules", "web-02"))));
}

TEST(AfterCommitNotifierTest, FlushWaitsForTheSendAndReturnsWhenNothingIsQueued) {
  absl::Mutex mutex;
  int sent = 0;
  absl::Notification started;
  AfterCommitNotifier notifier([&](const std::vector<Notification>&) {
    started.Notify();
    absl::SleepFor(absl::Milliseconds(50));
    absl::MutexLock lock(&mutex);
    ++sent;
  });
  std::thread writer([&] { notifier.Enqueue({{"rules", "web-01"}}); });
  started.WaitForNotification();  // the writer's send is under way
  notifier.Flush();
  {
    absl::MutexLock lock(&mutex);
    EXPECT_EQ(sent, 1);
  }
  notifier.Flush();  // nothing queued: returns at once, sends nothing
  writer.join();
  absl::MutexLock lock(&mutex);
  EXPECT_EQ(sent, 1);
}

}  // namespace
}  // namespace egress
