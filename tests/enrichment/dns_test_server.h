// DNS servers for tests, on loopback at ports chosen at run time:
//  - Dnsmasq: a real dnsmasq (Debian dnsmasq-base) answering from records
//    given on its command line or in a generated config file;
//  - FakeUdpDnsServer: a UDP socket that either never answers (timeouts) or
//    answers every query with a fixed RCODE (SERVFAIL), for the failures
//    dnsmasq will not produce on its own. dnsmasq forwards zones to it, so
//    the resolver under test still talks to dnsmasq.
#ifndef EGRESS_TESTS_ENRICHMENT_DNS_TEST_SERVER_H_
#define EGRESS_TESTS_ENRICHMENT_DNS_TEST_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/subprocess.h"

namespace egress::testing {

class Dnsmasq {
 public:
  // `records`: dnsmasq options without the leading "--" (ptr-record=...,
  // host-record=..., server=/zone/127.0.0.1#port), written to a config file
  // (so tens of thousands are fine). in-addr.arpa, ip6.arpa and example.test
  // are local: unknown names there are NXDOMAIN. Returns once it answers.
  static absl::StatusOr<std::unique_ptr<Dnsmasq>> Start(const std::vector<std::string>& records,
                                                        int cache_size = 0);
  ~Dnsmasq();

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"

 private:
  Dnsmasq() = default;
  std::unique_ptr<ChildProcess> process_;
  std::string dir_;
  int port_ = 0;
};

// nsd (Debian nsd), an authoritative server that answers from hashed zones:
// for benchmarks with 100k records, where dnsmasq's reverse lookups (a scan
// of all its records) would be what is measured.
class Nsd {
 public:
  struct Zone {
    std::string name;  // "0.81.in-addr.arpa"
    // Record lines relative to the zone ("1.0 PTR h1.bench.example.test.").
    std::vector<std::string> records;
  };
  static absl::StatusOr<std::unique_ptr<Nsd>> Start(const std::vector<Zone>& zones);
  ~Nsd();

  int port() const { return port_; }
  std::string address() const;

 private:
  Nsd() = default;
  std::unique_ptr<ChildProcess> process_;
  std::string dir_;
  int port_ = 0;
};

class FakeUdpDnsServer {
 public:
  // rcode < 0: never answer. Otherwise answer every query with that RCODE
  // (2 = SERVFAIL) and no records.
  static absl::StatusOr<std::unique_ptr<FakeUdpDnsServer>> Start(int rcode);
  ~FakeUdpDnsServer();

  int port() const { return port_; }
  std::string address() const;
  int queries() const { return queries_.load(); }

 private:
  FakeUdpDnsServer() = default;
  void Serve();

  int fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  int rcode_ = -1;
  std::atomic<int> queries_{0};
  std::thread thread_;
};

// Sends a query for `name` (type A) to 127.0.0.1:`port` until any answer
// arrives; DEADLINE_EXCEEDED after `attempts` tries 50 ms apart.
absl::Status WaitForDnsServer(int port, int attempts = 100);

}  // namespace egress::testing

#endif  // EGRESS_TESTS_ENRICHMENT_DNS_TEST_SERVER_H_
