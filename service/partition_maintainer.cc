#include "service/partition_maintainer.h"

#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/log.h"

namespace egress {

PartitionMaintainer::PartitionMaintainer(CollectorStore* store, absl::TimeZone zone,
                                         int retention_days, const Clock* clock)
    : store_(*store), zone_(zone), retention_days_(retention_days), clock_(*clock) {}

PartitionMaintainer::~PartitionMaintainer() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::Status PartitionMaintainer::RunOnce() {
  const absl::CivilDay today = DayOf(clock_.Now(), zone_);
  const absl::CivilDay oldest = today - retention_days_;
  absl::StatusOr<std::pair<int, int>> result =
      store_.MaintainPartitions(oldest, today + 62, oldest);
  if (!result.ok()) return result.status();
  if (result->first > 0 || result->second > 0) {
    LogInfo("partitions_maintained", {{"created", result->first},
                                      {"dropped", result->second},
                                      {"oldest_day_kept", FormatDay(oldest)}});
  }
  return absl::OkStatus();
}

void PartitionMaintainer::Start(absl::Duration period) {
  thread_ = std::thread([this, period] {
    while (!stop_.WaitForNotificationWithTimeout(period)) {
      absl::Status status = RunOnce();
      if (!status.ok()) LogWarning("partition_maintenance_failed", {{"error", status.message()}});
    }
  });
}

}  // namespace egress
