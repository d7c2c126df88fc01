#include "metrics/bleu.h"

#include <cmath>
#include <cstdlib>

#include "core/enum_names.h"
#include "core/errors.h"
#include "core/threading.h"
#include "metrics/ngram.h"
#include "metrics/ngram_table.h"
#include "metrics/text.h"

namespace airtune::metrics {

BleuSmooth parse_bleu_smooth(std::string_view name) {
  static constexpr core::EnumName<BleuSmooth> kSmooths[] = {{"none", BleuSmooth::kNone},
                                                            {"floor", BleuSmooth::kFloor},
                                                            {"add-k", BleuSmooth::kAddK},
                                                            {"exp", BleuSmooth::kExp}};
  if (const auto smooth = core::find_enum(name, kSmooths)) return *smooth;
  throw InvalidArgument("unknown smooth_method '" + std::string(name) + "' (choose none, floor, add-k or exp)");
}

namespace {

struct Scratch {
  std::string hyp_buf, buf2;
  std::vector<std::string> ref_bufs;
  std::vector<std::string_view> tokens, all;
  std::vector<size_t> bounds;  // token ranges: [hyp | ref0 | ref1 ...]
  std::vector<uint32_t> ids;
  TokenInterner interner;
  NgramTables tables;
};

// The statistics row of the tokens in s.all: the hypothesis is [bounds[0], bounds[1]), each
// reference a following range. `item` names the row in errors.
void count_statistics(Scratch& s, int N, size_t item, int64_t* row) {
  s.interner.reset(s.all.size());
  s.ids.resize(s.all.size());
  for (size_t t = 0; t < s.all.size(); ++t) s.ids[t] = s.interner.id(s.all[t]);
  const int bits = bits_for(s.interner.size());
  if (!fits_key(N, bits)) {
    throw InvalidArgument("bleu: row " + std::to_string(item) + " has too many distinct tokens for max_order " +
                          std::to_string(N));
  }
  const size_t hyp_len = s.bounds[1];
  // Closest reference length, the shorter on a tie.
  int64_t best_len = -1, best_diff = -1;
  for (size_t r = 1; r + 1 < s.bounds.size(); ++r) {
    const auto len = static_cast<int64_t>(s.bounds[r + 1] - s.bounds[r]);
    const int64_t diff = std::llabs(static_cast<int64_t>(hyp_len) - len);
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best_len = len;
    } else if (diff == best_diff && len < best_len) {
      best_len = len;
    }
  }
  row[0] = static_cast<int64_t>(hyp_len);
  row[1] = best_len;
  auto count_orders = [&](auto& table) {
    for (int n = 1; n <= N; ++n) {
      table_count(table, s.ids.data(), hyp_len, n, bits);
      for (size_t r = 1; r + 1 < s.bounds.size(); ++r) {
        table_probe(table, s.ids.data() + s.bounds[r], s.bounds[r + 1] - s.bounds[r], n, bits);
        table.clip_tmp_and_fold();
      }
      const auto order = static_cast<size_t>(n);
      row[2 + (n - 1)] = static_cast<int64_t>(table.clip_r());
      row[2 + N + (n - 1)] = static_cast<int64_t>(hyp_len >= order ? hyp_len - order + 1 : 0);
    }
  };
  if (N * bits <= 64) {
    count_orders(s.tables.narrow);
  } else {
    count_orders(s.tables.wide);
  }
}

void item_statistics(std::string_view hyp, const References& refs, size_t i, const BleuOptions& opt, Scratch& s,
                     int64_t* row) {
  s.all.clear();
  s.bounds.clear();
  s.bounds.push_back(0);
  // Tokens point into the raw text or into their own buffer: one buffer per side.
  bleu_tokenize(hyp, opt.tokenizer, true, s.hyp_buf, s.buf2, s.tokens);
  s.all.insert(s.all.end(), s.tokens.begin(), s.tokens.end());
  s.bounds.push_back(s.all.size());
  const size_t k_refs = refs.streams.size();
  if (s.ref_bufs.size() < k_refs) s.ref_bufs.resize(k_refs);
  for (size_t k = 0; k < k_refs; ++k) {
    if (!refs.has(k, i)) continue;
    bleu_tokenize(refs.streams[k][i], opt.tokenizer, true, s.ref_bufs[k], s.buf2, s.tokens);
    s.all.insert(s.all.end(), s.tokens.begin(), s.tokens.end());
    s.bounds.push_back(s.all.size());
  }
  count_statistics(s, opt.max_order, i, row);
}

}  // namespace

