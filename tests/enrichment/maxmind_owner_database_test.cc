#include "service/enrichment/maxmind_owner_database.h"

#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace egress {
namespace {

using ::egress::testing::RunCommand;
using ::egress::testing::StatusIs;
using ::testing::Eq;
using ::testing::Optional;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
IpNetwork Net(const char* text) { return *IpNetwork::Parse(text); }

class MaxmindOwnerDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/egress-mmdb-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/asn.mmdb";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(std::vector<std::string> networks) {
    std::vector<std::string> argv = {"/usr/bin/perl", EGRESS_WRITE_TEST_MMDB, path_};
    argv.insert(argv.end(), networks.begin(), networks.end());
    auto result = RunCommand(argv);
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(MaxmindOwnerDatabaseTest, LooksUpV4InAV6TreeAndV6) {
  Write({"192.0.2.0/24", "64500", "Example Hosting B.V.", "NL",  //
         "192.0.2.128/25", "64501", "Nested Org", "-",           //
         "2001:db8::/32", "64502", "Example Six", "DE"});
  ASSERT_OK_AND_ASSIGN(auto db, MaxmindOwnerDatabase::Create(path_));
  // An .mmdb is a flattened tree: the nested /25 splits the /24, so the
  // lower half comes back as its own /25.
  EXPECT_THAT(
      db->Lookup(Ip("192.0.2.1")),
      Optional(Eq(OwnerInfo{Net("192.0.2.0/25"), 64500, "Example Hosting B.V.", "NL", false})));
  // The prefix comes back +96 from the IPv6 tree; corrected.
  EXPECT_THAT(db->Lookup(Ip("192.0.2.200")),
              Optional(Eq(OwnerInfo{Net("192.0.2.128/25"), 64501, "Nested Org", "", false})));
  EXPECT_THAT(db->Lookup(Ip("2001:db8:1::5")),
              Optional(Eq(OwnerInfo{Net("2001:db8::/32"), 64502, "Example Six", "DE", false})));
  EXPECT_EQ(db->Lookup(Ip("198.51.100.1")), std::nullopt);
  EXPECT_EQ(db->Lookup(Ip("2001:db9::1")), std::nullopt);
  EXPECT_EQ(db->info().kind, "maxmind");
  EXPECT_GT(db->info().built_at, absl::UnixEpoch());
}

TEST_F(MaxmindOwnerDatabaseTest, ReloadsWhenTheFileChanges) {
  Write({"192.0.2.0/24", "64500", "Old", "NL"});
  ASSERT_OK_AND_ASSIGN(auto db, MaxmindOwnerDatabase::Create(path_));
  EXPECT_OK(db->ReloadIfChanged());
  EXPECT_EQ(db->info().reloads, 0u);
  Write({"192.0.2.0/24", "64999", "New", "FR"});
  EXPECT_OK(db->ReloadIfChanged());
  EXPECT_EQ(db->info().reloads, 1u);
  EXPECT_EQ(db->Lookup(Ip("192.0.2.1"))->as_name, "New");
}

TEST_F(MaxmindOwnerDatabaseTest, MissingAndCorruptFiles) {
  EXPECT_THAT(MaxmindOwnerDatabase::Create(path_), StatusIs(absl::StatusCode::kNotFound));
  FILE* f = fopen(path_.c_str(), "w");
  fputs("not an mmdb", f);
  fclose(f);
  EXPECT_THAT(MaxmindOwnerDatabase::Create(path_), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace egress
