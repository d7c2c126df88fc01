#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>

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

TEST(JsonlReader, EachCallAppendsAndAccountsOneBlockAlthoughTheNextIsParsedAhead) {
  // 4 KiB blocks of ~80-byte lines: ~50 blocks. The reader parses block N+1 while it appends block
  // N, yet after every call the counts, the errors and `out` describe exactly the blocks handed out.
  const std::string path = write_file("per_call.jsonl", mixed_file(3000));
  for (int threads : {1, 2}) {
    airtune::core::set_num_threads(threads);
    JsonlReader reader(path, options(ErrorMode::Skip));
    RecordBatch out;
    int calls = 0;
    int64_t last_line = 0;
    while (reader.read_block(out)) {
      ++calls;
      const auto& c = reader.counts();
      ASSERT_EQ(c.kept, static_cast<int64_t>(out.size())) << "call " << calls;
      ASSERT_EQ(c.rejected, static_cast<int64_t>(reader.errors().size())) << "call " << calls;
      ASSERT_EQ(c.lines_read, c.kept + c.rejected + c.blank);
      // the lines read so far are exactly lines 1..lines_read: the last kept or rejected one ends them
      const int64_t last = std::max(out.line.back(), reader.errors().empty() ? 0 : reader.errors().back().line);
      ASSERT_GT(last, last_line);
      ASSERT_LE(last, c.lines_read);
      ASSERT_GE(last, c.lines_read - 1);  // at most one blank line after it (every 101st line is blank)
      last_line = last;
    }
    EXPECT_GT(calls, 20);
    EXPECT_EQ(reader.counts().lines_read, 3000);
    EXPECT_FALSE(reader.read_block(out));
  }
  airtune::core::set_num_threads(2);
}

