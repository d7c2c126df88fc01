#include "nn/safetensors.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "io/atomic_file.h"
#include "io/whole_file.h"

namespace airtune::nn {

namespace fs = std::filesystem;

namespace {

// A private (copy-on-write) read mapping of a whole file.
class MappedBytes final : public FileBytes {
 public:
  explicit MappedBytes(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block us
    if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw IoError(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IoError(path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        throw IoError(path + ": cannot map: " + std::strerror(e));
      }
      data_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);
  }
  ~MappedBytes() override {
    if (data_) ::munmap(data_, size_);
  }
  MappedBytes(const MappedBytes&) = delete;
  MappedBytes& operator=(const MappedBytes&) = delete;

  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Bytes owned in memory (a file read at open, or bytes handed over).
template <typename Buffer>
class OwnedBytes final : public FileBytes {
 public:
  explicit OwnedBytes(Buffer b) : bytes_(std::move(b)) {}
  const uint8_t* data() const override { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  size_t size() const override { return bytes_.size(); }

 private:
  Buffer bytes_;
};

}  // namespace

std::shared_ptr<const FileBytes> open_file_bytes(const std::string& path, FileAccess access) {
  if (access == FileAccess::kMap) return std::make_shared<MappedBytes>(path);
  return std::make_shared<OwnedBytes<core::ByteBuffer>>(io::read_whole_file(path));
}

std::shared_ptr<const FileBytes> bytes_in_memory(core::ByteBuffer bytes) {
  return std::make_shared<OwnedBytes<core::ByteBuffer>>(std::move(bytes));
}

io::SafetensorsHeader read_safetensors_header(const std::string& path) {
  const uint64_t file_size = io::regular_file_size(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open");
  uint8_t prefix[8] = {};
  in.read(reinterpret_cast<char*>(prefix), 8);
  const size_t got = static_cast<size_t>(in.gcount());
  const uint64_t n = io::read_header_length(prefix, got, file_size, path);
  std::string bytes(reinterpret_cast<const char*>(prefix), 8);
  bytes.resize(8 + n);
  in.read(bytes.data() + 8, static_cast<std::streamsize>(n));
  if (static_cast<uint64_t>(in.gcount()) != n) throw IoError(path + ": the file shrank while its header was read");
  return io::parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), file_size, path);
}

torch::Dtype to_torch_dtype(io::SafetensorsDtype dtype, const std::string& what) {
  using D = io::SafetensorsDtype;
  switch (dtype) {
    case D::kBool:
      return torch::kBool;
    case D::kU8:
      return torch::kUInt8;
    case D::kI8:
      return torch::kInt8;
    case D::kI16:
      return torch::kInt16;
    case D::kU16:
      return torch::kUInt16;
    case D::kF16:
      return torch::kFloat16;
    case D::kBF16:
      return torch::kBFloat16;
    case D::kI32:
      return torch::kInt32;
    case D::kU32:
      return torch::kUInt32;
    case D::kF32:
      return torch::kFloat32;
    case D::kF64:
      return torch::kFloat64;
    case D::kI64:
      return torch::kInt64;
    case D::kU64:
      return torch::kUInt64;
    case D::kC64:
      return torch::kComplexFloat;
    case D::kF8E5M2:
      return torch::kFloat8_e5m2;
    case D::kF8E4M3:
      return torch::kFloat8_e4m3fn;
    case D::kF8E8M0:
      return torch::kFloat8_e8m0fnu;
    case D::kF8E4M3Fnuz:
      return torch::kFloat8_e4m3fnuz;
    case D::kF8E5M2Fnuz:
      return torch::kFloat8_e5m2fnuz;
    default:
      break;
  }
  throw FormatError(what + ": dtype " + std::string(io::dtype_name(dtype)) + " has no torch equivalent");
}

io::SafetensorsDtype from_torch_dtype(torch::Dtype dtype, const std::string& what) {
  using D = io::SafetensorsDtype;
  switch (dtype) {
    case torch::kBool:
      return D::kBool;
    case torch::kUInt8:
      return D::kU8;
    case torch::kInt8:
      return D::kI8;
    case torch::kInt16:
      return D::kI16;
    case torch::kUInt16:
      return D::kU16;
    case torch::kFloat16:
      return D::kF16;
    case torch::kBFloat16:
      return D::kBF16;
    case torch::kInt32:
      return D::kI32;
    case torch::kUInt32:
      return D::kU32;
    case torch::kFloat32:
      return D::kF32;
    case torch::kFloat64:
      return D::kF64;
    case torch::kInt64:
      return D::kI64;
    case torch::kUInt64:
      return D::kU64;
    case torch::kComplexFloat:
      return D::kC64;
    case torch::kFloat8_e5m2:
      return D::kF8E5M2;
    case torch::kFloat8_e4m3fn:
      return D::kF8E4M3;
    case torch::kFloat8_e8m0fnu:
      return D::kF8E8M0;
    case torch::kFloat8_e4m3fnuz:
      return D::kF8E4M3Fnuz;
    case torch::kFloat8_e5m2fnuz:
      return D::kF8E5M2Fnuz;
    default:
      break;
  }
  throw InvalidArgument(what + ": torch dtype " + std::string(c10::toString(dtype)) +
                        " cannot be stored in safetensors");
}

SafetensorsFile::SafetensorsFile(const std::string& path, FileAccess access) : path_(path) {
  if (access == FileAccess::kStream) {
    header_ = read_safetensors_header(path);  // validated against the file's size
    return;
  }
  bytes_ = open_file_bytes(path, access);
  header_ = io::parse_safetensors_header(bytes_->data(), bytes_->size(), bytes_->size(), path_);
}

SafetensorsFile::SafetensorsFile(std::string source, std::shared_ptr<const FileBytes> bytes)
    : path_(std::move(source)), bytes_(std::move(bytes)) {
  header_ = io::parse_safetensors_header(bytes_->data(), bytes_->size(), bytes_->size(), path_);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& t : header_.tensors) out.push_back(t.name);
  return out;
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  int64_t i = header_.find(name);
  if (i < 0) throw InvalidArgument(path_ + ": no tensor named '" + name + "'");
  const auto& info = header_.tensors[static_cast<size_t>(i)];
  torch::Dtype dtype = to_torch_dtype(info.dtype, path_ + ": tensor '" + name + "'");
  auto options = torch::TensorOptions().dtype(dtype).device(torch::kCPU);
  const size_t elem = static_cast<size_t>(torch::elementSize(dtype));
  if (info.byte_size() == 0) return torch::empty(info.shape, options);
  if (!bytes_) {  // streamed: this tensor's bytes only, into a tensor of its own
    auto out = torch::empty(info.shape, options);
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw IoError(path_ + ": cannot open");
    in.seekg(static_cast<std::streamoff>(header_.data_start + info.begin));
    in.read(reinterpret_cast<char*>(out.data_ptr()), static_cast<std::streamsize>(info.byte_size()));
    if (!in || static_cast<uint64_t>(in.gcount()) != info.byte_size())
      throw IoError(path_ + ": the file shrank while tensor '" + name + "' was read");
    return out;
  }
  // from_blob wants a mutable pointer: a read buffer belongs to this file object alone, and a
  // mapping is private copy-on-write, so a caller writing to the tensor never touches the file.
  auto* ptr = const_cast<uint8_t*>(bytes_->data() + header_.data_start + info.begin);
  if (reinterpret_cast<uintptr_t>(ptr) % elem == 0) {
    auto keep = bytes_;
    return torch::from_blob(
        ptr, info.shape, [keep](void*) {}, options);
  }
  auto out = torch::empty(info.shape, options);
  std::memcpy(out.data_ptr(), ptr, info.byte_size());
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<io::SafetensorsEntry> entries;
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw InvalidArgument(path + ": tensor '" + name + "' is undefined");
    io::SafetensorsEntry e;
    e.name = name;
    e.dtype = from_torch_dtype(t.scalar_type(), path + ": tensor '" + name + "'");
    e.shape = t.sizes().vec();
    entries.push_back(std::move(e));
    by_name[name] = t;
  }
  auto header = io::plan_safetensors_layout(entries, metadata);
  std::string prefix = io::serialize_safetensors_header(header);
  io::AtomicFile out(path);
  out.write(prefix);
  for (const auto& info : header.tensors) {
    auto t = by_name[info.name].detach().to(torch::kCPU).contiguous();
    if (info.byte_size()) out.write(std::string_view(static_cast<const char*>(t.data_ptr()), info.byte_size()));
  }
  out.commit();
}

