#include "service/enrichment/libloc_owner_database.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/enrichment/libloc_test_database.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::egress::testing::TestAs;
using ::egress::testing::TestNetwork;
using ::egress::testing::WriteLiblocDatabase;
using ::testing::Eq;
using ::testing::Optional;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
IpNetwork Net(const char* text) { return *IpNetwork::Parse(text); }

class LiblocOwnerDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/egress-libloc-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/location.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::string path_;
};

TEST_F(LiblocOwnerDatabaseTest, LooksUpNetworksOfABuiltDatabase) {
  ASSERT_OK(WriteLiblocDatabase(path_,
                                {{"192.0.2.0/24", 64500, "NL", false},
                                 {"192.0.2.128/25", 64501, "BE", true},
                                 {"2001:db8::/32", 64502, "DE", false}},
                                {{64500, "Example Hosting B.V."}, {64502, "Example IPv6 GmbH"}}));
  ASSERT_OK_AND_ASSIGN(auto db, LiblocOwnerDatabase::Create(path_));
  EXPECT_THAT(
      db->Lookup(Ip("192.0.2.1")),
      Optional(Eq(OwnerInfo{Net("192.0.2.0/24"), 64500, "Example Hosting B.V.", "NL", false})));
  EXPECT_THAT(db->Lookup(Ip("192.0.2.200")),
              Optional(Eq(OwnerInfo{Net("192.0.2.128/25"), 64501, "", "BE", true})));
  EXPECT_THAT(
      db->Lookup(Ip("2001:db8:ffff::1")),
      Optional(Eq(OwnerInfo{Net("2001:db8::/32"), 64502, "Example IPv6 GmbH", "DE", false})));
  EXPECT_EQ(db->Lookup(Ip("198.51.100.1")), std::nullopt);
  OwnerDatabaseInfo info = db->info();
  EXPECT_EQ(info.kind, "libloc");
  EXPECT_EQ(info.networks, 3u);
  EXPECT_EQ(info.reloads, 0u);
}

TEST_F(LiblocOwnerDatabaseTest, MissingAndCorruptFiles) {
  EXPECT_THAT(LiblocOwnerDatabase::Create(path_), StatusIs(absl::StatusCode::kNotFound));
  FILE* f = fopen(path_.c_str(), "w");
  fputs("this is not a location database\n", f);
  fclose(f);
  EXPECT_THAT(LiblocOwnerDatabase::Create(path_), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(LiblocOwnerDatabaseTest, ReloadIfChangedSwapsDataAndKeepsOldOnError) {
  ASSERT_OK(WriteLiblocDatabase(path_, {{"192.0.2.0/24", 64500, "NL"}}, {{64500, "Old"}}));
  ASSERT_OK_AND_ASSIGN(auto db, LiblocOwnerDatabase::Create(path_));
  EXPECT_OK(db->ReloadIfChanged());  // unchanged: nothing to do
  EXPECT_EQ(db->info().reloads, 0u);

  ASSERT_OK(WriteLiblocDatabase(path_, {{"192.0.2.0/24", 64999, "FR"}}, {{64999, "New"}}));
  EXPECT_OK(db->ReloadIfChanged());
  EXPECT_EQ(db->info().reloads, 1u);
  EXPECT_EQ(db->Lookup(Ip("192.0.2.7"))->as_name, "New");

  // A broken replacement: the error is reported and the old data stays.
  FILE* f = fopen(path_.c_str(), "w");
  fputs("garbage", f);
  fclose(f);
  EXPECT_THAT(db->ReloadIfChanged(), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(db->info().failed_reloads, 1u);
  EXPECT_EQ(db->Lookup(Ip("192.0.2.7"))->as_name, "New");
  // Not retried until the file changes again.
  EXPECT_OK(db->ReloadIfChanged());
  EXPECT_EQ(db->info().failed_reloads, 1u);
}

TEST_F(LiblocOwnerDatabaseTest, LookupsContinueDuringReloads) {
  ASSERT_OK(WriteLiblocDatabase(path_, {{"192.0.2.0/24", 1, "NL"}}, {}));
  ASSERT_OK_AND_ASSIGN(auto db, LiblocOwnerDatabase::Create(path_));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> lookups{0}, misses{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::optional<OwnerInfo> owner = db->Lookup(Ip("192.0.2.1"));
        // Every lookup sees one whole version: ASN 1 with NL or 2 with FR.
        if (!owner || !((owner->asn == 1 && owner->country == "NL") ||
                        (owner->asn == 2 && owner->country == "FR"))) {
          misses.fetch_add(1);
        }
        lookups.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(
        WriteLiblocDatabase(path_, {{"192.0.2.0/24", i % 2 ? 1u : 2u, i % 2 ? "NL" : "FR"}}, {}));
    ASSERT_OK(db->Reload());
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_GT(lookups.load(), 0);
  EXPECT_EQ(db->info().reloads, 20u);
}

// The database Debian ships (libloc-database, built 2022-10-29).
TEST(LiblocRealDatabaseTest, WellKnownNetworks) {
  ASSERT_OK_AND_ASSIGN(auto db, LiblocOwnerDatabase::Create(kDefaultLiblocDatabasePath));
  EXPECT_GT(db->info().networks, 500000u);

  std::optional<OwnerInfo> google = db->Lookup(Ip("8.8.8.8"));
  ASSERT_TRUE(google.has_value());
  EXPECT_EQ(google->asn, 15169u);
  EXPECT_EQ(google->as_name, "GOOGLE");
  EXPECT_EQ(google->country, "US");
  EXPECT_TRUE(google->network.Contains(Ip("8.8.8.8")));
  EXPECT_TRUE(google->anycast);

  std::optional<OwnerInfo> cloudflare = db->Lookup(Ip("1.1.1.1"));
  ASSERT_TRUE(cloudflare.has_value());
  EXPECT_EQ(cloudflare->asn, 13335u);

  std::optional<OwnerInfo> google6 = db->Lookup(Ip("2001:4860:4860::8888"));
  ASSERT_TRUE(google6.has_value());
  EXPECT_EQ(google6->asn, 15169u);
  EXPECT_EQ(google6->network, Net("2001:4860::/32"));

  std::optional<OwnerInfo> quad9 = db->Lookup(Ip("9.9.9.9"));
  ASSERT_TRUE(quad9.has_value());
  EXPECT_EQ(quad9->asn, 19281u);

  // Private and documentation space has no owner.
  EXPECT_EQ(db->Lookup(Ip("192.168.1.1")), std::nullopt);
  EXPECT_EQ(db->Lookup(Ip("10.0.0.1")), std::nullopt);
}

}  // namespace
}  // namespace egress
