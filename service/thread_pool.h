// A fixed set of worker threads for blocking work (database calls) that must
// not run on gRPC's callback threads.
#ifndef EGRESS_SERVICE_THREAD_POOL_H_
#define EGRESS_SERVICE_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace egress {

// Thread-safe. Tasks run in FIFO order on any worker. The destructor runs
// the tasks already queued, then joins the workers.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> task);

 private:
  void Work();

  absl::Mutex mutex_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_THREAD_POOL_H_
