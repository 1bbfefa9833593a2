// egressctl nodes ... / accounts ...: the AccountsService verbs.
#ifndef EGRESS_TOOLS_EGRESSCTL_ACCOUNTS_COMMANDS_H_
#define EGRESS_TOOLS_EGRESSCTL_ACCOUNTS_COMMANDS_H_

#include <string>
#include <vector>

#include "tools/egressctl/commands.h"

namespace egress::ctl {

// `args` starts after "nodes" / "accounts". Returns an exit code.
int RunNodesCommand(const std::vector<std::string>& args, const CommandOptions& options,
                    CommandContext& context);
int RunAccountsCommand(const std::vector<std::string>& args, const CommandOptions& options,
                       CommandContext& context);

// `lookup IP`: what the service knows of an address (PTR, owner).
int RunLookupCommand(const std::vector<std::string>& args, const CommandOptions& options,
                     CommandContext& context);

// Prints "egressctl: CODE: message" and returns kExitRpcError for a failed
// call.
int ReportRpcError(const grpc::Status& status, CommandContext& context);

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_ACCOUNTS_COMMANDS_H_
