// Every dedup entry point that returns ids or scores gives the same bits at 1, 2 and 3 threads and
// under every OpenBLAS kernel this CPU can run (OPENBLAS_CORETYPE, child processes of this test
// binary), on data with exact copies: the ties whose BLAS rounding used to decide the winner.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/threading.h"
#include "dedup/knn.h"
#include "dedup/outliers.h"
#include "dedup/semdedup.h"
#include "vectors/blas.h"
#include "vectors/kmeans.h"

using namespace airtune;
using namespace airtune::dedup;

namespace {

// The failing case of issue #11: random rows, near copies at graded noise, a group of exact copies.
std::vector<float> planted(int64_t n, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(n * d);
  for (auto& v : x) v = g(rng);
  for (int64_t i = 0; i + 1 < std::min<int64_t>(120, n); i += 2)
    for (int64_t j = 0; j < d; ++j) x[(i + 1) * d + j] = x[i * d + j] + 0.01f * float(i % 60) * g(rng);
  for (int64_t c = 200; c < 205 && c < n; ++c) std::copy_n(&x[199 * d], d, &x[c * d]);
  for (int64_t c = 1000; c < 1040 && c < n; ++c) std::copy_n(&x[999 * d], d, &x[c * d]);  // > k copies
  return x;
}

template <class T>
void mix(uint64_t& h, const std::vector<T>& v) {
  h = core::xxh64_bytes(v.data(), v.size() * sizeof(T), h);
}

void mix(uint64_t& h, const KnnGraph& g) {
  mix(h, g.score);
  mix(h, g.ids);
}

uint64_t fingerprint() {
  const int64_t n = 2500, d = 24;
  const auto x = planted(n, d, 9);
  uint64_t h = 0;
  for (auto kind : {SearchIndex::kFlat, SearchIndex::kIvfGemm, SearchIndex::kIvf, SearchIndex::kHnsw}) {
    SearchOptions o;
    o.index = kind;
    const int64_t rows = kind == SearchIndex::kHnsw ? 1100 : n;  // FAISS's HNSW build is slow on one thread
    mix(h, knn_self_cosine(x.data(), rows, d, 5, o));
    mix(h, knn_cross_cosine(x.data(), rows, x.data() + 150 * d, 400, d, 3, o));
  }
  mix(h, knn_self_l2(x.data(), n, d, 20));
  const auto lof = lof_outliers(x.data(), n, d, 20, 1.5);
  mix(h, lof.score);
  SemDedupOptions so;
  so.n_clusters = 12;
  const auto s = semdedup(x.data(), n, d, so, {});
  mix(h, s.cluster);
  mix(h, s.max_similarity);
  mix(h, s.max_id);
  mix(h, s.centroid_distance);
  vectors::KMeansOptions ko;
  ko.k = 7;
  ko.metric = vectors::KMeansMetric::kL2;
  ko.init = vectors::KMeansInit::kPlusPlus;
  ko.nredo = 2;
  const auto km = vectors::kmeans(x.data(), n, d, ko);
  mix(h, km.centroids);
  mix(h, km.assign);
  mix(h, km.score);
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// Run in child processes by AcrossThreadsAndBlasKernels; prints "fingerprint <core> <hex>".
TEST(DedupDeterminism, DISABLED_Fingerprint) {
  std::string first;
  for (int threads : {1, 2, 3}) {
    core::set_num_threads(threads);
    const std::string f = hex(fingerprint());
    if (first.empty()) first = f;
    EXPECT_EQ(f, first) << "threads=" << threads;
  }
  std::cout << "fingerprint " << vectors::blas_core() << " " << first << std::endl;
}

TEST(DedupDeterminism, AcrossThreadsAndBlasKernels) {
  core::set_num_threads(2);
  const std::string here = hex(fingerprint());
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(len, 0);
  self[len] = '\0';
  int compared = 0;
  for (const char* kernel : {"Haswell", "SkylakeX", "Zen", "Sandybridge"}) {
    const std::string cmd = std::string("OPENBLAS_CORETYPE=") + kernel + " '" + self +
                            "' --gtest_filter=DedupDeterminism.DISABLED_Fingerprint"
                            " --gtest_also_run_disabled_tests 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    while (size_t got = fread(buf, 1, sizeof buf, p)) out.append(buf, got);
    const int rc = pclose(p);
    ASSERT_EQ(rc, 0) << kernel << ":\n" << out;
    const size_t at = out.find("fingerprint ");
    ASSERT_NE(at, std::string::npos) << out;
    const size_t sp = out.find(' ', at + 12);
    const std::string core_name = out.substr(at + 12, sp - at - 12);
    const std::string f = out.substr(sp + 1, 16);
    if (lower(core_name) != lower(kernel)) {  // this CPU cannot run that kernel: OpenBLAS chose another
      std::cout << "skipped " << kernel << " (OpenBLAS ran " << core_name << ")\n";
      continue;
    }
    EXPECT_EQ(f, here) << "OPENBLAS_CORETYPE=" << kernel;
    ++compared;
  }
  EXPECT_GE(compared, 2) << "fewer than two OpenBLAS kernels could run here";
}