TEST(JsonlReader, RaiseHandsOutTheBlocksBeforeTheBadLinesBlock) {
  std::string text;
  for (int i = 1; i <= 2000; ++i) text += (i == 1500 ? std::string("{\"messages\":[}") : chat_line(i)) + "\n";
  const std::string path = write_file("raise_late.jsonl", text);
  JsonlReader reader(path, options(ErrorMode::Raise));
  RecordBatch out;
  try {
    while (reader.read_block(out)) ASSERT_EQ(reader.counts().kept, static_cast<int64_t>(out.size()));
    FAIL() << "expected ParseError";
  } catch (const airtune::ParseError& e) {
    EXPECT_EQ(e.line(), 1500);
  }
  // the blocks before line 1500's block came out whole, in order, and nothing after it
  ASSERT_GT(out.size(), 1000u);
  EXPECT_LT(out.line.back(), 1500);
  EXPECT_EQ(out.line.back(), static_cast<int64_t>(out.size()));
  EXPECT_EQ(reader.counts().kept, static_cast<int64_t>(out.size()));
  EXPECT_EQ(reader.counts().lines_read, static_cast<int64_t>(out.size()));
  EXPECT_FALSE(reader.read_block(out));  // ended
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

namespace {

// Writes `bytes` into a FIFO from another thread while the test reads it.
struct FifoWriter {
  std::string path;
  std::thread thread;
  FifoWriter(const std::string& name, std::string bytes) : path((airtune::test::temp_dir() / name).string()) {
    std::filesystem::remove(path);
    if (::mkfifo(path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    thread = std::thread([p = path, b = std::move(bytes)] {
      std::FILE* f = std::fopen(p.c_str(), "wb");
      for (size_t i = 0; i < b.size(); i += 1000) std::fwrite(b.data() + i, 1, std::min<size_t>(1000, b.size() - i), f);
      std::fclose(f);
    });
  }
  ~FifoWriter() { thread.join(); }
};

}  // namespace

TEST(JsonlReader, ReadsFifosAndPipesWithoutLosingTheFirstBytes) {
  const std::string text = mixed_file(3000);
  JsonlReader plain(write_file("fifo_ref.jsonl", text), options(ErrorMode::Skip));
  RecordBatch ref = plain.read_all();
  for (bool gz : {false, true}) {
    std::string bytes = text;
    if (gz) bytes = read_file(write_gzip("fifo_src.jsonl.gz", text));
    FifoWriter writer(gz ? "fifo_gz" : "fifo_plain", bytes);
    JsonlReader reader(writer.path, options(ErrorMode::Skip));
    EXPECT_EQ(reader.file_size(), 0u);  // unknown: no reservation, no bogus progress total
    RecordBatch b = reader.read_all();
    EXPECT_EQ(b.content.data, ref.content.data) << (gz ? "gzip" : "plain");
    EXPECT_EQ(reader.counts().lines_read, 3000);
    EXPECT_EQ(reader.counts().kept, plain.counts().kept);
    EXPECT_EQ(reader.counts().bytes, text.size());
  }
  // An anonymous pipe, as /dev/fd/N (what a shell's <(cmd) passes).
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread feeder([&] {
    for (size_t i = 0; i < text.size(); i += 777)
      (void)!::write(fds[1], text.data() + i, std::min<size_t>(777, text.size() - i));
    ::close(fds[1]);
  });
  {
    JsonlReader reader("/dev/fd/" + std::to_string(fds[0]), options(ErrorMode::Skip));
    RecordBatch b = reader.read_all();
    EXPECT_EQ(b.content.data, ref.content.data);
  }
  feeder.join();
  ::close(fds[0]);
}

TEST(JsonlReader, DevNullIsAnEmptyInput) {
  JsonlReader reader("/dev/null", options(ErrorMode::Raise));
  RecordBatch b;
  reader.reserve_for_file(b);
  EXPECT_FALSE(reader.read_block(b));
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(reader.counts().lines_read, 0);
}

TEST(JsonlReader, AFileTruncatedWhileReadIsAnErrorNamingTheLastGoodLine) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += chat_line(i) + "\n";
  const std::string path = write_file("shrinks.jsonl", text);
  JsonlReader reader(path, options(ErrorMode::Raise, 64 << 10));
  RecordBatch out;
  ASSERT_TRUE(reader.read_block(out));
  std::filesystem::resize_file(path, text.size() / 2);
  try {
    while (reader.read_block(out)) {
    }
    FAIL() << "a short read went unnoticed: " << out.size() << " of 20000 records";
  } catch (const airtune::IoError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("shrank while being read"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    // Every complete line before the cut was handed out, and the message names the last one.
    EXPECT_NE(what.find("the last complete line read is line " + std::to_string(out.size())), std::string::npos)
        << what << " / " << out.size();
    EXPECT_EQ(out.line.back(), static_cast<int64_t>(out.size()));
  }
  EXPECT_FALSE(reader.read_block(out));  // ended
}

TEST(JsonlReader, LineAndByteLimitsStopCleanlyAtALineBoundary) {
  const std::string text = mixed_file(1000);
  const std::string path = write_file("limits.jsonl", text);
  ReadOptions o = options(ErrorMode::Skip);
  o.max_lines = 10;
  JsonlReader by_lines(path, o);
  RecordBatch b = by_lines.read_all();
  EXPECT_EQ(by_lines.counts().lines_read, 10);
  EXPECT_EQ(by_lines.limit_reached(), Limit::MaxLines);
  o.max_lines = 1000;  // exactly the file: not a limit
  JsonlReader all_lines(path, o);
  all_lines.read_all();
  EXPECT_EQ(all_lines.counts().lines_read, 1000);
  EXPECT_EQ(all_lines.limit_reached(), Limit::None);

  o.max_lines = std::numeric_limits<int64_t>::max();
  for (uint64_t cap : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, uint64_t{text.size() - 1}}) {
    o.max_bytes = cap;
    JsonlReader by_bytes(path, o);
    by_bytes.read_all();
    const auto& c = by_bytes.counts();
    const size_t boundary = text.rfind('\n', cap == 0 ? 0 : cap - 1);
    const uint64_t expect = cap == 0 || boundary == std::string::npos ? 0 : boundary + 1;
    EXPECT_EQ(c.bytes, expect) << cap;
    EXPECT_EQ(c.lines_read, std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(expect), '\n'));
    EXPECT_EQ(by_bytes.limit_reached(), Limit::MaxBytes) << cap;
  }
  o.max_bytes = text.size();
  JsonlReader exact(path, o);
  exact.read_all();
  EXPECT_EQ(exact.limit_reached(), Limit::None);
  EXPECT_EQ(exact.counts().bytes, text.size());
}

TEST(JsonlReader, AnEndlessInputEndsAtTheByteLimit) {
  ReadOptions o = options(ErrorMode::Skip, 1 << 16);
  o.max_line_bytes = 1 << 16;
  o.max_bytes = 3 << 20;
  JsonlReader zero("/dev/zero", o);
  zero.read_all();
  EXPECT_EQ(zero.limit_reached(), Limit::MaxBytes);
  EXPECT_EQ(zero.counts().lines_read, 1);  // one oversize line of NUL bytes, cut at 3 MiB
  EXPECT_EQ(zero.counts().rejected, 1);
  EXPECT_LE(zero.counts().bytes, o.max_bytes);
  o.max_lines = 5;
  o.max_bytes = std::numeric_limits<uint64_t>::max();
  o.max_line_bytes = 100;
  const std::string path = write_file("yes.jsonl", std::string(1 << 20, '\n'));
  JsonlReader lines(path, o);
  lines.read_all();
  EXPECT_EQ(lines.counts().lines_read, 5);
  EXPECT_EQ(lines.counts().blank, 5);
}

TEST(JsonlReader, BlankLinesAndTinyLinesKeepPerBlockBookkeepingBounded) {
  // Blank lines are counted, not listed; at most kMaxLinesPerBlock entries per block.
  std::string text(3'000'000, '\n');
  for (int i = 0; i < 200000; ++i) text += "{}\n";
  const std::string path = write_file("blank.jsonl", text);
  LineSource source(path, size_t{16} << 20, 1 << 20);
  Block block;
  int64_t blank = 0, listed = 0;
  size_t most = 0;
  while (source.next_block(block)) {
    blank += block.blank;
    listed += static_cast<int64_t>(block.lines.size());
    most = std::max(most, block.lines.size());
  }
  EXPECT_EQ(blank, 3'000'000);
  EXPECT_EQ(listed, 200000);
  EXPECT_LE(most, LineSource::kMaxLinesPerBlock);
  JsonlReader reader(path, options(ErrorMode::Skip, size_t{16} << 20));
  reader.read_all();
  EXPECT_EQ(reader.counts().blank, 3'000'000);
  EXPECT_EQ(reader.counts().rejected, 200000);  // "{}" is no record
  EXPECT_EQ(reader.counts().lines_read, 3'200'000);
}

TEST(JsonlReader, KeepsTheFirstErrorsAndCountsTheRest) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += (i % 2 ? chat_line(i) : "x") + "\n";
  const std::string path = write_file("many_bad.jsonl", text);
  const std::string qpath = (airtune::test::temp_dir() / "many_bad.quarantine.jsonl").string();
  ReadOptions o = options(ErrorMode::Quarantine);
  o.quarantine_path = qpath;
  o.max_errors = 100;
  JsonlReader reader(path, o);
  reader.read_all();
  EXPECT_EQ(reader.counts().rejected, 2500);
  EXPECT_EQ(reader.errors().size(), 100u);
  EXPECT_EQ(reader.counts().errors_not_kept, 2400);
  EXPECT_EQ(reader.errors().back().line, 199);
  const std::string reasons = read_file(qpath + ".reasons.jsonl");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), '\n'), 2500);  // all of them still quarantined
  EXPECT_EQ(read_file(qpath).size(), 2500u * 2);
}

