// The payload of an ingest_journal row (egress.internal.JournalEntry):
// merged aggregates, with each account id written once.
#ifndef EGRESS_SERVICE_STORAGE_INGEST_JOURNAL_CODEC_H_
#define EGRESS_SERVICE_STORAGE_INGEST_JOURNAL_CODEC_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "egress/internal/ingest_journal.pb.h"
#include "service/storage/aggregates.h"

namespace egress {

std::string EncodeJournalEntry(const AggregateMap& aggregates);

// Parses `payload` into `entry` and merges its aggregates into `into`, whose
// keys then point into `entry`'s account ids: keep `entry` alive (and
// unmoved) as long as `into`. INTERNAL if the payload is not one we wrote
// (unparsable, account index out of range, bad address length); `into` is
// unchanged then.
absl::Status DecodeJournalEntry(absl::string_view payload, internal::JournalEntry* entry,
                                AggregateMap* into);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_INGEST_JOURNAL_CODEC_H_
