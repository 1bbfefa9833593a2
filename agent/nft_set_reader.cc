#include "agent/nft_set_reader.h"

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace egress::agent {
namespace {

// Big enough for what the kernel puts in one dump message (it fills up to
// the reader's buffer size, at most 32 KiB); smaller buffers truncate.
constexpr size_t kBufferBytes = 64 * 1024;

struct SetDeleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};

int ParseMessage(const nlmsghdr* nlh, void* data) {
  // Appends the message's elements to the set.
  return nftnl_set_elems_nlmsg_parse(nlh, static_cast<nftnl_set*>(data)) < 0 ? MNL_CB_ERROR
                                                                             : MNL_CB_OK;
}

int AddPackets(nftnl_expr* expr, void* data) {
  const char* name = nftnl_expr_get_str(expr, NFTNL_EXPR_NAME);
  if (name != nullptr && std::strcmp(name, "counter") == 0) {
    *static_cast<uint64_t*>(data) += nftnl_expr_get_u64(expr, NFTNL_EXPR_CTR_PACKETS);
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NftSetReader>> NftSetReader::Open() {
  absl::StatusOr<mnl_socket*> socket = OpenSocket();
  if (!socket.ok()) return socket.status();
  return std::unique_ptr<NftSetReader>(new NftSetReader(*socket));
}

absl::StatusOr<mnl_socket*> NftSetReader::OpenSocket() {
  mnl_socket* socket = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (socket == nullptr) {
    return absl::InternalError(absl::StrCat("netlink socket: ", std::strerror(errno)));
  }
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int error = errno;
    mnl_socket_close(socket);
    return absl::InternalError(absl::StrCat("netlink bind: ", std::strerror(error)));
  }
  return socket;
}

NftSetReader::NftSetReader(mnl_socket* socket)
    : socket_(socket),
      port_id_(mnl_socket_get_portid(socket)),
      seq_(static_cast<uint32_t>(time(nullptr))),
      buffer_(kBufferBytes) {}

NftSetReader::~NftSetReader() { mnl_socket_close(socket_); }

absl::StatusOr<std::vector<NftSetElement>> NftSetReader::Read(const std::string& table,
                                                              const std::string& set) {
  absl::StatusOr<std::vector<NftSetElement>> elements = Dump(table, set);
  if (!elements.ok() && !absl::IsNotFound(elements.status())) {
    // What is left of the dump (a message with an old sequence number)
    // would fail every later read on this socket: start a fresh one.
    if (absl::StatusOr<mnl_socket*> fresh = OpenSocket(); fresh.ok()) {
      mnl_socket_close(socket_);
      socket_ = *fresh;
      port_id_ = mnl_socket_get_portid(socket_);
    }
  }
  return elements;
}

absl::StatusOr<std::vector<NftSetElement>> NftSetReader::Dump(const std::string& table,
                                                              const std::string& set) {
  std::unique_ptr<nftnl_set, SetDeleter> request(nftnl_set_alloc());
  if (request == nullptr) return absl::ResourceExhaustedError("nftnl_set_alloc");
  nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(request.get(), NFTNL_SET_NAME, set.c_str());
  const uint32_t seq = ++seq_;
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(buffer_.data(), NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, request.get());
  if (mnl_socket_sendto(socket_, nlh, nlh->nlmsg_len) < 0) {
    return absl::InternalError(absl::StrCat("netlink send: ", std::strerror(errno)));
  }
  // The reply's elements accumulate in `request`.
  int status = MNL_CB_OK;
  int error = 0;
  while (status > MNL_CB_STOP) {
    const ssize_t n = mnl_socket_recvfrom(socket_, buffer_.data(), buffer_.size());
    if (n < 0) {
      error = errno;
      break;
    }
    status = mnl_cb_run(buffer_.data(), static_cast<size_t>(n), seq, port_id_, ParseMessage,
                        request.get());
    if (status < 0) error = errno;
  }
  if (error == ENOENT) {
    return absl::NotFoundError(absl::StrCat("no set inet ", table, " ", set));
  }
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("reading set ", set, " from the kernel: ", std::strerror(error)));
  }
  std::vector<NftSetElement> elements;
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(request.get());
  if (it == nullptr) return absl::ResourceExhaustedError("nftnl_set_elems_iter_create");
  for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e != nullptr;
       e = nftnl_set_elems_iter_next(it)) {
    NftSetElement element;
    uint32_t length = 0;
    const void* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &length);
    if (key != nullptr) element.key.assign(static_cast<const char*>(key), length);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION)) {
      element.expires_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
    }
    nftnl_set_elem_expr_foreach(e, AddPackets, &element.packets);
    elements.push_back(std::move(element));
  }
  nftnl_set_elems_iter_destroy(it);
  return elements;
}

}  // namespace egress::agent
