// safetensors: header validation (torch-free parser) and the libtorch reader/writer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/errors.h"
#include "io/safetensors_header.h"
#include "nn/safetensors.h"

namespace fs = std::filesystem;
using airtune::FormatError;
using airtune::io::parse_safetensors_header;

namespace {

std::string with_header(const std::string& json, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + std::string(data_bytes, '\x01');
}

void expect_format_error(const std::string& bytes, const std::string& needle) {
  try {
    parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size(),
                             "t.safetensors");
    FAIL() << "no error; expected one mentioning " << needle;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.safetensors"), std::string::npos) << e.what();
  }
}

fs::path temp_dir() {
  auto p = fs::temp_directory_path() / ("airtune_nn_test_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

}  // namespace

TEST(NnSafetensorsHeader, ParsesValidHeaderSortedByOffset) {
  auto bytes = with_header(
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}})",
      12);
  auto h = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size(), "x");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.data_size, 12u);
}

TEST(NnSafetensorsHeader, RejectsMalformedHeaders) {
  expect_format_error("abc", "too short");
  expect_format_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
                      "tensors end at byte 8");
  expect_format_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9), "trailing");
  expect_format_error(with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "tensor 'a'");
  expect_format_error(with_header(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype");
  expect_format_error(
      with_header(
          R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
          6),
      "overlap");
  expect_format_error(with_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6), "hole");
  expect_format_error(
      with_header(
          R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
          8),
      "duplicate");
  expect_format_error(with_header(R"([1,2])", 0), "does not start with '{'");
  expect_format_error(with_header(R"({"a":)", 0), "not valid JSON");
  expect_format_error(with_header(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0), "non-negative");
  expect_format_error(with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1), "exactly two");
  expect_format_error(with_header(R"({"__metadata__":{"k":1}})", 0), "__metadata__");
  expect_format_error(with_header(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", 1), "byte boundary");
  expect_format_error(
      with_header(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8), "overflow");
  std::string huge(8, '\0');
  huge[4] = 1;  // N = 2^32
  expect_format_error(huge + "{}", "exceeds the limit");
  std::string past(8, '\0');
  past[0] = 100;
  expect_format_error(past + "{}", "past the end");
}

TEST(NnSafetensorsHeader, AcceptsEmptyScalarAndPaddedHeaders) {
  auto bytes = with_header(
      R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}   )",
      8);
  auto h = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size(), "x");
  EXPECT_EQ(h.tensors.size(), 2u);
}

TEST(NnSafetensorsHeader, LayoutSortsByAlignmentThenNameAndPadsTo8) {
  std::vector<airtune::io::SafetensorsEntry> entries = {
      {"z", airtune::io::SafetensorsDtype::kU8, {3}},
      {"b", airtune::io::SafetensorsDtype::kF64, {2}},
      {"a", airtune::io::SafetensorsDtype::kF64, {1}},
  };
  auto h = airtune::io::plan_safetensors_layout(entries, {{"format", "pt"}});
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[2].name, "z");
  EXPECT_EQ(h.tensors[2].begin, 24u);
  auto prefix = airtune::io::serialize_safetensors_header(h);
  EXPECT_EQ(prefix.size() % 8, 0u);
  EXPECT_EQ(prefix.substr(8, 16), "{\"__metadata__\":");
  EXPECT_THROW(
      airtune::io::plan_safetensors_layout(
          {{"a", airtune::io::SafetensorsDtype::kU8, {1}}, {"a", airtune::io::SafetensorsDtype::kU8, {1}}}, {}),
      airtune::InvalidArgument);
}

TEST(NnSafetensors, RoundTripsDtypesZeroCopy) {
  auto dir = temp_dir();
  auto path = (dir / "rt.safetensors").string();
  torch::manual_seed(0);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"f32", torch::randn({3, 5})},
      {"bf16", torch::randn({4}).to(torch::kBFloat16)},
      {"f16", torch::randn({2, 2}).to(torch::kFloat16)},
      {"i64", torch::arange(7)},
      {"bool", torch::tensor({true, false, true})},
      {"u8", torch::arange(5).to(torch::kUInt8)},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::empty({0, 4})},
      {"strided", torch::randn({4, 6}).t()},
  };
  airtune::nn::save_safetensors(path, tensors, {{"format", "pt"}});
  airtune::nn::SafetensorsFile f(path);
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  for (const auto& [name, t] : tensors) {
    auto got = f.tensor(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, t.contiguous())) << name;
  }
  // Aligned data aliases the mapping; writing to it never changes the file.
  auto a = f.tensor("f32");
  auto b = f.tensor("f32");
  EXPECT_EQ(a.data_ptr(), b.data_ptr());
  a.fill_(0);
  airtune::nn::SafetensorsFile again(path);
  EXPECT_TRUE(torch::equal(again.tensor("f32"), tensors[0].second));
  EXPECT_THROW(f.tensor("nope"), airtune::InvalidArgument);
  fs::remove_all(dir);
}

