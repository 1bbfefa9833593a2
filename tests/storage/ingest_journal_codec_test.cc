#include "service/storage/ingest_journal_codec.h"

#include <deque>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress {
namespace {

AggregateKey Key(absl::string_view account, const char* ip, Action action = Action::kAccept) {
  return AggregateKey{
      account, absl::CivilDay(2026, 3, 10), *IpAddress::Parse(ip), Protocol::kTcp, 443, action};
}

Aggregate Agg(uint64_t count, int64_t first, int64_t last) {
  Aggregate aggregate;
  aggregate.Add(count, absl::FromUnixMicros(first), absl::FromUnixMicros(last));
  return aggregate;
}

TEST(IngestJournalCodecTest, RoundTripsEveryFieldAndMergesIntoWhatIsThere) {
  const std::string a1 = "account-1", a2 = "Ä\"'; DROP TABLE x; --";
  AggregateMap written;
  written[Key(a1, "192.0.2.1")] = Agg(3, 1773100000000001, 1773100009999999);
  written[Key(a2, "2001:db8::7", Action::kReject)] = Agg(uint64_t{1} << 40, -5, 7);
  written[AggregateKey{a1, absl::CivilDay(1969, 12, 31), *IpAddress::Parse("0.0.0.0"),
                       Protocol::kIcmp, 0, Action::kReject}] = Agg(1, 0, 0);
  const std::string payload = EncodeJournalEntry(written);

  internal::JournalEntry entry;
  AggregateMap read;
  ASSERT_TRUE(DecodeJournalEntry(payload, &entry, &read).ok());
  EXPECT_EQ(entry.accounts_size(), 2);  // each account once
  ASSERT_EQ(read.size(), written.size());
  for (const auto& [key, aggregate] : written) {
    auto it = read.find(key);
    ASSERT_NE(it, read.end()) << key.account << " " << key.ip;
    EXPECT_EQ(it->second.count, aggregate.count);
    EXPECT_EQ(it->second.first_seen, aggregate.first_seen);
    EXPECT_EQ(it->second.last_seen, aggregate.last_seen);
  }

  // A second entry with an overlapping key merges: sum, earliest, latest.
  AggregateMap more;
  more[Key(a1, "192.0.2.1")] = Agg(4, 1773100000000000, 1773100005000000);
  internal::JournalEntry second;
  ASSERT_TRUE(DecodeJournalEntry(EncodeJournalEntry(more), &second, &read).ok());
  const Aggregate& merged = read.at(Key(a1, "192.0.2.1"));
  EXPECT_EQ(merged.count, 7u);
  EXPECT_EQ(merged.first_seen, absl::FromUnixMicros(1773100000000000));
  EXPECT_EQ(merged.last_seen, absl::FromUnixMicros(1773100009999999));
}

TEST(IngestJournalCodecTest, RefusesWhatItNeverWroteAndLeavesTheMapAlone) {
  AggregateMap good;
  good[Key("a", "192.0.2.1")] = Agg(1, 1, 2);
  internal::JournalEntry entry;
  AggregateMap map;
  ASSERT_TRUE(DecodeJournalEntry(EncodeJournalEntry(good), &entry, &map).ok());

  internal::JournalEntry bad_index;
  bad_index.add_accounts("a");
  bad_index.add_aggregates()->set_ip(std::string("\xc0\x00\x02\x01", 4));
  bad_index.add_aggregates()->set_account(5);
  internal::JournalEntry bad_ip;
  bad_ip.add_accounts("a");
  bad_ip.add_aggregates()->set_ip("abc");
  internal::JournalEntry bad_port;
  bad_port.add_accounts("a");
  auto* aggregate = bad_port.add_aggregates();
  aggregate->set_ip(std::string("\xc0\x00\x02\x01", 4));
  aggregate->set_port(70000);

  for (const std::string& payload : {std::string("\xff\xff\xff", 3), bad_index.SerializeAsString(),
                                     bad_ip.SerializeAsString(), bad_port.SerializeAsString()}) {
    internal::JournalEntry scratch;
    absl::Status status = DecodeJournalEntry(payload, &scratch, &map);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(status.message(), ::testing::HasSubstr("journal entry"));
    ASSERT_EQ(map.size(), 1u);
    EXPECT_EQ(map.begin()->second.count, 1u);
  }
}

}  // namespace
}  // namespace egress
