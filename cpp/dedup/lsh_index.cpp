#include "dedup/lsh_index.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <tuple>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "core/uniform_sort.h"
#include "dedup/shuffle_keys.h"
#include "io/atomic_file.h"
#include "io/whole_file.h"

namespace airtune::dedup {
namespace {

constexpr char kMagic[8] = {'A', 'I', 'R', 'T', 'M', 'H', 'X', '1'};
// Version 3: words of 9 to 16 bytes hash differently (dedup/minhash.cpp, word_hash), so a word
// shingle index of versions 1 and 2 cannot take new rows or queries; a character shingle index
// hashes as before and still loads.
constexpr uint32_t kVersion = 3;
constexpr uint64_t kMaxRows = (1ULL << 32) - 1;
constexpr int kMaxBands = 4096;  // bands * rows <= num_perm <= 4096

inline uint64_t pack(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b); }

bool is_empty_signature(const uint64_t* s, int np) {
  for (int p = 0; p < np; ++p)
    if (s[p] != std::numeric_limits<uint64_t>::max()) return false;
  return true;
}

void sort_unique(std::vector<uint64_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Binary writer / reader over a byte string.
struct Writer {
  std::string buf;
  template <typename T>
  void put(const T& v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  template <typename T>
  void put_array(const std::vector<T>& v) {
    buf.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
};

struct Reader {
  std::string_view buf;
  size_t pos;
  size_t end;
  const std::string& path;
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, buf.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  template <typename T>
  void get_array(std::vector<T>& v, uint64_t count, const char* what) {
    if (count > (end - pos) / sizeof(T)) fail(std::string(what) + " runs past the end of the file");
    v.resize(count);
    std::memcpy(v.data(), buf.data() + pos, count * sizeof(T));
    pos += count * sizeof(T);
  }
  void need(size_t n, const char* what) {
    if (end - pos < n) fail(std::string("truncated while reading ") + what);
  }
  [[noreturn]] void fail(const std::string& why) {
    throw FormatError(path + ": not a valid airtune MinHash index: " + why);
  }
};

}  // namespace

MinHashIndex::MinHashIndex(const MinHashOptions& options, int bands, int rows, bool keep_shingles)
    : options_(options), bands_(bands), rows_(rows), keep_shingles_(keep_shingles) {
  validate(options_);
  if (bands < 1 || rows < 1 || static_cast<int64_t>(bands) * rows > options_.num_perm)
    throw InvalidArgument("bands * rows must be between 1 and num_perm (" + std::to_string(options_.num_perm) +
                          "), got bands=" + std::to_string(bands) + " rows=" + std::to_string(rows));
  sig_.num_perm = options_.num_perm;
  sig_.shingle_offsets.assign(1, 0);
  tables_.resize(bands_);
}

void MinHashIndex::set_threshold(double t) {
  if (!(t >= 0.0 && t <= 1.0)) throw InvalidArgument("threshold: expected a value in [0, 1]");
  threshold_ = t;
}

uint64_t MinHashIndex::band_key(const uint64_t* sig, int band) const { return dedup::band_key(sig, band, rows_); }

void MinHashIndex::add(std::span<const std::string_view> texts) {
  if (size() + texts.size() > kMaxRows) throw InvalidArgument("MinHashIndex holds at most 2^32 - 1 rows");
  Signatures more = dedup::signatures(texts, options_, keep_shingles_);
  if (size() == 0) {  // the common single add: take the buffers instead of copying them
    sig_ = std::move(more);
    rebuild_tables();
    return;
  }
  const int64_t base = sig_.shingle_offsets.back();
  sig_.values.insert(sig_.values.end(), more.values.begin(), more.values.end());
  sig_.shingle_data.insert(sig_.shingle_data.end(), more.shingle_data.begin(), more.shingle_data.end());
  for (size_t i = 1; i < more.shingle_offsets.size(); ++i)
    sig_.shingle_offsets.push_back(base + more.shingle_offsets[i]);
  rebuild_tables();
}

void MinHashIndex::rebuild_tables() {
  const size_t n = size();
  // Row by row (each signature read once, front to back), every band's key at once: band by band
  // the pass strode 8 * num_perm bytes between reads, 16 times over the signatures.
  std::vector<int64_t> rows;
  rows.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (!is_empty_signature(sig_.row(i), sig_.num_perm)) rows.push_back(static_cast<int64_t>(i));
  tables_.assign(bands_, std::vector<BandEntry>(rows.size()));
  core::parallel_for(rows.size(), 512, [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      const uint64_t* s = sig_.row(static_cast<size_t>(rows[k]));
      for (int band = 0; band < bands_; ++band) tables_[static_cast<size_t>(band)][k] = {band_key(s, band), rows[k]};
    }
  });
  sort_tables();
}

void MinHashIndex::sort_tables() {
  // Keys are hashes and each table is filled in ascending row order, so a stable sort by key alone
  // gives the (key, row) order, by buckets of the keys' top bits (core/uniform_sort.h).
  core::parallel_for(static_cast<size_t>(bands_), 1, [&](size_t b0, size_t b1) {
    std::vector<BandEntry> tmp;
    std::vector<uint32_t> counts;
    for (size_t band = b0; band < b1; ++band)
      core::sort_by_uniform_key(tables_[band], tmp, counts, [](const BandEntry& e) { return e.key; });
  });
}

PairSet MinHashIndex::finish(std::vector<uint64_t>& packed, const Signatures& left, const Signatures& right,
                             double threshold, bool verify) const {
  PairSet out;
  out.candidates = static_cast<int64_t>(packed.size());
  std::vector<double> sim(packed.size());
  core::parallel_for(packed.size(), 1024, [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      const auto a = static_cast<size_t>(packed[k] >> 32), c = static_cast<size_t>(packed[k] & 0xFFFFFFFFu);
      sim[k] = verify ? jaccard(left.shingle_set(a), right.shingle_set(c))
                      : estimated_jaccard(left.row(a), right.row(c), left.num_perm);
    }
  });
  for (size_t k = 0; k < packed.size(); ++k) {
    if (sim[k] + 1e-12 < threshold) continue;
    out.a.push_back(static_cast<int64_t>(packed[k] >> 32));
    out.b.push_back(static_cast<int64_t>(packed[k] & 0xFFFFFFFFu));
    out.similarity.push_back(sim[k]);
  }
  return out;
}

namespace {
// The key rows with equal whole signatures are grouped on (memcmp or the sets rule out collisions):
// the row's band keys (`keys`, one per band) folded together, then the values no band covers. A
// pass over the row's bands where XXH64 read the whole signature again.
uint64_t whole_key(const uint64_t* sig, int np, int bands, int rows, const uint64_t* keys) {
  const uint64_t h = band_key(keys, 0, bands);
  const int covered = bands * rows;
  return covered < np ? core::mix64(h ^ band_key(sig + covered, 0, np - covered)) : h;
}
}  // namespace

void MinHashIndex::check_pair_args(double threshold, int64_t max_bucket) {
  if (!(threshold >= 0.0 && threshold <= 1.0)) throw InvalidArgument("threshold: expected a value in [0, 1]");
  if (max_bucket < 2) throw InvalidArgument("max_bucket: expected >= 2");
}

std::vector<uint8_t> MinHashIndex::bucketed_rows(size_t n) const {
  std::vector<uint8_t> wanted(n, 0);
  for (const auto& t : tables_)  // sorted by key: a bucket is a run of equal keys
    for (size_t k = 0; k < t.size(); ++k)
      if ((k > 0 && t[k - 1].key == t[k].key) || (k + 1 < t.size() && t[k + 1].key == t[k].key))
        wanted[static_cast<size_t>(t[k].row)] = 1;
  return wanted;
}

PairSet MinHashIndex::self_pairs(double threshold, bool verify, int64_t max_bucket,
                                 std::span<const std::string_view> texts) const {
  check_pair_args(threshold, max_bucket);
  const size_t n = size();
  const int np = sig_.num_perm;
  const bool from_texts = verify && !keep_shingles_;
  if (from_texts && texts.empty() && n > 0)
    throw InvalidArgument("verify=True needs an index built with its shingle sets, or the texts it was built from");
  if (from_texts && texts.size() != n)
    throw InvalidArgument("texts: expected the " + std::to_string(n) + " texts the index was built from, got " +
                          std::to_string(texts.size()));
  std::vector<std::pair<uint64_t, int64_t>> whole(n);
  std::vector<uint8_t> empty(n);
  core::parallel_for(n, 1024, [&](size_t b, size_t e) {
    std::vector<uint64_t> keys(bands_);
    for (size_t i = b; i < e; ++i) {
      for (int band = 0; band < bands_; ++band) keys[band] = band_key(sig_.row(i), band);
      whole[i] = {whole_key(sig_.row(i), np, bands_, rows_, keys.data()), static_cast<int64_t>(i)};
      empty[i] = is_empty_signature(sig_.row(i), np) ? 1 : 0;
    }
  });
  // The verification sets: the index's own, or those of the rows that share a band bucket with
  // another row shingled again from their texts (rows with equal whole signatures share every
  // bucket; empty signatures enter none and are never compared).
  if (!from_texts) return linked_pairs(std::move(whole), empty, sig_, threshold, verify, max_bucket);
  return linked_pairs(std::move(whole), empty, shingle_sets(texts, bucketed_rows(n), options_), threshold, verify,
                      max_bucket);
}

PairSet MinHashIndex::pairs_within(std::span<const std::string_view> texts, double threshold,
                                   int64_t max_bucket) const {
  check_pair_args(threshold, max_bucket);
  if (texts.size() > kMaxRows) throw InvalidArgument("pairs_within: at most 2^32 - 1 rows");
  const size_t n = texts.size();
  const int np = options_.num_perm;
  // A fresh index over `texts` whose signatures live only as long as their keys take to compute.
  MinHashIndex lean(options_, bands_, rows_, /*keep_shingles=*/false);
  lean.sig_.shingle_offsets.assign(n + 1, 0);  // size() == n
  std::vector<std::pair<uint64_t, int64_t>> whole(n);
  std::vector<uint8_t> empty(n);
  lean.tables_.assign(bands_, std::vector<BandEntry>(n));
  for_each_signature(texts, options_, [&](size_t i, const uint64_t* s) {
    const auto row = static_cast<int64_t>(i);
    uint64_t keys[kMaxBands];
    for (int band = 0; band < bands_; ++band) {
      keys[band] = band_key(s, band);
      lean.tables_[static_cast<size_t>(band)][i] = {keys[band], row};
    }
    whole[i] = {whole_key(s, np, bands_, rows_, keys), row};
    empty[i] = is_empty_signature(s, np) ? 1 : 0;
  });
  if (std::find(empty.begin(), empty.end(), 1) != empty.end())  // empty texts enter no bucket
    for (auto& t : lean.tables_)
      t.erase(std::remove_if(t.begin(), t.end(), [&](const BandEntry& e) { return empty[e.row] != 0; }), t.end());
  lean.sort_tables();
  return lean.linked_pairs(std::move(whole), empty, shingle_sets(texts, lean.bucketed_rows(n), options_), threshold,
                           /*verify=*/true, max_bucket);
}

PairSet MinHashIndex::linked_pairs(std::vector<std::pair<uint64_t, int64_t>> whole, std::span<const uint8_t> empty,
                                   const Signatures& sets, double threshold, bool verify, int64_t max_bucket) const {
  const size_t n = whole.size();
  const int np = sig_.num_perm;
  // 1. Collapse rows with identical signatures (and, when verifying, identical shingle sets) onto
  //    the group's first row; only first rows enter the band buckets.
  {  // filled in row order: stable by key = (key, row) order
    std::vector<std::pair<uint64_t, int64_t>> tmp;
    std::vector<uint32_t> counts;
    core::sort_by_uniform_key(whole, tmp, counts, [](const auto& w) { return w.first; });
  }
  std::vector<uint8_t> is_rep(n, 1);
  std::vector<std::vector<int64_t>> groups;  // first row, then its copies (ascending)
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && whole[e].first == whole[s].first) ++e;
    const int64_t first = whole[s].second;
    if (e - s > 1 && !empty[static_cast<size_t>(first)]) {
      std::vector<int64_t> g{first};
      for (size_t k = s + 1; k < e; ++k) {
        const int64_t r = whole[k].second;
        // A key collision: equal sets imply equal signatures, so only the unverified compare them.
        if (!verify && std::memcmp(sig_.row(first), sig_.row(r), sizeof(uint64_t) * np) != 0) continue;
        if (verify) {
          const auto a = sets.shingle_set(first), b = sets.shingle_set(r);
          if (a.size() != b.size() || !std::equal(a.begin(), a.end(), b.begin())) continue;
        }
        is_rep[r] = 0;
        g.push_back(r);
      }
      if (g.size() > 1) groups.push_back(std::move(g));
    }
    s = e;
  }
  std::vector<uint64_t> packed;
  // 2. Band buckets over representatives, one candidate list per band.
  std::vector<std::vector<uint64_t>> per_band(bands_);
  std::vector<int64_t> capped(bands_, 0);
  core::parallel_for(static_cast<size_t>(bands_), 1, [&](size_t b0, size_t b1) {
    std::vector<int64_t> members;
    for (size_t band = b0; band < b1; ++band) {
      const auto& t = tables_[band];
      auto& out = per_band[band];
      for (size_t s = 0; s < t.size();) {
        size_t e = s + 1;
        while (e < t.size() && t[e].key == t[s].key) ++e;
        members.clear();
        for (size_t k = s; k < e; ++k)
          if (is_rep[t[k].row]) members.push_back(t[k].row);
        const size_t m = members.size();
        if (m > static_cast<size_t>(max_bucket)) {
          ++capped[band];
          for (size_t k = 1; k < m; ++k) out.push_back(pack(members[0], members[k]));
          for (size_t k = 2; k < m; ++k) out.push_back(pack(members[k - 1], members[k]));
        } else {
          for (size_t x = 0; x < m; ++x)
            for (size_t y = x + 1; y < m; ++y) out.push_back(pack(members[x], members[y]));
        }
        s = e;
      }
      sort_unique(out);
    }
  });
  int64_t capped_total = 0;
  for (int band = 0; band < bands_; ++band) {
    packed.insert(packed.end(), per_band[band].begin(), per_band[band].end());
    std::vector<uint64_t>().swap(per_band[band]);
    capped_total += capped[band];
  }
  sort_unique(packed);
  PairSet out = finish(packed, sets, sets, threshold, verify);
  // 3. Expand copy groups: pairs inside a group (similarity 1) and each copy against every row its
  //    first row matched. Groups larger than max_bucket are reported as a star around the first row
  //    only (counted in capped_buckets) so that memory stays linear.
  if (!groups.empty() && threshold <= 1.0) {
    std::vector<int64_t> group_of(n, -1);
    for (size_t gi = 0; gi < groups.size(); ++gi) group_of[groups[gi][0]] = static_cast<int64_t>(gi);
    std::vector<std::tuple<int64_t, int64_t, double>> extra;
    for (size_t k = 0; k < out.a.size(); ++k) {
      for (int side = 0; side < 2; ++side) {
        const int64_t f = side ? out.b[k] : out.a[k], x = side ? out.a[k] : out.b[k];
        const int64_t gi = group_of[f];
        if (gi < 0 || static_cast<int64_t>(groups[gi].size()) > max_bucket) continue;
        for (size_t c = 1; c < groups[gi].size(); ++c) {
          const int64_t copy = groups[gi][c];
          extra.emplace_back(std::min(copy, x), std::max(copy, x), out.similarity[k]);
        }
      }
    }
    for (const auto& g : groups) {
      if (static_cast<int64_t>(g.size()) > max_bucket) {
        ++capped_total;
        for (size_t c = 1; c < g.size(); ++c) extra.emplace_back(g[0], g[c], 1.0);
        continue;
      }
      for (size_t x = 0; x < g.size(); ++x)
        for (size_t y = x + 1; y < g.size(); ++y) extra.emplace_back(std::min(g[x], g[y]), std::max(g[x], g[y]), 1.0);
    }
    out.candidates += static_cast<int64_t>(extra.size());
    for (size_t k = 0; k < out.a.size(); ++k) extra.emplace_back(out.a[k], out.b[k], out.similarity[k]);
    std::sort(extra.begin(), extra.end());
    out.a.clear();
    out.b.clear();
    out.similarity.clear();
    for (size_t k = 0; k < extra.size(); ++k) {
      if (k && std::get<0>(extra[k]) == std::get<0>(extra[k - 1]) && std::get<1>(extra[k]) == std::get<1>(extra[k - 1]))
        continue;
      out.a.push_back(std::get<0>(extra[k]));
      out.b.push_back(std::get<1>(extra[k]));
      out.similarity.push_back(std::get<2>(extra[k]));
    }
  }
  out.capped_buckets = capped_total;
  return out;
}

