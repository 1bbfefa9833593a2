#include "tests/support/journal_fold.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pqxx/pqxx"

namespace egress::testing {

absl::Status WaitForJournalFolded(const std::string& conninfo, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  int64_t waiting = -1;
  while (true) {
    try {
      pqxx::connection connection(conninfo);
      pqxx::nontransaction query(connection);
      waiting = query.exec1("SELECT count(*) FROM ingest_journal")[0].as<int64_t>();
      if (waiting == 0) return absl::OkStatus();
    } catch (const std::exception& error) {
      if (absl::Now() > give_up) {
        return absl::DeadlineExceededError(absl::StrCat("ingest_journal: ", error.what()));
      }
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          waiting, " journal entries still unfolded after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace egress::testing
