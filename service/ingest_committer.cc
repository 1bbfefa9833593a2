#include "service/ingest_committer.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace egress {

IngestCommitter::IngestCommitter(CollectorStore* store, ThreadPool* pool,
                                 IngestCommitterOptions options)
    : store_(*store), pool_(*pool), options_(options) {}

IngestCommitter::~IngestCommitter() {
  absl::MutexLock lock(&mutex_);
  mutex_.Await(absl::Condition(
      +[](int* writers) { return *writers == 0; }, &writers_));
}

void IngestCommitter::Submit(const std::shared_ptr<Lane>& lane, IngestBatch batch, Done done) {
  bool start_writer = false;
  absl::Status refused;
  {
    absl::MutexLock lock(&mutex_);
    if (lane->broken) {
      refused = lane->error;
    } else {
      queue_.push_back(Item{lane, std::move(batch), std::move(done)});
      if (writers_ < options_.max_writers) {
        ++writers_;
        start_writer = true;
      }
    }
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  if (start_writer) pool_.Schedule([this] { Drain(); });
}

void IngestCommitter::Drain() {
  while (true) {
    std::vector<Item> group;
    absl::flat_hash_set<std::string> mine;
    {
      absl::MutexLock lock(&mutex_);
      size_t records = 0;
      // Oldest first; a node held by another writer is skipped with all its
      // later batches, so each node's batches keep their order.
      for (auto it = queue_.begin(); it != queue_.end();) {
        const std::string& node = it->batch.node_id;
        if (busy_nodes_.contains(node) && !mine.contains(node)) {
          ++it;
          continue;
        }
        const size_t size = it->batch.records.size();
        if (!group.empty() && records + size > options_.max_group_records) break;
        records += size;
        mine.insert(node);
        busy_nodes_.insert(node);
        group.push_back(std::move(*it));
        it = queue_.erase(it);
      }
      if (group.empty()) {
        --writers_;
        return;
      }
      ++stats_.groups;
      stats_.batches += group.size();
      stats_.largest_group = std::max<uint64_t>(stats_.largest_group, group.size());
    }

    std::vector<const IngestBatch*> batches;
    batches.reserve(group.size());
    for (const Item& item : group) batches.push_back(&item.batch);
    absl::StatusOr<std::vector<CommitResult>> results = store_.CommitBatches(batches);

    std::vector<Item> also_failed;
    if (!results.ok()) {
      absl::MutexLock lock(&mutex_);
      ++stats_.failed_groups;
      for (Item& item : group) {
        item.lane->broken = true;
        item.lane->error = results.status();
      }
      // Queued batches of a broken lane must not commit after the failed one.
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->lane->broken) {
          also_failed.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
    }
    // Callbacks run while this writer still holds the nodes, so a node's
    // acknowledgements go out in order.
    for (size_t i = 0; i < group.size(); ++i) {
      if (results.ok()) {
        group[i].done((*results)[i]);
      } else {
        group[i].done(results.status());
      }
    }
    for (Item& item : also_failed) item.done(results.status());
    {
      absl::MutexLock lock(&mutex_);
      for (const std::string& node : mine) busy_nodes_.erase(node);
    }
  }
}

IngestCommitterStats IngestCommitter::stats() const {
  absl::MutexLock lock(&mutex_);
  return stats_;
}

}  // namespace egress