PairSet MinHashIndex::query(std::span<const std::string_view> texts, double threshold, bool verify) const {
  if (!(threshold >= 0.0 && threshold <= 1.0)) throw InvalidArgument("threshold: expected a value in [0, 1]");
  if (texts.size() > kMaxRows) throw InvalidArgument("query: at most 2^32 - 1 rows");
  if (verify && !keep_shingles_) throw InvalidArgument("verify=True needs an index built with its shingle sets");
  Signatures q = dedup::signatures(texts, options_, verify);
  const int np = options_.num_perm;
  std::vector<std::vector<uint64_t>> per_row(texts.size());
  core::parallel_for(texts.size(), 64, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const uint64_t* s = q.row(i);
      if (is_empty_signature(s, np)) continue;
      auto& out = per_row[i];
      for (int band = 0; band < bands_; ++band) {
        const auto& t = tables_[band];
        const uint64_t key = band_key(s, band);
        auto it = std::lower_bound(t.begin(), t.end(), BandEntry{key, -1});
        for (; it != t.end() && it->key == key; ++it) out.push_back(pack(static_cast<int64_t>(i), it->row));
      }
      sort_unique(out);
    }
  });
  std::vector<uint64_t> packed;
  for (auto& v : per_row) {
    packed.insert(packed.end(), v.begin(), v.end());
    std::vector<uint64_t>().swap(v);
  }
  return finish(packed, q, sig_, threshold, verify);
}

