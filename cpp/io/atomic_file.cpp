#include "io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/errors.h"

namespace airtune::io {

namespace {

std::atomic<uint64_t> g_counter{0};

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "<pid>.<n>" -> pid, or 0 when `suffix` is not of that shape.
pid_t writer_pid(std::string_view suffix) {
  const size_t dot = suffix.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == suffix.size()) return 0;
  long long pid = 0;
  for (size_t i = 0; i < suffix.size(); ++i) {
    const char c = suffix[i];
    if (i == dot) continue;
    if (c < '0' || c > '9') return 0;
    if (i < dot && (pid = pid * 10 + (c - '0')) > (1LL << 31)) return 0;
  }
  return static_cast<pid_t>(pid);
}

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

void fsync_folder(const std::string& path) {
  const int dir = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw IoError(path + ": cannot open its folder to sync it: " + std::strerror(errno));
  const int rc = ::fsync(dir);
  const int err = errno;
  ::close(dir);
  // Some file systems cannot sync a folder (EINVAL); the rename itself has happened.
  if (rc != 0 && err != EINVAL && err != ENOTSUP)
    throw IoError(path + ": cannot sync its folder: " + std::strerror(err));
}

}  // namespace

size_t AtomicFile::remove_stale_temporaries(const std::string& path) {
  const std::string folder = folder_of(path);
  const std::string prefix = name_of(path) + ".tmp.";
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) return 0;
  size_t removed = 0;
  const pid_t self = ::getpid();
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const pid_t pid = writer_pid(name.substr(prefix.size()));
    if (pid <= 0 || pid == self || process_alive(pid)) continue;
    // Its writer's pid is gone; also require its lock to be free (a writer in another pid
    // namespace sharing this folder still holds it).
    const std::string stale = folder + "/" + std::string(name);
    const int fd = ::open(stale.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::unlink(stale.c_str()) == 0)
      ++removed;
    ::close(fd);
  }
  ::closedir(dir);
  return removed;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  remove_stale_temporaries(path_);
  struct stat target {};
  const bool exists = ::stat(path_.c_str(), &target) == 0 && S_ISREG(target.st_mode);
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_counter++);
    fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt > 100)) throw IoError(path_ + ": cannot create: " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp_.c_str());
    throw IoError(path_ + ": cannot lock " + tmp_ + ": " + std::strerror(err));
  }
  if (exists) {
    // Owner first: changing it clears set-id bits, which the mode then restores.
    if ((target.st_uid != ::geteuid() || target.st_gid != ::getegid()) &&
        ::fchown(fd, target.st_uid, target.st_gid) != 0) {
      // Not permitted (not root, or not a member of the group): the file keeps our owner.
    }
    if (::fchmod(fd, target.st_mode & 07777) != 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp_.c_str());
      throw IoError(path_ + ": cannot copy its permissions: " + std::strerror(err));
    }
  }
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp_.c_str());
    throw IoError(path_ + ": cannot create: " + std::strerror(err));
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(tmp_.c_str());  // before closing: the lock keeps cleaners away
  if (file_) std::fclose(file_);
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
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw IoError(path_ + ": rename failed: " + std::strerror(errno));
  committed_ = true;
  std::fclose(file_);  // releases the lock only once the file has its final name
  file_ = nullptr;
  fsync_folder(path_);
}

}  // namespace airtune::io
