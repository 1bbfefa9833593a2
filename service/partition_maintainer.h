// Keeps connection_daily's monthly partitions ready ahead of time and drops
// those past retention (dropping a partition is instant; deleting rows is
// not). Runs once at start (synchronously) and then every hour.
#ifndef EGRESS_SERVICE_PARTITION_MAINTAINER_H_
#define EGRESS_SERVICE_PARTITION_MAINTAINER_H_

#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "service/storage/collector_store.h"

namespace egress {

class PartitionMaintainer {
 public:
  // Partitions cover [today - retention_days, today + 62 days] in `zone`;
  // months wholly before today - retention_days are dropped.
  // `clock` decides which day is today (in `zone`).
  PartitionMaintainer(CollectorStore* store, absl::TimeZone zone, int retention_days,
                      const Clock* clock = RealClock::Get());
  ~PartitionMaintainer();

  // One pass now; errors are returned (and logged by the periodic runs).
  absl::Status RunOnce();
  // Starts the hourly background passes.
  void Start(absl::Duration period = absl::Hours(1));

 private:
  CollectorStore& store_;
  const absl::TimeZone zone_;
  const int retention_days_;
  const Clock& clock_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_PARTITION_MAINTAINER_H_
