// A minimal HTTP/1.1 listener for Prometheus scrapes: GET (or HEAD)
// /metrics answers 200 with the registry's text; any other path is 404, any
// other method 405, a malformed or oversized request 400/431.
//
// Bounded by construction: one thread serves one connection at a time, reads
// at most 8 KiB of request head, gives each connection 2 s in total (plus
// 250 ms to drain leftover input), and closes it after one response
// (`Connection: close`). It is meant for a
// loopback or private address that a Prometheus server scrapes, not for the
// Internet.
#ifndef EGRESS_COMMON_METRICS_HTTP_SERVER_H_
#define EGRESS_COMMON_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace egress {

class MetricsHttpServer {
 public:
  // Produces the body of GET /metrics (e.g. MetricsRegistry::Render); runs
  // on the server's thread.
  using RenderFunction = std::function<std::string()>;

  // Binds `address` ("host:port", "[v6]:port"; port 0 picks a free one) and
  // starts serving. INVALID_ARGUMENT for a malformed address, UNAVAILABLE if
  // it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  RenderFunction render);
  // Stops the thread and closes the socket.
  ~MetricsHttpServer();

  int port() const { return port_; }
  // "host:port" actually bound.
  std::string address() const;

  // How long one connection may take, from accept to the last byte written.
  static constexpr absl::Duration kConnectionBudget = absl::Seconds(2);
  static constexpr size_t kMaxRequestHead = 8192;
  // After the response, how long the client's leftover input is drained.
  static constexpr absl::Duration kDrainTime = absl::Milliseconds(250);

 private:
  MetricsHttpServer(int listen_fd, int stop_fd, std::string host, int port, RenderFunction render);
  void Serve();
  void HandleConnection(int fd);

  const int listen_fd_;
  // eventfd written by the destructor to wake the thread.
  const int stop_fd_;
  const std::string host_;
  const int port_;
  const RenderFunction render_;
  std::thread thread_;
};

}  // namespace egress

#endif  // EGRESS_COMMON_METRICS_HTTP_SERVER_H_
