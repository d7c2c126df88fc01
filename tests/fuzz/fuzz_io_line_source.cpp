// Fuzz target for reading inputs: the bytes (repeated, to span blocks) become a file (plain,
// gzip-compressed by us, or taken as is, so crafted gzip reaches the decompressor), read by
// JsonlReader with block size, limits and error mode chosen by the first bytes. Checked against a plain in-memory
// reading of the same content: the same lines counted, kept, rejected and blank, the same bytes consumed, the same
// limit, the same records; a gzip stream we did not write may fail, but only with IoError.
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "io/jsonl_reader.h"
#include "io/line_parser.h"

using namespace airtune::io;

namespace {

struct Expected {
  std::vector<LineInput> lines;  // what the parser sees (blank lines excluded)
  int64_t lines_read = 0, blank = 0;
  uint64_t bytes = 0;
  Limit limit = Limit::None;
};

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

// The rules of LineSource (see line_source.h), written the simple way.
Expected split(std::string_view s, size_t max_line, uint64_t max_bytes, int64_t max_lines) {
  Expected e;
  size_t pos = 0;
  auto add = [&](size_t begin, size_t end, bool oversize) {
    if (e.lines_read == 0 && end - begin >= 3 && s.substr(begin, 3) == "\xEF\xBB\xBF") begin += 3;
    size_t size = end - begin;
    if (!oversize && size > 0 && s[begin + size - 1] == '\r') --size;
    ++e.lines_read;
    const std::string_view text = s.substr(begin, size);
    if (oversize || size > max_line)
      e.lines.push_back({{}, 0, e.lines_read, true, size});
    else if (blank(text))
      ++e.blank;
    else
      e.lines.push_back({text, 0, e.lines_read});
  };
  while (pos < s.size()) {
    if (e.lines_read >= max_lines) {
      e.limit = Limit::MaxLines;
      break;
    }
    const size_t nl = s.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? s.size() : nl;
    const uint64_t line_end = end + (nl == std::string_view::npos ? 0 : 1);
    if (line_end <= max_bytes) {
      add(pos, end, false);
      e.bytes = line_end;
      pos = line_end;
      continue;
    }
    e.limit = Limit::MaxBytes;
    const bool bom = e.lines_read == 0 && s.substr(pos, 3) == "\xEF\xBB\xBF";
    if (nl != std::string_view::npos && end == max_bytes) {  // only the newline is past the limit
      size_t begin = pos + (bom && end - pos >= 3 ? 3 : 0), size = end - begin;
      if (size > 0 && s[begin + size - 1] == '\r') --size;
      if (size > max_line) {
        add(pos, end, true);
        e.bytes = end;
      }
    } else if (max_bytes - pos > max_line + (bom ? 3 : 0)) {  // known oversize within the limit
      add(pos, static_cast<size_t>(max_bytes), true);
      e.bytes = max_bytes;
    }
    break;
  }
  return e;
}

std::string gzip(std::string_view s, int level) {
  std::string out(compressBound(s.size()) + 64, '\0');
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// In a folder of its own: the quarantine's AtomicFile scans the target's folder for stale files.
std::string temp_path() {
  static const std::string path = [] {
    char dir[] = "/tmp/fuzz_io_line_source.XXXXXX";
    if (!::mkdtemp(dir)) std::abort();
    static const std::string folder = dir;
    std::atexit([] { std::filesystem::remove_all(folder); });
    return folder + "/input";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const uint8_t mode = data[0];
  const size_t block = size_t{4096} << (data[1] % 4);
  const size_t max_line = 1 + data[2] * 37;
  const int64_t max_lines = data[3] == 255 ? std::numeric_limits<int64_t>::max() : data[3];
  const uint64_t max_bytes = data[4] == 255 ? std::numeric_limits<uint64_t>::max() : uint64_t{data[4]} * 397;
  // Repeated up to 32 times, so that small inputs still span several blocks (4 KiB at least).
  std::string repeated;
  for (int k = 0, n = 1 + (data[1] >> 2) % 32; k < n; ++k)
    repeated.append(reinterpret_cast<const char*>(data) + 5, size - 5);
  const std::string_view payload(repeated);
  const bool compress = mode & 1, raw = mode & 2;
  std::string file(payload);
  if (compress && !raw) file = gzip(payload, (mode >> 4) % 10);
  {
    std::FILE* f = std::fopen(temp_path().c_str(), "wb");
    if (!f) return 0;
    std::fwrite(file.data(), 1, file.size(), f);
    std::fclose(f);
  }
  ReadOptions o;
  o.errors = (mode & 12) == 12 ? ErrorMode::Quarantine : ErrorMode::Skip;  // fsyncs: 1 in 4
  o.quarantine_path = temp_path() + ".q";
  o.block_bytes = block;
  o.max_line_bytes = max_line;
  o.max_lines = max_lines;
  o.max_bytes = max_bytes;
  const bool crafted_gzip = file.size() >= 2 && static_cast<unsigned char>(file[0]) == 0x1f &&
                            static_cast<unsigned char>(file[1]) == 0x8b && !(compress && !raw);
  RecordBatch got;
  try {
    JsonlReader reader(temp_path(), o);
    got = reader.read_all();
    if (crafted_gzip) return 0;  // the content is whatever zlib made of it: nothing to compare
    const Expected e = split(payload, max_line, max_bytes, max_lines);
    const ReadCounts& c = reader.counts();
    if (c.lines_read != e.lines_read || c.blank != e.blank || c.bytes != e.bytes) std::abort();
    if (c.lines_read != c.kept + c.rejected + c.blank) std::abort();
    if (reader.limit_reached() != e.limit) std::abort();
    LineParser parser(Format::Auto, reader.source(), max_line);
    RecordBatch want;
    int64_t rejected = 0;
    std::vector<const RecordBatch*> parts;
    for (ParsedChunk& chunk : parser.parse(e.lines)) {
      parts.push_back(&chunk.batch);
      rejected += static_cast<int64_t>(chunk.errors.size());
    }
    want.append_all(parts);
    if (c.rejected != rejected || got.size() != want.size()) std::abort();
    if (got.content.data != want.content.data || got.id.data != want.id.data || got.line != want.line) std::abort();
  } catch (const airtune::IoError&) {
    if (!crafted_gzip) std::abort();  // only a stream we did not write may be broken
  }
  return 0;
}
