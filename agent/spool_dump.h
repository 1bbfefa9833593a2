// --once-dump: what the agent holds on disk, read without changing anything
// (safe while an agent runs on the same directories): the persisted rule set
// and time zone, the spool's state, and the aggregates of every batch the
// service has not acknowledged yet, summed per key.
//
// A running agent seals what it holds in memory into the spool on SIGUSR1,
// so `kill -USR1 <pid>; egress-agent --once-dump` shows everything it has
// counted and the service has not confirmed.
#ifndef EGRESS_AGENT_SPOOL_DUMP_H_
#define EGRESS_AGENT_SPOOL_DUMP_H_

#include <string>

#include "absl/status/statusor.h"

namespace egress::agent {

// Renders the dump as lines of `key=value` fields:
//   state rule_version=.. accounts=.. time_zone=..
//   spool dir=.. segments=.. bytes=.. acked_seq=.. high_water_mark=.. anchored=..
//         unacked_batches=.. first_seq=.. last_seq=.. damaged_records=..
//   record uid=.. day=YYYY-MM-DD dst=.. protocol=tcp port=.. action=ACCEPT count=..
//          first_seen=.. last_seen=..        (one per key, sorted)
//   loss day=.. reason=.. events=.. size_unknown=..
//   total records=.. accept=.. reject=..
// A torn or damaged record ends its segment's reading (counted in
// damaged_records; the agent truncates it at its next start). NotFound
// if `spool_dir` does not exist.
absl::StatusOr<std::string> DumpSpool(const std::string& state_dir, const std::string& spool_dir);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_SPOOL_DUMP_H_
