// UnitFile: what the package test reads from installed units (and the
// project's own units in deploy/ parse as it expects).
#include "tests/package/unit_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

using ::testing::ElementsAre;

TEST(UnitFileTest, SectionsKeysAndLastValue) {
  ASSERT_OK_AND_ASSIGN(UnitFile unit,
                       UnitFile::Parse("# comment\n[Unit]\nDescription=x y\n"
                                       "ConditionPathExists=/a\n"
                                       "ConditionPathExists=!/b\n\n"
                                       "[Service]\n; other comment\nUser = egress\n"));
  EXPECT_EQ(unit.Value("Unit", "Description"), "x y");
  EXPECT_THAT(unit.Values("Unit", "ConditionPathExists"), ElementsAre("/a", "!/b"));
  EXPECT_EQ(unit.Value("Service", "User"), "egress");
  EXPECT_EQ(unit.Value("Service", "Group", "fallback"), "fallback");
  EXPECT_EQ(unit.Value("Unit", "User"), "");
}

TEST(UnitFileTest, RefusesWhatItDoesNotUnderstand) {
  EXPECT_FALSE(UnitFile::Parse("User=root\n").ok());  // outside a section
  EXPECT_FALSE(UnitFile::Parse("[Service]\nnot a key\n").ok());
  EXPECT_FALSE(UnitFile::Parse("[Service]\nExecStart=/bin/a \\\n").ok());  // continuation
  ASSERT_OK_AND_ASSIGN(UnitFile prefixed, UnitFile::Parse("[Service]\nExecStart=-/bin/true\n"));
  EXPECT_FALSE(prefixed.ExecStart({}).ok());
  ASSERT_OK_AND_ASSIGN(UnitFile twice,
                       UnitFile::Parse("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n"));
  EXPECT_FALSE(twice.ExecStart({}).ok());
  ASSERT_OK_AND_ASSIGN(UnitFile relative, UnitFile::Parse("[Service]\nExecStart=true\n"));
  EXPECT_FALSE(relative.ExecStart({}).ok());
}

TEST(UnitFileTest, ExecStartExpandsLikeSystemd) {
  ASSERT_OK_AND_ASSIGN(
      UnitFile unit,
      UnitFile::Parse(
          "[Service]\nExecStart=/usr/bin/x \"two words\" --a=${A} $FLAGS $EMPTY end\n"));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> argv,
                       unit.ExecStart({{"A", "1 2"}, {"FLAGS", "--b  --c=3"}, {"EMPTY", ""}}));
  EXPECT_THAT(argv, ElementsAre("/usr/bin/x", "two words", "--a=1 2", "--b", "--c=3", "end"));
}

TEST(UnitFileTest, EnvironmentFromLinesAndFiles) {
  char path[] = "/tmp/egress-unit-env-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "# comment\nB=\"quoted value\"\n\nC=3\n";
  ASSERT_OK_AND_ASSIGN(
      UnitFile unit,
      UnitFile::Parse(std::string("[Service]\nEnvironment=A=1 C=0\nEnvironmentFile=") + path +
                      "\nEnvironmentFile=-/nonexistent/optional.env\n"));
  ASSERT_OK_AND_ASSIGN(auto environment, unit.ServiceEnvironment());
  EXPECT_EQ(environment["A"], "1");
  EXPECT_EQ(environment["B"], "quoted value");
  EXPECT_EQ(environment["C"], "3");
  std::filesystem::remove(path);
  EXPECT_FALSE(unit.ServiceEnvironment().ok());  // a required file is missing
}

TEST(UnitFileTest, ProjectUnitsRunTheirPackagedBinaries) {
  for (const auto& [unit_name, binary] : std::vector<std::pair<std::string, std::string>>{
           {"egress-agent.service", "/usr/sbin/egress-agent"},
           {"egress-service.service", "/usr/sbin/egress-service"},
           {"egress-gateway.service", "/usr/sbin/egress-gateway"}}) {
    ASSERT_OK_AND_ASSIGN(UnitFile unit,
                         UnitFile::Read(std::string(EGRESS_SOURCE_DIR) + "/deploy/" + unit_name));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> argv,
                         unit.ExecStart({{"EGRESS_GATEWAY_FLAGS", "--log-level=info"}}));
    EXPECT_EQ(argv[0], binary) << unit_name;
  }
}

}  // namespace
}  // namespace egress::testing
