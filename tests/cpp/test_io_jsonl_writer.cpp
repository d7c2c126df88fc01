#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/errors.h"
#include "io/atomic_file.h"
#include "io/jsonl_reader.h"
#include "io/jsonl_writer.h"
#include "io_test_util.h"

using namespace airtune::io;

namespace {
RecordBatch read(const std::string& path) {
  ReadOptions o;
  o.errors = ErrorMode::Raise;
  return JsonlReader(path, o).read_all();
}

const char* kMixed =
    R"({"id":"c","messages":[{"role":"system","content":"S"},{"role":"user","content":"Q \"quoted\"\n"},{"role":"assistant","content":null,"tool_calls":[{"id":"t"}]},{"role":"tool","content":"r","tool_call_id":"t","weight":1}],"tools":[1]})"
    "\n"
    R"({"id":"a","instruction":"I","input":"X","output":"O","system":"S2","label":3})"
    "\n"
    R"({"id":"s","conversations":[{"from":"human","value":"h"},{"from":"function_call","value":"{}"},{"from":"gpt","value":"g"}]})"
    "\n"
    R"({"id":"p","prompt":"pp","completion":"cc","source":"web"})"
    "\n"
    R"({"id":"t","text":"tt \u00e9"})"
    "\n";

void expect_same(const RecordBatch& a, const RecordBatch& b) {
  EXPECT_EQ(a.id.data, b.id.data);
  EXPECT_EQ(a.id.offsets, b.id.offsets);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.content.data, b.content.data);
  EXPECT_EQ(a.content.valid, b.content.valid);
  EXPECT_EQ(a.tool_calls.data, b.tool_calls.data);
  EXPECT_EQ(a.tool_call_id.data, b.tool_call_id.data);
  EXPECT_EQ(a.extra.data, b.extra.data);
  EXPECT_EQ(a.label.data, b.label.data);
  EXPECT_EQ(a.metadata.data, b.metadata.data);
  EXPECT_EQ(a.message_offsets, b.message_offsets);
}
}  // namespace

TEST(JsonlWriter, AutoRoundTripsEveryFormat) {
  RecordBatch original = read(airtune::test::write_file("mixed_w.jsonl", kMixed));
  ASSERT_EQ(original.size(), 5u);
  for (const char* name : {"out.jsonl", "out.jsonl.gz"}) {
    const std::string out = (airtune::test::temp_dir() / name).string();
    write_jsonl(original, out, Format::Auto);
    RecordBatch again = read(out);
    expect_same(original, again);
    EXPECT_EQ(original.format, again.format);
  }
}

TEST(JsonlWriter, ConvertsBetweenLayouts) {
  RecordBatch original = read(airtune::test::write_file("mixed_c.jsonl", kMixed));
  RecordBatch no_text = original.take({0, 1, 2, 3});
  for (Format f : {Format::Chat, Format::ShareGPT}) {
    const std::string out = (airtune::test::temp_dir() / "conv.jsonl").string();
    write_jsonl(no_text, out, f);
    RecordBatch again = read(out);
    EXPECT_EQ(again.role, no_text.role) << format_name(f);
    EXPECT_EQ(again.content.data, no_text.content.data) << format_name(f);
  }
  RecordBatch instruct = original.take({1, 3});
  const std::string out = (airtune::test::temp_dir() / "alpaca.jsonl").string();
  write_jsonl(instruct, out, Format::Alpaca);
  RecordBatch again = read(out);
  EXPECT_EQ(again.content.data, instruct.content.data);
}

TEST(JsonlWriter, RefusesImpossibleConversionsAndLeavesTheTarget) {
  RecordBatch original = read(airtune::test::write_file("mixed_r.jsonl", kMixed));
  const std::string out = airtune::test::write_file("keep.jsonl", "previous\n");
  try {
    write_jsonl(original, out, Format::PromptCompletion);
    FAIL();
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("row 0 (id 'c')"), std::string::npos) << e.what();
  }
  EXPECT_EQ(airtune::test::read_file(out), "previous\n");
  EXPECT_THROW(write_jsonl(original, out, Format::Text), airtune::InvalidArgument);
  EXPECT_THROW(write_jsonl(original.take({4}), out, Format::Chat), airtune::InvalidArgument);
}

TEST(JsonlWriter, TakeChecksBounds) {
  RecordBatch original = read(airtune::test::write_file("mixed_t.jsonl", kMixed));
  EXPECT_THROW(original.take({5}), airtune::InvalidArgument);
  RecordBatch twice = original.take({4, 4});
  EXPECT_EQ(twice.size(), 2u);
  EXPECT_EQ(twice.content[1], "tt \xc3\xa9");
}

