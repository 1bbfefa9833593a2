// LISTENs on kRulesChangedChannel and tells this replica's CollectorService
// which nodes' rules changed, so a change made through any replica reaches
// the agent stream wherever it is held, within milliseconds.
#ifndef EGRESS_SERVICE_STORAGE_RULE_CHANGE_LISTENER_H_
#define EGRESS_SERVICE_STORAGE_RULE_CHANGE_LISTENER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace egress {

class RuleChangeListener {
 public:
  // `on_node` gets each announced node id; `on_resync` is called after every
  // (re)connection, since notifications sent while disconnected are lost,
  // and every `recheck_interval` while connected, since a change is
  // announced after its commit and a writer that died in between (or whose
  // notification failed) announced nothing. Both run on the listener's
  // thread and must not block for long.
  RuleChangeListener(std::string conninfo, std::function<void(const std::string&)> on_node,
                     std::function<void()> on_resync,
                     absl::Duration recheck_interval = absl::Seconds(5));
  ~RuleChangeListener();  // stops and joins

  // True once LISTEN is active (for tests and start-up ordering).
  bool listening() const { return listening_.load(); }

 private:
  void Run();

  const std::string conninfo_;
  const std::function<void(const std::string&)> on_node_;
  const std::function<void()> on_resync_;
  const absl::Duration recheck_interval_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_RULE_CHANGE_LISTENER_H_
