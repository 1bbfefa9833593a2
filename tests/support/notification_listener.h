// Receives PostgreSQL notifications (LISTEN) on one channel, on a connection
// of its own, for tests of what a change announces.
#ifndef EGRESS_TESTS_SUPPORT_NOTIFICATION_LISTENER_H_
#define EGRESS_TESTS_SUPPORT_NOTIFICATION_LISTENER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pqxx/pqxx"

namespace egress::testing {

class NotificationListener {
 public:
  // LISTENs from the end of the constructor on.
  NotificationListener(const std::string& conninfo, const std::string& channel)
      : connection_(conninfo) {
    receiver_ = std::make_unique<Receiver>(connection_, channel, &payloads_);
    connection_.get_notifs();  // sends the LISTEN
  }

  // Every payload received within `wait` (since the last call).
  std::vector<std::string> Drain(absl::Duration wait) {
    const absl::Time until = absl::Now() + wait;
    while (absl::Now() < until) connection_.await_notification(0, 20000);
    return Take();
  }

  // The payloads received (since the last call) once there are `count`, or
  // what came within `timeout`.
  std::vector<std::string> WaitFor(size_t count, absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time until = absl::Now() + timeout;
    while (payloads_.size() < count && absl::Now() < until) {
      connection_.await_notification(0, 20000);
    }
    return Take();
  }

 private:
  struct Receiver : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, const std::string& channel, std::vector<std::string>* to)
        : pqxx::notification_receiver(c, channel), payloads(to) {}
    void operator()(const std::string& payload, int) override { payloads->push_back(payload); }
    std::vector<std::string>* payloads;
  };

  std::vector<std::string> Take() {
    std::vector<std::string> out;
    out.swap(payloads_);
    return out;
  }

  pqxx::connection connection_;
  std::vector<std::string> payloads_;
  std::unique_ptr<Receiver> receiver_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_NOTIFICATION_LISTENER_H_
