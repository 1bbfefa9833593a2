// egressctl abuse ...: the abuse desk's verbs (AbuseService, admin token).
#ifndef EGRESS_TOOLS_EGRESSCTL_ABUSE_COMMANDS_H_
#define EGRESS_TOOLS_EGRESSCTL_ABUSE_COMMANDS_H_

#include <string>
#include <vector>

#include "tools/egressctl/commands.h"

namespace egress::ctl {

// `args` starts after "abuse". Returns an exit code.
int RunAbuseCommand(const std::vector<std::string>& args, const CommandOptions& options,
                    CommandContext& context);

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_ABUSE_COMMANDS_H_
