#include "common/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace egress {
namespace {

using ::testing::HasSubstr;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/egress-files-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string dir_;
};

TEST_F(FilesTest, ReadsEveryByteIncludingNulAndNewlines) {
  const std::string bytes("a\0b\n\xff\n", 6);
  absl::StatusOr<std::string> read = ReadWholeFile(Write("binary", bytes));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
}

TEST_F(FilesTest, ReadsFilesLargerThanOneChunk) {
  const std::string bytes(200000, 'x');
  absl::StatusOr<std::string> read = ReadWholeFile(Write("large", bytes));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), bytes.size());
}

TEST_F(FilesTest, EmptyFileIsEmptyNotAnError) {
  absl::StatusOr<std::string> read = ReadWholeFile(Write("empty", ""));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST_F(FilesTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/absent";
  absl::StatusOr<std::string> read = ReadWholeFile(path);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr(path));
  EXPECT_THAT(read.status().message(), HasSubstr("No such file"));
}

TEST_F(FilesTest, DirectoryIsFailedPrecondition) {
  absl::StatusOr<std::string> read = ReadWholeFile(dir_);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr(dir_));
}

TEST_F(FilesTest, FileAboveTheLimitIsRefused) {
  absl::StatusOr<std::string> read = ReadWholeFile(Write("big", std::string(1001, 'y')), 1000);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr("larger than 1000 bytes"));
}

TEST_F(FilesTest, TrimmedFileDropsSurroundingWhitespaceOnly) {
  absl::StatusOr<std::string> read = ReadTrimmedFile(Write("token", "  ab c\t\n\n"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "ab c");
  EXPECT_EQ(ReadTrimmedFile(dir_ + "/absent").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace egress
