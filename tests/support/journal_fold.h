// In-process servers journal acknowledged batches (the shipped default) and
// fold them into connection_daily a moment later. A test that reads the
// aggregates right after an acknowledgement waits for the fold first.
#ifndef EGRESS_TESTS_SUPPORT_JOURNAL_FOLD_H_
#define EGRESS_TESTS_SUPPORT_JOURNAL_FOLD_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace egress::testing {

// Returns once ingest_journal of the database at `conninfo` is empty (every
// acknowledged batch folded), DEADLINE_EXCEEDED after `timeout`.
absl::Status WaitForJournalFolded(const std::string& conninfo,
                                  absl::Duration timeout = absl::Seconds(30));

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_JOURNAL_FOLD_H_
