// The parse limit of a JSONL file: simdjson's own ondemand parse of the same file, every field of
// every document touched (keys unescaped, strings unescaped, numbers parsed), nothing kept. The
// file is split into `threads` byte ranges at line ends; each thread preads its range into its own
// padded buffer and walks it with iterate_many, so reading from the page cache is counted as the
// readers' reading is. Prints one JSON line: documents, bytes, median and best wall seconds and the
// median process CPU seconds.
//   g++ -O3 -march=native -std=c++17 -o simdjson_limit simdjson_limit.cpp -lsimdjson -lpthread
//   ./simdjson_limit FILE THREADS REPEATS
#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace simdjson;

namespace {

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Tally {
  uint64_t docs = 0, strings = 0, numbers = 0, chars = 0;
};

void walk(ondemand::value v, Tally& t) {
  switch (v.type()) {
    case ondemand::json_type::object:
      for (auto field : v.get_object()) {
        std::string_view key = field.unescaped_key();
        t.chars += key.size();
        walk(field.value(), t);
      }
      break;
    case ondemand::json_type::array:
      for (auto el : v.get_array()) walk(el.value(), t);
      break;
    case ondemand::json_type::string: {
      std::string_view s = v.get_string();
      t.chars += s.size();
      ++t.strings;
      break;
    }
    case ondemand::json_type::number:
      (void)v.get_number().value();
      ++t.numbers;
      break;
    case ondemand::json_type::boolean:
      (void)v.get_bool().value();
      break;
    case ondemand::json_type::null:
      (void)v.is_null();
      break;
  }
}

// Byte offsets that split the file into `parts` ranges, each ending after a newline.
std::vector<int64_t> split(int fd, int64_t size, int parts) {
  std::vector<int64_t> cut{0};
  for (int p = 1; p < parts; ++p) {
    int64_t at = std::max(cut.back(), size * p / parts);
    char c = 0;
    while (at < size && pread(fd, &c, 1, at) == 1 && c != '\n') ++at;
    cut.push_back(std::min(size, at + 1));
  }
  cut.push_back(size);
  return cut;
}

Tally parse_range(int fd, int64_t lo, int64_t hi) {
  Tally t;
  const size_t n = static_cast<size_t>(hi - lo);
  padded_string buf(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = pread(fd, buf.data() + got, n - got, lo + static_cast<int64_t>(got));
    if (r <= 0) std::abort();
    got += static_cast<size_t>(r);
  }
  ondemand::parser parser;
  ondemand::document_stream docs = parser.iterate_many(buf.data(), n, 4 << 20);
  for (auto doc : docs) {
    ondemand::value root;
    if (doc.get_value().get(root) != SUCCESS) std::abort();
    walk(root, t);
    ++t.docs;
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s FILE THREADS REPEATS\n", argv[0]);
    return 2;
  }
  const int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 1;
  struct stat st;
  fstat(fd, &st);
  const int threads = std::max(1, std::atoi(argv[2]));
  const int repeats = std::max(1, std::atoi(argv[3]));
  const auto cut = split(fd, st.st_size, threads);
  std::vector<double> secs, cpu;
  uint64_t docs = 0, strings = 0;
  for (int r = 0; r <= repeats; ++r) {  // r == 0: untimed warm-up (page cache, allocator)
    std::vector<Tally> tallies(threads);
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back([&, i] { tallies[i] = parse_range(fd, cut[i], cut[i + 1]); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    docs = strings = 0;
    for (const auto& t : tallies) docs += t.docs, strings += t.strings;
    if (r > 0) secs.push_back(s), cpu.push_back(cpu_seconds() - c0);
  }
  std::vector<double> sorted = secs;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  std::sort(cpu.begin(), cpu.end());
  std::printf(
      "{\"implementation\": \"%s\", \"threads\": %d, \"docs\": %llu, \"strings\": %llu, \"bytes\": %lld, "
      "\"median_s\": %.6f, \"best_s\": %.6f, \"cpu_median_s\": %.6f, \"repeats\": %d}\n",
      get_active_implementation()->name().c_str(), threads, static_cast<unsigned long long>(docs),
      static_cast<unsigned long long>(strings), static_cast<long long>(st.st_size), median, sorted.front(),
      cpu[cpu.size() / 2], repeats);
  close(fd);
  return 0;
}
