// Reads the elements of one nftables set straight from the kernel: an
// NFT_MSG_GETSETELEM dump over a netlink socket (libmnl), parsed by libnftnl,
// the library nft itself is built on. The counting sets are read every
// second; libnftables' JSON listing of them cost ~50 µs a key (bench/README.md,
// "Accepted connections counted in the kernel"), this reader gives the raw
// key bytes, the packet counter and the time left instead.
// Not thread-safe: one reader per thread (the agent's event loop).
#ifndef EGRESS_AGENT_NFT_SET_READER_H_
#define EGRESS_AGENT_NFT_SET_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct mnl_socket;

namespace egress::agent {

struct NftSetElement {
  // The key as the kernel stores it: each field of a concatenation padded to
  // 4 bytes, addresses and ports in network order, a uid in host order.
  std::string key;
  // The element's counter; 0 when it has none.
  uint64_t packets = 0;
  // Time left before the element expires, in milliseconds (0: no timeout).
  uint64_t expires_ms = 0;
};

class NftSetReader {
 public:
  static absl::StatusOr<std::unique_ptr<NftSetReader>> Open();
  ~NftSetReader();
  NftSetReader(const NftSetReader&) = delete;
  NftSetReader& operator=(const NftSetReader&) = delete;

  // Every element of set `set` of table `inet <table>`. NotFound when the
  // set (or the table) does not exist. After any other failure the socket is
  // replaced, so the rest of a broken dump cannot reach the next read.
  absl::StatusOr<std::vector<NftSetElement>> Read(const std::string& table, const std::string& set);

 private:
  explicit NftSetReader(mnl_socket* socket);
  static absl::StatusOr<mnl_socket*> OpenSocket();
  absl::StatusOr<std::vector<NftSetElement>> Dump(const std::string& table, const std::string& set);

  mnl_socket* socket_;
  uint32_t port_id_;
  uint32_t seq_;
  // Receive buffer, made once (a read every second of ten sets).
  std::vector<char> buffer_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NFT_SET_READER_H_