std::vector<int64_t> bleu_statistics(const std::vector<std::string_view>& hyps, const References& refs,
                                     const BleuOptions& opt) {
  if (opt.max_order < 1) throw InvalidArgument("bleu: max_ngram_order must be >= 1");
  check_utf8(hyps, "hypotheses");
  check_references(refs, hyps.size(), "references");
  const size_t width = static_cast<size_t>(bleu_stats_width(opt.max_order));
  std::vector<int64_t> stats(hyps.size() * width, 0);
  core::parallel_for(hyps.size(), 256, [&](size_t begin, size_t end) {
    Scratch s;
    for (size_t i = begin; i < end; ++i) item_statistics(hyps[i], refs, i, opt, s, stats.data() + i * width);
  });
  return stats;
}

void bleu_statistics_of_tokens(std::span<const std::string_view> hyp,
                               const std::vector<std::span<const std::string_view>>& refs, int max_order,
                               int64_t* row) {
  if (max_order < 1) throw InvalidArgument("bleu: max_ngram_order must be >= 1");
  if (refs.empty()) throw InvalidArgument("bleu: at least one reference is needed");
  Scratch s;
  s.all.assign(hyp.begin(), hyp.end());
  s.bounds = {0, s.all.size()};
  for (const auto& r : refs) {
    s.all.insert(s.all.end(), r.begin(), r.end());
    s.bounds.push_back(s.all.size());
  }
  count_statistics(s, max_order, 0, row);
}

BleuScore bleu_from_stats(const double* sums, const BleuOptions& opt) {
  const int N = opt.max_order;
  double smooth_value = opt.smooth_value;
  if (smooth_value < 0) smooth_value = opt.smooth == BleuSmooth::kFloor ? 0.1 : 1.0;
  const double sys_len = sums[0], ref_len = sums[1];
  std::vector<double> correct(sums + 2, sums + 2 + N), total(sums + 2 + N, sums + 2 + 2 * N);
  BleuScore out;
  out.bp = 1.0;
  if (sys_len < ref_len) out.bp = sys_len > 0 ? std::exp(1.0 - ref_len / sys_len) : 0.0;
  out.precisions.assign(static_cast<size_t>(N), 0.0);
  bool any = false;
  for (double c : correct) any = any || c != 0.0;
  if (!any) return out;  // sacreBLEU #141: no matches at all gives 0 before smoothing
  double smooth_mteval = 1.0;
  int eff_order = N;
  for (int n = 1; n <= N; ++n) {
    const size_t k = static_cast<size_t>(n - 1);
    if (opt.smooth == BleuSmooth::kAddK && n > 1) {
      correct[k] += smooth_value;
      total[k] += smooth_value;
    }
    if (total[k] == 0) break;
    if (opt.effective_order) eff_order = n;
    if (correct[k] == 0) {
      if (opt.smooth == BleuSmooth::kExp) {
        smooth_mteval *= 2;
        out.precisions[k] = 100. / (smooth_mteval * total[k]);
      } else if (opt.smooth == BleuSmooth::kFloor) {
        out.precisions[k] = 100. * smooth_value / total[k];
      }
    } else {
      out.precisions[k] = 100. * correct[k] / total[k];
    }
  }
  double log_sum = 0.0;
  for (int n = 0; n < eff_order; ++n) {
    const double p = out.precisions[static_cast<size_t>(n)];
    log_sum += p == 0.0 ? -9999999999.0 : std::log(p);
  }
  out.score = out.bp * std::exp(log_sum / eff_order);
  return out;
}

}  // namespace airtune::metrics
