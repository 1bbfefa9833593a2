#include "service/storage/after_commit_notifier.h"

#include <algorithm>

namespace egress {
namespace {

// Appends each of `notifications` that `batch` does not hold yet.
void AppendNew(const std::vector<AfterCommitNotifier::Notification>& notifications,
               std::vector<AfterCommitNotifier::Notification>* batch) {
  for (const AfterCommitNotifier::Notification& notification : notifications) {
    if (std::find(batch->begin(), batch->end(), notification) == batch->end()) {
      batch->push_back(notification);
    }
  }
}

}  // namespace

AfterCommitNotifier::AfterCommitNotifier(Send send)
    : send_(std::move(send)), thread_([this] { Loop(); }) {}

AfterCommitNotifier::~AfterCommitNotifier() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
}

void AfterCommitNotifier::Enqueue(const std::vector<Notification>& notifications) {
  std::vector<Notification> batch;
  {
    absl::MutexLock lock(&mutex_);
    if (sending_ || !queued_.empty()) {
      AppendNew(notifications, &queued_);
      return;
    }
    sending_ = true;
    ++taken_;
  }
  AppendNew(notifications, &batch);
  send_(batch);
  absl::MutexLock lock(&mutex_);
  sending_ = false;
  ++sent_;
}

void AfterCommitNotifier::Flush() {
  absl::MutexLock lock(&mutex_);
  // Whatever is queued now goes out in the batch after the ones taken.
  const uint64_t wanted = taken_ + (queued_.empty() ? 0 : 1);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return sent_ >= wanted; };
  mutex_.Await(absl::Condition(&done));
}

void AfterCommitNotifier::Loop() {
  while (true) {
    std::vector<Notification> batch;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return !sending_ && (!queued_.empty() || stopping_);
      };
      mutex_.Await(absl::Condition(&ready));
      if (queued_.empty()) return;  // stopping, and nothing left to send
      batch.swap(queued_);
      sending_ = true;
      ++taken_;
    }
    send_(batch);
    absl::MutexLock lock(&mutex_);
    sending_ = false;
    ++sent_;
  }
}

}  // namespace egress
