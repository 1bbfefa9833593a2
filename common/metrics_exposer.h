// The /metrics HTTP listener: prometheus-cpp's Exposer (civetweb, from
// Debian), serving GET /metrics with the text format of the collectables
// given; other paths answer 404. Bounded by civetweb's settings:
// kThreads worker threads, each request given kRequestTimeout, no
// keep-alive. Meant for a loopback or private address that a Prometheus
// server scrapes, not for the Internet.
//
// IPv4 only: Debian 12's civetweb is built without IPv6, so "[v6]:port" is
// refused with INVALID_ARGUMENT at start rather than failing obscurely.
#ifndef EGRESS_COMMON_METRICS_EXPOSER_H_
#define EGRESS_COMMON_METRICS_EXPOSER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace egress {

class MetricsExposer {
 public:
  static constexpr int kThreads = 2;
  static constexpr absl::Duration kRequestTimeout = absl::Seconds(2);

  // Binds `address` ("host:port", host an IPv4 address or a name that
  // resolves to one; port 0 picks a free one) and serves every collectable
  // (held weakly: one that is gone is skipped). INVALID_ARGUMENT for a
  // malformed or IPv6 address, UNAVAILABLE if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& address,
      const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);
  // Stops the threads and closes the socket. Takes up to 2 s: civetweb's
  // listening thread notices the stop at its next poll timeout.
  ~MetricsExposer();

  int port() const { return port_; }
  // "host:port" actually bound.
  std::string address() const;

 private:
  MetricsExposer(std::unique_ptr<prometheus::Exposer> exposer, std::string host, int port)
      : exposer_(std::move(exposer)), host_(std::move(host)), port_(port) {}

  std::unique_ptr<prometheus::Exposer> exposer_;
  const std::string host_;
  const int port_;
};

}  // namespace egress

#endif  // EGRESS_COMMON_METRICS_EXPOSER_H_
