#include "service/storage/ingest_journal_codec.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace egress {
namespace {

const absl::CivilDay kUnixEpochDay(1970, 1, 1);

}  // namespace

std::string EncodeJournalEntry(const AggregateMap& aggregates) {
  internal::JournalEntry entry;
  absl::flat_hash_map<absl::string_view, uint32_t> account_index;
  entry.mutable_aggregates()->Reserve(static_cast<int>(aggregates.size()));
  for (const auto& [key, aggregate] : aggregates) {
    auto [it, added] =
        account_index.try_emplace(key.account, static_cast<uint32_t>(account_index.size()));
    if (added) entry.add_accounts(std::string(key.account));
    internal::JournalAggregate* out = entry.add_aggregates();
    out->set_account(it->second);
    out->set_day(static_cast<int32_t>(key.day - kUnixEpochDay));
    const absl::Span<const uint8_t> ip = key.ip.bytes();
    out->set_ip(reinterpret_cast<const char*>(ip.data()), ip.size());
    out->set_protocol(static_cast<uint32_t>(key.protocol));
    out->set_port(key.port);
    out->set_action(static_cast<uint32_t>(key.action));
    out->set_count(aggregate.count);
    out->set_first_seen_us(absl::ToUnixMicros(aggregate.first_seen));
    out->set_last_seen_us(absl::ToUnixMicros(aggregate.last_seen));
  }
  return entry.SerializeAsString();
}

absl::Status DecodeJournalEntry(absl::string_view payload, internal::JournalEntry* entry,
                                AggregateMap* into) {
  if (!entry->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InternalError("ingest journal entry: not a JournalEntry");
  }
  // Checked whole before merging anything, so a bad entry leaves `into` as
  // it was.
  std::vector<std::pair<AggregateKey, Aggregate>> decoded;
  decoded.reserve(entry->aggregates_size());
  for (const internal::JournalAggregate& in : entry->aggregates()) {
    if (in.account() >= static_cast<uint32_t>(entry->accounts_size())) {
      return absl::InternalError(
          absl::StrCat("ingest journal entry: account index ", in.account(), " out of range"));
    }
    absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(absl::Span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(in.ip().data()), in.ip().size()));
    if (!ip.ok()) {
      return absl::InternalError(absl::StrCat("ingest journal entry: ", ip.status().message()));
    }
    const absl::StatusOr<Protocol> protocol = ProtocolFromNumber(static_cast<int>(in.protocol()));
    const std::optional<Action> action = ActionFromNumber(static_cast<int>(in.action()));
    if (in.protocol() > 255 || !protocol.ok() || *protocol == Protocol::kAny || in.port() > 65535 ||
        in.action() > 255 || !action.has_value()) {
      return absl::InternalError("ingest journal entry: protocol, port or action out of range");
    }
    AggregateKey key{entry->accounts(static_cast<int>(in.account())),
                     kUnixEpochDay + in.day(),
                     *ip,
                     *protocol,
                     static_cast<uint16_t>(in.port()),
                     *action};
    Aggregate aggregate;
    aggregate.Add(in.count(), absl::FromUnixMicros(in.first_seen_us()),
                  absl::FromUnixMicros(in.last_seen_us()));
    decoded.emplace_back(key, aggregate);
  }
  for (const auto& [key, aggregate] : decoded) {
    (*into)[key].Add(aggregate.count, aggregate.first_seen, aggregate.last_seen);
  }
  return absl::OkStatus();
}

}  // namespace egress