TEST(JsonlWriter, AlpacaGivesBackInstructionAndInput) {
  const std::string text = R"({"id":"1","instruction":"Translate","input":"bonjour","output":"hello"})"
                           "\n"
                           R"({"id":"2","instruction":"Say hi","input":"","output":"hi"})"
                           "\n"
                           R"({"id":"3","instruction":"No input\n\nat all","output":"ok","system":"S"})"
                           "\n"
                           R"({"id":"4","instruction":"I","input":"two\n\nparts","output":"o","history":[["a","b"]]})"
                           "\n";
  RecordBatch original = read(airtune::test::write_file("alpaca_rt.jsonl", text));
  const std::string out = (airtune::test::temp_dir() / "alpaca_rt.out.jsonl").string();
  write_jsonl(original, out, Format::Auto);
  // Field by field against the input lines (simdjson, independent of the writer).
  simdjson::dom::parser p1, p2;
  const std::string written = airtune::test::read_file(out);
  size_t a = 0, b = 0;
  for (int row = 0; row < 4; ++row) {
    const size_t ea = text.find('\n', a), eb = written.find('\n', b);
    simdjson::dom::object in = p1.parse(text.substr(a, ea - a)).get_object().value();
    simdjson::dom::object got = p2.parse(written.substr(b, eb - b)).get_object().value();
    EXPECT_EQ(in.size(), got.size()) << "row " << row << ": " << written.substr(b, eb - b);
    for (auto [key, value] : in) {
      auto other = got[key];
      ASSERT_FALSE(other.error()) << "row " << row << " lost field " << key;
      EXPECT_EQ(simdjson::minify(value), simdjson::minify(other.value())) << "row " << row << " field " << key;
    }
    a = ea + 1;
    b = eb + 1;
  }
  // Records from another layout written as Alpaca get the conventional empty input.
  RecordBatch pc = read(airtune::test::write_file("pc_rt.jsonl", R"({"prompt":"p","completion":"c"})"
                                                                 "\n"));
  write_jsonl(pc, out, Format::Alpaca);
  EXPECT_EQ(airtune::test::read_file(out), R"({"id":"pc_rt.jsonl:1","instruction":"p","input":"","output":"c"})"
                                           "\n");
}

TEST(JsonlWriter, ConversionNeverWritesAKeyTwice) {
  ReadOptions o;
  o.format = Format::Alpaca;
  RecordBatch b =
      JsonlReader(airtune::test::write_file("collide.jsonl", R"({"instruction":"i","output":"o","messages":"x"})"
                                                             "\n"),
                  o)
          .read_all();
  const std::string out = (airtune::test::temp_dir() / "collide.out.jsonl").string();
  try {
    write_jsonl(b, out, Format::Chat);
    FAIL();
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("metadata field 'messages'"), std::string::npos) << e.what();
  }
  write_jsonl(b, out, Format::Auto);  // its own layout: fine
  RecordBatch chat =
      read(airtune::test::write_file("collide2.jsonl", R"({"messages":[{"role":"user","content":"q","value":1}]})"
                                                       "\n"));
  EXPECT_THROW(write_jsonl(chat, out, Format::ShareGPT), airtune::InvalidArgument);
}

namespace {
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}
}  // namespace

TEST(AtomicFile, RemovesTemporariesOfDeadWritersOnly) {
  const auto dir = airtune::test::temp_dir() / "stale";
  std::filesystem::create_directories(dir);
  const std::string target = (dir / "out.jsonl").string();
  const std::string dead = target + ".tmp." + std::to_string(dead_pid()) + ".0";
  const std::string mine = target + ".tmp." + std::to_string(::getpid()) + ".12345";
  const std::string init = target + ".tmp.1.0";  // pid 1 is alive
  const std::string other = target + ".tmp.notapid";
  const std::string other_target = (dir / "other.jsonl").string() + ".tmp." + std::to_string(dead_pid()) + ".0";
  for (const std::string& f : {dead, mine, init, other, other_target}) airtune::test::write_file(f, "partial");
  RecordBatch b = read(airtune::test::write_file("stale_src.jsonl", kMixed));
  write_jsonl(b, target, Format::Auto);
  EXPECT_FALSE(std::filesystem::exists(dead));
  for (const std::string& f : {mine, init, other, other_target}) EXPECT_TRUE(std::filesystem::exists(f)) << f;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp." + std::to_string(::getpid()) + ".") == std::string::npos ||
                  e.path().string() == mine,
              true)
        << e.path();
}

TEST(AtomicFile, KeepsTheTargetsPermissions) {
  const std::string target = airtune::test::write_file("private.jsonl", "old\n");
  ::chmod(target.c_str(), 0600);
  {
    AtomicFile f(target);
    f.write("new\n");
    f.commit();
  }
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(airtune::test::read_file(target), "new\n");
  ::chmod(target.c_str(), 0640);
  RecordBatch b = read(airtune::test::write_file("perm_src.jsonl", kMixed));
  write_jsonl(b, target, Format::Auto);
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // A new file gets the usual 0666 minus the umask.
  const mode_t mask = ::umask(022);
  ::umask(mask);
  const std::string fresh = (airtune::test::temp_dir() / "fresh.jsonl").string();
  std::filesystem::remove(fresh);
  {
    AtomicFile f(fresh);
    f.commit();
  }
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u & ~mask);
}

TEST(AtomicFile, WithoutCommitTheTargetStaysAndNothingIsLeft) {
  const std::string target = airtune::test::write_file("keep_me.jsonl", "old\n");
  std::string tmp;
  {
    AtomicFile f(target);
    tmp = f.temp_path();
    f.write("half");
    EXPECT_TRUE(std::filesystem::exists(tmp));
  }
  EXPECT_FALSE(std::filesystem::exists(tmp));
  EXPECT_EQ(airtune::test::read_file(target), "old\n");
}