TEST(JsonlReader, GzipMembersPaddingAndTrailingGarbage) {
  const std::string a = mixed_file(300), b = chat_line(7) + "\n";
  const std::string one = read_file(write_gzip("m1.gz", a)), two = read_file(write_gzip("m2.gz", b));
  JsonlReader joined(write_file("members.jsonl.gz", one + two + std::string(512, '\0')), options(ErrorMode::Skip));
  joined.read_all();
  EXPECT_EQ(joined.counts().lines_read, 301);
  EXPECT_EQ(joined.counts().bytes, a.size() + b.size());
  JsonlReader garbage(write_file("garbage.jsonl.gz", one + "not gzip"), options(ErrorMode::Skip));
  try {
    garbage.read_all();
    FAIL();
  } catch (const airtune::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected data after the end of the gzip stream"), std::string::npos)
        << e.what();
  }
  // A truncated stream hands out the lines before the cut, then names the last one.
  std::string big;
  for (int i = 0; i < 50000; ++i) big += chat_line(i) + "\n";
  const std::string gz = read_file(write_gzip("big.jsonl.gz", big));
  JsonlReader cut(write_file("cut_big.jsonl.gz", gz.substr(0, gz.size() * 2 / 3)), options(ErrorMode::Raise, 1 << 16));
  RecordBatch out;
  try {
    while (cut.read_block(out)) {
    }
    FAIL();
  } catch (const airtune::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated gzip stream"), std::string::npos) << e.what();
    EXPECT_GT(out.size(), 20000u);
    EXPECT_NE(std::string(e.what()).find("line " + std::to_string(out.size())), std::string::npos) << e.what();
  }
}