void MinHashIndex::save(const std::string& path) const {
  Writer w;
  w.buf.append(kMagic, 8);
  w.put<uint32_t>(kVersion);
  w.put<uint32_t>(4 * 4 + 8 + 4 + 4 * 4 + 4);  // header bytes that follow
  w.put<int32_t>(options_.num_perm);
  w.put<int32_t>(options_.ngram);
  w.put<int32_t>(options_.char_ngrams ? 1 : 0);
  w.put<int32_t>(keep_shingles_ ? 1 : 0);
  w.put<uint64_t>(options_.seed);
  w.put<uint32_t>(options_.normalize.flags());
  w.put<int32_t>(bands_);
  w.put<int32_t>(rows_);
  w.put<double>(threshold_);  // 0 = not set
  w.put<int32_t>(0);          // reserved
  w.put<uint64_t>(size());
  w.put<uint64_t>(sig_.shingle_data.size());
  w.put_array(sig_.values);
  w.put_array(sig_.shingle_offsets);
  w.put_array(sig_.shingle_data);
  w.put<uint64_t>(core::xxh64_bytes(w.buf.data(), w.buf.size(), 0));
  io::AtomicFile out(path);
  out.write(std::string_view(w.buf.data(), w.buf.size()));
  out.commit();
}

MinHashIndex MinHashIndex::load(const std::string& path) {
  // One read into an unzeroed buffer (io/whole_file.h): a string stream held the file up to three
  // times over (its growing buffer, then the copy str() returns) besides the arrays parsed from it.
  const core::ByteBuffer file = io::read_whole_file(path);
  const std::string_view buf(file.data(), file.size());
  Reader r{buf, 0, buf.size(), path};
  if (buf.size() < 8 + 8 || std::memcmp(buf.data(), kMagic, 8) != 0) r.fail("bad magic (expected AIRTMHX1)");
  uint64_t stored;
  std::memcpy(&stored, buf.data() + buf.size() - 8, 8);
  if (stored != core::xxh64_bytes(buf.data(), buf.size() - 8, 0))
    r.fail("checksum mismatch (file corrupt or truncated)");
  r.end = buf.size() - 8;
  r.pos = 8;
  const auto version = r.get<uint32_t>("version");
  if (version < 1 || version > kVersion) r.fail("unsupported version " + std::to_string(version));
  const auto header = r.get<uint32_t>("header size");
  r.need(header, "header");
  MinHashOptions o;
  o.num_perm = r.get<int32_t>("num_perm");
  o.ngram = r.get<int32_t>("ngram");
  o.char_ngrams = r.get<int32_t>("char_ngrams") != 0;
  if (version < 3 && !o.char_ngrams)
    r.fail("version " + std::to_string(version) +
           " word-shingle index: an earlier airtune wrote it, and its shingle hashes differ from this one's "
           "(words of 9 to 16 bytes); rebuild it from the texts");
  const bool keep = r.get<int32_t>("has_shingles") != 0;
  o.seed = r.get<uint64_t>("seed");
  const auto flags = r.get<uint32_t>("normalisation flags");
  try {
    // Version 1 stored the four switches only; its Python layer applied NFKC before hashing.
    o.normalize = core::NormalizeOptions::from_flags(version == 1 ? ((flags & 15u) | (2u << 4)) : flags);
  } catch (const InvalidArgument& e) {
    r.fail(e.what());
  }
  const int bands = r.get<int32_t>("bands");
  const int rows = r.get<int32_t>("rows");
  const auto threshold = r.get<double>("threshold");
  r.pos += 4;  // reserved
  if (!(threshold >= 0.0 && threshold <= 1.0)) r.fail("threshold outside [0, 1]");
  try {
    validate(o);
  } catch (const InvalidArgument& e) {
    r.fail(e.what());
  }
  if (bands < 1 || rows < 1 || static_cast<int64_t>(bands) * rows > o.num_perm) r.fail("bad bands/rows");
  MinHashIndex idx(o, bands, rows, keep);
  idx.threshold_ = threshold;
  const auto n = r.get<uint64_t>("row count");
  const auto ns = r.get<uint64_t>("shingle count");
  if (n > kMaxRows) r.fail("row count too large");
  if (n > (r.end - r.pos) / (8ULL * o.num_perm)) r.fail("signatures run past the end of the file");
  r.get_array(idx.sig_.values, n * static_cast<uint64_t>(o.num_perm), "signatures");
  r.get_array(idx.sig_.shingle_offsets, n + 1, "shingle offsets");
  r.get_array(idx.sig_.shingle_data, ns, "shingle hashes");
  if (r.pos != r.end) r.fail("trailing bytes after the shingle hashes");
  const auto& off = idx.sig_.shingle_offsets;
  if (off[0] != 0 || static_cast<uint64_t>(off[n]) != ns) r.fail("shingle offsets do not match the shingle count");
  for (size_t i = 0; i < n; ++i)
    if (off[i + 1] < off[i]) r.fail("shingle offsets decrease at row " + std::to_string(i));
  if (!keep && ns != 0) r.fail("shingles present in an index saved without them");
  idx.rebuild_tables();
  return idx;
}

}  // namespace airtune::dedup
