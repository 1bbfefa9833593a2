#include "service/storage/rule_change_listener.h"

#include <chrono>

#include "absl/time/clock.h"
#include "common/log.h"
#include "pqxx/pqxx"
#include "service/storage/rule_changes.h"

namespace egress {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, const std::function<void(const std::string&)>& on)
      : pqxx::notification_receiver(connection, kRulesChangedChannel), on_(on) {}
  void operator()(const std::string& payload, int) override { on_(payload); }

 private:
  const std::function<void(const std::string&)>& on_;
};

}  // namespace

RuleChangeListener::RuleChangeListener(std::string conninfo,
                                       std::function<void(const std::string&)> on_node,
                                       std::function<void()> on_resync,
                                       absl::Duration recheck_interval)
    : conninfo_(std::move(conninfo)),
      on_node_(std::move(on_node)),
      on_resync_(std::move(on_resync)),
      recheck_interval_(recheck_interval),
      thread_([this] { Run(); }) {}

RuleChangeListener::~RuleChangeListener() {
  stop_ = true;
  thread_.join();
}

void RuleChangeListener::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_) {
    try {
      pqxx::connection connection(conninfo_);
      Receiver receiver(connection, on_node_);
      connection.get_notifs();  // sends the LISTEN
      listening_ = true;
      backoff = absl::Milliseconds(100);
      LogInfo("rule_listener_connected");
      on_resync_();
      absl::Time next_recheck = absl::Now() + recheck_interval_;
      while (!stop_) {
        // Wakes at least every 200 ms to notice stop_.
        connection.await_notification(0, 200000);
        if (!connection.is_open()) throw pqxx::broken_connection("listener connection closed");
        if (absl::Now() >= next_recheck) {
          on_resync_();
          next_recheck = absl::Now() + recheck_interval_;
        }
      }
    } catch (const std::exception& error) {
      if (listening_.exchange(false)) {
        LogWarning("rule_listener_disconnected", {{"error", error.what()}});
      }
      if (stop_) break;
      absl::SleepFor(backoff);
      // Capped low: after a failover the new primary is reachable within a
      // second of taking writes, and rule pushes wait for this connection.
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
  }
}

}  // namespace egress
