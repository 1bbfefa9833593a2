#include "common/metrics_exposer.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <exception>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace egress {
namespace {

// Splits "host:port" / "[v6]:port"; false if malformed.
bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) return false;
    *host = address.substr(1, close - 1);
    *port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) return false;
    *host = address.substr(0, colon);
    *port = address.substr(colon + 1);
  }
  int number = 0;
  return !host->empty() && absl::SimpleAtoi(*port, &number) && number >= 0 && number <= 65535;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& address,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::string host, port;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics-listen: \"", address, "\" is not host:port (e.g. 127.0.0.1:9464)"));
  }
  if (address[0] == '[') {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics-listen: \"", address, "\": the metrics listener takes IPv4 addresses only"));
  }
  // civetweb is given a numeric address, so that a name is resolved (and
  // refused) here with a clear message.
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return absl::InvalidArgumentError(absl::StrCat("metrics-listen: cannot resolve \"", host,
                                                   "\" to IPv4: ", gai_strerror(error)));
  }
  char numeric[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr, numeric,
            sizeof(numeric));
  freeaddrinfo(found);
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", absl::StrCat(numeric, ":", port), "num_threads", absl::StrCat(kThreads),
        "request_timeout_ms", absl::StrCat(absl::ToInt64Milliseconds(kRequestTimeout)),
        "enable_keep_alive", "no"});
  } catch (const std::exception& e) {
    // civetweb says only that it could not start; binding is what fails.
    return absl::UnavailableError(
        absl::StrCat("metrics-listen: cannot bind ", address, " (address in use or not local?)"));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("metrics-listen: cannot bind ", address));
  }
  for (const auto& collectable : collectables) exposer->RegisterCollectable(collectable);
  return std::unique_ptr<MetricsExposer>(new MetricsExposer(std::move(exposer), numeric, ports[0]));
}

MetricsExposer::~MetricsExposer() = default;

std::string MetricsExposer::address() const { return absl::StrCat(host_, ":", port_); }

}  // namespace egress