TEST(NnSafetensors, TruncatedFileNamesTensor) {
  auto dir = temp_dir();
  auto path = (dir / "t.safetensors").string();
  airtune::nn::save_safetensors(path, {{"weight", torch::randn({16})}});
  fs::resize_file(path, fs::file_size(path) - 4);
  try {
    airtune::nn::SafetensorsFile f(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_THROW(airtune::nn::SafetensorsFile((dir / "missing.safetensors").string()), airtune::IoError);
  fs::remove_all(dir);
}

TEST(NnSafetensors, ShardedIndexAndErrors) {
  auto dir = temp_dir() / "sharded";
  fs::create_directories(dir);
  airtune::nn::save_safetensors((dir / "s1.safetensors").string(), {{"a", torch::ones({2})}});
  airtune::nn::save_safetensors((dir / "s2.safetensors").string(), {{"b", torch::zeros({3})}});
  auto write_index = [&](const std::string& body) { std::ofstream(dir / "model.safetensors.index.json") << body; };
  write_index(R"({"metadata":{"total_size":20},"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
  airtune::nn::WeightStore store(dir.string());
  EXPECT_EQ(store.names().size(), 2u);
  EXPECT_TRUE(torch::equal(store.get("b"), torch::zeros({3})));
  EXPECT_THROW(store.get("a", {3}), FormatError);
  EXPECT_THROW(store.get("c"), FormatError);
  write_index(R"({"weight_map":{"a":"s1.safetensors","c":"s2.safetensors"}})");
  EXPECT_THROW(airtune::nn::WeightStore{dir.string()}, FormatError);
  write_index(R"({"weight_map":{"a":"s3.safetensors"}})");
  EXPECT_THROW(airtune::nn::WeightStore{dir.string()}, airtune::IoError);
  write_index(R"({"weight_map":{"a":"../s1.safetensors"}})");
  EXPECT_THROW(airtune::nn::WeightStore{dir.string()}, FormatError);
  fs::remove_all(dir.parent_path());
}

TEST(NnSafetensorsHeader, ShapesWhoseProductOverflowsAreRefused) {
  // Zero elements, but dims whose strides overflow int64 (torch: "Stride calculation overflowed").
  expect_format_error(with_header(R"({"z":{"dtype":"F32","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}})", 0),
                      "tensor 'z': shape [0, 4611686018427387904, 4] overflows");
  // A zero-size tensor whose other dims multiply within int64 loads as an empty tensor.
  auto dir = temp_dir();
  auto path = (dir / "zero.safetensors").string();
  {
    std::ofstream(path, std::ios::binary)
        << with_header(R"({"z":{"dtype":"F32","shape":[0,1099511627776],"data_offsets":[0,0]}})", 0);
  }
  airtune::nn::SafetensorsFile f(path);
  EXPECT_EQ(f.tensor("z").sizes(), (std::vector<int64_t>{0, 1099511627776}));
  fs::remove_all(dir);
}

TEST(NnSafetensorsHeader, ManyTensorsAreFoundByName) {
  // 50k tensors: the name index must find each at its place (the lookup used to be a scan).
  std::string json = "{";
  const int n = 50000;
  for (int i = 0; i < n; ++i) {
    if (i) json += ',';
    json += "\"t" + std::to_string(i) + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" + std::to_string(i) +
            "," + std::to_string(i + 1) + "]}";
  }
  json += "}";
  auto bytes = with_header(json, n);
  auto h = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size(), "x");
  ASSERT_EQ(h.tensors.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; i += 997) EXPECT_EQ(h.find("t" + std::to_string(i)), i);
  EXPECT_EQ(h.find("t50000"), -1);
  auto copy = h;  // the index survives a copy
  EXPECT_EQ(copy.find("t49999"), n - 1);
}

TEST(NnSafetensors, ReadFileSurvivesTruncationMappedOnlyOnRequest) {
  auto dir = temp_dir();
  auto path = (dir / "w.safetensors").string();
  airtune::nn::save_safetensors(path, {{"w", torch::arange(4096, torch::kFloat32)}}, {{"format", "pt"}});
  airtune::nn::SafetensorsFile f(path);  // read into memory (the default)
  auto t = f.tensor("w");
  fs::resize_file(path, 0);  // the file changes under us: our bytes do not
  EXPECT_EQ(t.sum().item<double>(), 4095.0 * 4096.0 / 2.0);
  EXPECT_THROW(airtune::nn::SafetensorsFile{path}, FormatError);
  airtune::nn::save_safetensors(path, {{"w", torch::ones({8})}}, {{"format", "pt"}});
  airtune::nn::SafetensorsFile mapped(path, airtune::nn::FileAccess::kMap);
  EXPECT_TRUE(torch::equal(mapped.tensor("w"), torch::ones({8})));
  EXPECT_EQ(airtune::nn::read_safetensors_header(path).metadata.at("format"), "pt");
  fs::remove_all(dir);
}

TEST(NnSafetensors, StreamedTensorsOwnTheirBytesAndAShrunkFileIsAnError) {
  auto dir = temp_dir();
  auto path = (dir / "w.safetensors").string();
  auto w = torch::arange(4096, torch::kFloat32), b = torch::arange(6, torch::kInt64).view({2, 3});
  airtune::nn::save_safetensors(path, {{"w", w}, {"b", b}}, {{"format", "pt"}});
  airtune::nn::SafetensorsFile f(path, airtune::nn::FileAccess::kStream);  // the header only
  EXPECT_EQ(f.names().size(), 2u);
  auto t = f.tensor("w");
  EXPECT_TRUE(torch::equal(t, w));
  EXPECT_TRUE(torch::equal(f.tensor("b"), b));
  airtune::nn::WeightStore store(path, airtune::nn::FileAccess::kStream);
  EXPECT_TRUE(torch::equal(store.get("b", {2, 3}), b));
  fs::resize_file(path, 64);  // the file shrinks under us: a tensor read before keeps its bytes
  EXPECT_EQ(t.sum().item<double>(), 4095.0 * 4096.0 / 2.0);
  EXPECT_THROW(f.tensor("w"), airtune::IoError);  // a later read names the file and tensor
  EXPECT_THROW(airtune::nn::SafetensorsFile(path, airtune::nn::FileAccess::kStream), FormatError);
  fs::remove_all(dir);
}