WeightStore::WeightStore(const std::string& path, FileAccess access) : source_(path) {
  fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec)) throw IoError(path + ": no such file or folder");
  auto add_file = [&](const fs::path& file) {
    files_.push_back(std::make_unique<SafetensorsFile>(file.string(), access));
    size_t idx = files_.size() - 1;
    for (const auto& t : files_.back()->header().tensors) {
      if (!where_.emplace(t.name, idx).second)
        throw FormatError(file.string() + ": tensor '" + t.name + "' also appears in " +
                          files_[where_[t.name]]->path());
    }
  };
  if (fs::is_regular_file(p)) {
    add_file(p);
    return;
  }
  fs::path single = p / "model.safetensors";
  fs::path index = p / "model.safetensors.index.json";
  if (fs::exists(single)) {
    add_file(single);
    return;
  }
  if (!fs::exists(index)) {
    if (fs::exists(p / "pytorch_model.bin"))
      throw FormatError(path +
                        ": only pytorch_model.bin (pickle) found; airtune loads safetensors only "
                        "(convert with transformers: save_pretrained(safe_serialization=True))");
    throw IoError(path + ": neither model.safetensors nor model.safetensors.index.json found");
  }
  simdjson::dom::parser parser;
  simdjson::padded_string json;
  if (simdjson::padded_string::load(index.string()).get(json)) throw IoError(index.string() + ": cannot read");
  simdjson::dom::element root;
  if (auto err = parser.parse(json).get(root))
    throw FormatError(index.string() + ": not valid JSON: " + simdjson::error_message(err));
  simdjson::dom::object weight_map;
  if (root["weight_map"].get_object().get(weight_map))
    throw FormatError(index.string() + ": missing object 'weight_map'");
  std::map<std::string, std::vector<std::string>> by_shard;
  for (auto kv : weight_map) {
    std::string_view shard;
    if (kv.value.get_string().get(shard))
      throw FormatError(index.string() + ": weight_map entry '" + std::string(kv.key) + "' is not a file name");
    if (shard.find('/') != std::string_view::npos || shard == ".." || shard.empty())
      throw FormatError(index.string() + ": weight_map entry '" + std::string(kv.key) + "' names an unsafe path '" +
                        std::string(shard) + "'");
    by_shard[std::string(shard)].push_back(std::string(kv.key));
  }
  for (const auto& [shard, names] : by_shard) {
    fs::path file = p / shard;
    if (!fs::exists(file))
      throw IoError(index.string() + ": shard '" + shard + "' (holding '" + names.front() + "') is missing");
    add_file(file);
    const auto& f = *files_.back();
    for (const auto& n : names)
      if (!f.contains(n))
        throw FormatError(index.string() + ": tensor '" + n + "' is listed in shard '" + shard +
                          "' but that file does not hold it");
  }
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : where_) out.push_back(k);
  return out;
}

torch::Tensor WeightStore::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw FormatError(source_ + ": missing tensor '" + name + "'");
  return files_[it->second]->tensor(name);
}

torch::Tensor WeightStore::get(const std::string& name, const std::vector<int64_t>& shape) const {
  auto t = get(name);
  if (t.sizes().vec() != shape) {
    throw FormatError(source_ + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", expected " +
                      c10::str(c10::IntArrayRef(shape)));
  }
  return t;
}

}  // namespace airtune::nn
