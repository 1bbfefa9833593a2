// egressctl verbs of the panel and antivirus APIs: status, block, unblock,
// block-all, rules, connections, dates, audit, report-scan.
#ifndef EGRESS_TOOLS_EGRESSCTL_CONNECTIONS_COMMANDS_H_
#define EGRESS_TOOLS_EGRESSCTL_CONNECTIONS_COMMANDS_H_

#include <string>
#include <vector>

#include "tools/egressctl/commands.h"

namespace egress::ctl {

// True for the verbs below.
bool IsConnectionsCommand(const std::string& verb);

// `args` starts with the verb ("block", "alice", "203.0.113.7"). Returns an
// exit code (kExitOk, kExitRpcError, kExitUsage).
int RunConnectionsCommand(const std::vector<std::string>& args, const CommandOptions& options,
                          CommandContext& context);

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_CONNECTIONS_COMMANDS_H_
