// Array parameters as ingest and the stores build them, read back by a real
// PostgreSQL: every text survives exactly (quotes, backslashes, braces,
// commas, white space, "NULL", non-ASCII), numbers and tokens too.
#include "service/storage/pg_values.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/postgres_cluster.h"

namespace egress {
namespace {

const std::vector<std::string> kHostileTexts = {"plain",         "",
                                                "NULL",          "null",
                                                "a,b",           "{braces}",
                                                "quote\"inside", "back\\slash",
                                                "\\\"",          " spaced ",
                                                "tab\there",     "line\nbreak",
                                                "ünïcödé ✓",     "'; DROP TABLE accounts; --"};

std::vector<std::string> ReadTextArray(const std::string& conninfo, const std::string& literal) {
  pqxx::connection connection(conninfo);
  pqxx::nontransaction txn(connection);
  std::vector<std::string> out;
  for (const pqxx::row& row :
       txn.exec_params("SELECT e, e IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS t (e, n) "
                       "ORDER BY n",
                       literal)) {
    EXPECT_FALSE(row[1].as<bool>()) << "an element came back NULL";
    out.push_back(row[0].is_null() ? "<null>" : row[0].as<std::string>());
  }
  return out;
}

TEST(PgValuesTest, ArrayLiteralAndBuilderKeepEveryTextExactly) {
  const std::string conninfo = testing::FreshDatabase();
  EXPECT_EQ(ReadTextArray(conninfo, PgArrayLiteral(kHostileTexts)), kHostileTexts);
  PgArrayBuilder builder;
  for (const std::string& text : kHostileTexts) builder.AddText(text);
  EXPECT_EQ(builder.size(), kHostileTexts.size());
  EXPECT_EQ(ReadTextArray(conninfo, builder.Take()), kHostileTexts);
  // Taken: the builder starts over.
  EXPECT_EQ(builder.size(), 0u);
  EXPECT_EQ(builder.Take(), "{}");
}

TEST(PgValuesTest, BuilderNumbersAndTokens) {
  const std::string conninfo = testing::FreshDatabase();
  PgArrayBuilder numbers, addresses, days;
  for (int64_t n : {int64_t{0}, int64_t{-5}, int64_t{9223372036854775807}}) numbers.AddNumber(n);
  for (const char* ip : {"192.0.2.1", "2001:db8::1", "fe80::1"}) addresses.AddToken(ip);
  days.AddToken("2026-11-27");
  pqxx::connection connection(conninfo);
  pqxx::nontransaction txn(connection);
  pqxx::row row = txn.exec_params1(
      "SELECT array_to_string($1::int8[], ' '), array_to_string($2::inet[], ' '), "
      "array_to_string($3::date[], ' ')",
      numbers.Take(), addresses.Take(), days.Take());
  EXPECT_EQ(row[0].as<std::string>(), "0 -5 9223372036854775807");
  EXPECT_EQ(row[1].as<std::string>(), "192.0.2.1 2001:db8::1 fe80::1");
  EXPECT_EQ(row[2].as<std::string>(), "2026-11-27");
}

}  // namespace
}  // namespace egress
