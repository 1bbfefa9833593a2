// egressctl's verbs, independent of flag parsing (main.cc fills the options).
#ifndef EGRESS_TOOLS_EGRESSCTL_COMMANDS_H_
#define EGRESS_TOOLS_EGRESSCTL_COMMANDS_H_

#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "tools/egressctl/output.h"

namespace egress::ctl {

// Values of the verb-specific flags; empty/zero when not given.
struct CommandOptions {
  std::string node;
  int64_t uid = -1;
  std::string server_ipv4;
  std::string server_ipv6;
  std::vector<std::string> exempt;
  // "IP" or "IP@RFC3339-time" (order time; default now).
  std::vector<std::string> dedicated_ips;
  // token: the secret file, space-separated scopes and lifetime.
  std::string secret_file;
  std::string scope;
  absl::Duration ttl = absl::Hours(24);
  // block: tcp, udp or any (default any); port -1 or 0 for every port; note.
  std::string protocol;
  int64_t port = -1;
  std::string note;
  // block: a temporary rule, ending this long from now or at this RFC 3339
  // time (at most one of the two; neither: until unblocked).
  absl::Duration expire_in = absl::ZeroDuration();
  std::string expire_at;
  // report-scan: "PATH:SIGNATURE" each; finish time (RFC 3339; default now);
  // or a scanner's report: a file ("-": CommandContext::in), its format
  // (auto, clamscan, json; tools/egressctl/scan_report.h) and the folder
  // its paths are made relative to (the account's home).
  std::vector<std::string> threats;
  std::string finished;
  std::string report;
  std::string report_format;
  std::string report_base;
  // connections: IP, CIDR or IP text prefix; accept|reject; count, ip, port,
  // last-seen; reverse the default direction.
  std::string filter;
  std::string action;
  std::string order_by;
  bool reverse = false;
  // abuse find: day range (YYYY-MM-DD) and the egress (source) address.
  std::string from;
  std::string to;
  // abuse lock: when it ends by itself (RFC 3339); empty: when lifted.
  std::string until;
  std::string egress_address;
  // lookup: redo the lookup now instead of showing the cache.
  bool refresh = false;
};

struct CommandContext {
  std::shared_ptr<grpc::Channel> channel;
  OutputFormat format = OutputFormat::kTable;
  absl::Duration timeout = absl::Seconds(10);
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string token;
  std::ostream* out;
  std::ostream* err;
  // Standard input, for `--report=-`; nullptr when there is none.
  std::istream* in = nullptr;
};

// Exit codes: 0 success; 1 the server refused or failed the call (its gRPC
// status is printed); 2 bad usage or input (a malformed scan report).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;
inline constexpr int kExitUsage = 2;

// Prints "egressctl: <message>" and the --help hint to context.err; returns
// kExitUsage.
int Usage(CommandContext& context, absl::string_view message);

// A timestamp as RFC 3339 UTC to the second; "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& timestamp);

// `text`, or "-" when it is empty (a table cell).
std::string OrDash(const std::string& text);

// Sets the deadline and credentials of one call.
void PrepareClientContext(grpc::ClientContext* client_context, const CommandContext& context);

// Runs one command line: `args` are the positional words after the flags,
// e.g. {"accounts", "upsert", "u1001"}.
int RunCommand(const std::vector<std::string>& args, const CommandOptions& options,
               CommandContext& context);

// The verbs, for --help.
extern const char kCommandsHelp[];

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_COMMANDS_H_
