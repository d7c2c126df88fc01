#include <gtest/gtest.h>

#include <string>

#include "core/errors.h"
#include "core/threading.h"
#include "io/jsonl_reader.h"
#include "io_test_util.h"

using namespace airtune::io;
using airtune::test::read_file;
using airtune::test::write_file;
using airtune::test::write_gzip;

namespace {

std::string chat_line(int i) {
  return R"({"messages":[{"role":"user","content":"question )" + std::to_string(i) +
         R"("},{"role":"assistant","content":"answer )" + std::to_string(i) + "\"}]}";
}

std::string mixed_file(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i % 97 == 5)
      s += "{broken\n";
    else if (i % 101 == 7)
      s += "   \n";
    else
      s += chat_line(i) + "\n";
  }
  return s;
}

ReadOptions options(ErrorMode mode, size_t block = 4096) {
  ReadOptions o;
  o.errors = mode;
  o.block_bytes = block;
  return o;
}

}  // namespace

TEST(JsonlReader, AccountsForEveryLine) {
  const std::string path = write_file("mixed.jsonl", mixed_file(5000));
  JsonlReader reader(path, options(ErrorMode::Skip));
  RecordBatch all = reader.read_all();
  const auto& c = reader.counts();
  EXPECT_EQ(c.lines_read, 5000);
  EXPECT_EQ(c.lines_read, c.kept + c.rejected + c.blank);
  EXPECT_EQ(c.rejected, static_cast<int64_t>(reader.errors().size()));
  EXPECT_EQ(static_cast<int64_t>(all.size()), c.kept);
  EXPECT_GT(c.rejected, 0);
  EXPECT_GT(c.blank, 0);
  // Records come out in line order with their line numbers.
  for (size_t i = 1; i < all.size(); ++i) ASSERT_LT(all.line[i - 1], all.line[i]);
  EXPECT_EQ(all.content[0], "question 0");
}

TEST(JsonlReader, SameResultWhateverTheThreadsAndBlocks) {
  const std::string path = write_file("det.jsonl", mixed_file(3000));
  std::string reference;
  for (int threads : {1, 2, 4}) {
    for (size_t block : {size_t{4096}, size_t{1} << 20}) {
      airtune::core::set_num_threads(threads);
      JsonlReader reader(path, options(ErrorMode::Skip, block));
      RecordBatch b = reader.read_all();
      std::string digest = b.content.data + "|" + b.id.data + "|" + std::to_string(reader.errors().size());
      for (auto& e : reader.errors()) digest += std::to_string(e.line) + e.reason;
      if (reference.empty()) reference = digest;
      EXPECT_EQ(digest, reference) << "threads=" << threads << " block=" << block;
    }
  }
  airtune::core::set_num_threads(2);
}

TEST(JsonlReader, RaiseNamesTheFirstBadLine) {
  const std::string path = write_file("raise.jsonl", chat_line(1) + "\n" + chat_line(2) + "\n{\"messages\":[}\n");
  JsonlReader reader(path, options(ErrorMode::Raise));
  try {
    reader.read_all();
    FAIL() << "expected ParseError";
  } catch (const airtune::ParseError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.column(), 14);
    EXPECT_NE(std::string(e.what()).find("raise.jsonl:3:14"), std::string::npos) << e.what();
  }
}

TEST(JsonlReader, QuarantineKeepsBadLinesVerbatim) {
  const std::string bad1 = "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}";
  const std::string bad2 = std::string("{\"text\":\"\xfe\xff\"}");
  const std::string path = write_file("q.jsonl", chat_line(1) + "\n" + bad1 + "\n" + chat_line(2) + "\n" + bad2 + "\n");
  const std::string qpath = (airtune::test::temp_dir() / "q.quarantine.jsonl").string();
  ReadOptions o = options(ErrorMode::Quarantine);
  o.quarantine_path = qpath;
  JsonlReader reader(path, o);
  RecordBatch b = reader.read_all();
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(read_file(qpath), bad1 + "\n" + bad2 + "\n");
  const std::string reasons = read_file(qpath + ".reasons.jsonl");
  EXPECT_NE(reasons.find("\"line\":2"), std::string::npos);
  EXPECT_NE(reasons.find("unknown role 'robot'"), std::string::npos);
  EXPECT_NE(reasons.find("\"line\":4"), std::string::npos);
  EXPECT_NE(reasons.find("invalid UTF-8"), std::string::npos);
}

TEST(JsonlReader, OversizeLinesAreRejectedAndStreamedToQuarantine) {
  const std::string huge = "{\"text\":\"" + std::string(300000, 'x') + "\"}";
  const std::string path = write_file("big.jsonl", chat_line(1) + "\n" + huge + "\n" + chat_line(2));
  const std::string qpath = (airtune::test::temp_dir() / "big.quarantine.jsonl").string();
  ReadOptions o = options(ErrorMode::Quarantine, 4096);
  o.max_line_bytes = 100000;
  o.quarantine_path = qpath;
  JsonlReader reader(path, o);
  RecordBatch b = reader.read_all();
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.line[1], 3);  // the last line has no newline and is still read
  ASSERT_EQ(reader.errors().size(), 1u);
  EXPECT_EQ(reader.errors()[0].line, 2);
  EXPECT_NE(reader.errors()[0].reason.find("over max_line_bytes"), std::string::npos);
  EXPECT_EQ(read_file(qpath), huge + "\n");
}

TEST(JsonlReader, ReadsGzipAndDetectsTruncation) {
  const std::string text = mixed_file(2000);
  const std::string gz = write_gzip("data.jsonl.gz", text);
  JsonlReader reader(gz, options(ErrorMode::Skip));
  RecordBatch b = reader.read_all();
  JsonlReader plain(write_file("data.jsonl", text), options(ErrorMode::Skip));
  RecordBatch p = plain.read_all();
  EXPECT_EQ(b.content.data, p.content.data);
  EXPECT_EQ(reader.counts().lines_read, 2000);

  std::string bytes = read_file(gz);
  const std::string cut = write_file("cut.jsonl.gz", bytes.substr(0, bytes.size() / 2));
  JsonlReader truncated(cut, options(ErrorMode::Skip));
  EXPECT_THROW(truncated.read_all(), airtune::IoError);
}

TEST(JsonlReader, MissingFileAndDirectoryAreIoErrors) {
  EXPECT_THROW(JsonlReader("/nonexistent/x.jsonl", options(ErrorMode::Raise)), airtune::IoError);
  EXPECT_THROW(JsonlReader(airtune::test::temp_dir().string(), options(ErrorMode::Raise)), airtune::IoError);
}

TEST(JsonlReader, ByteOrderMarkAndCrlf) {
  const std::string path = write_file("bom.jsonl", "\xEF\xBB\xBF{\"text\":\"a\"}\r\n{\"text\":\"b\"}\r\n");
  JsonlReader reader(path, options(ErrorMode::Raise));
  RecordBatch b = reader.read_all();
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.content[1], "b");
}
