#include "io/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errors.h"

namespace airtune::io {

namespace {
std::atomic<uint64_t> g_counter{0};
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_counter++);
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw IoError(path_ + ": cannot create: " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (bytes.empty()) return;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    throw IoError(path_ + ": write failed: " + std::strerror(errno));
  written_ += bytes.size();
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw IoError(path_ + ": flush failed: " + std::strerror(errno));
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw IoError(path_ + ": rename failed: " + std::strerror(errno));
  committed_ = true;
}

}  // namespace airtune::io
