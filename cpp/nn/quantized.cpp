#include "nn/quantized.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "core/errors.h"

namespace airtune::nn {

namespace {

constexpr float kInv127 = static_cast<float>(7.874015718698502e-3);  // bitsandbytes' 1/127
constexpr int64_t kGrain = 2048;                                     // blocks per parallel task

// The nearest of `n` sorted levels to x; ties go to the lower level (bucketize over midpoints).
template <size_t N>
int nearest_level(const std::array<float, N>& mids, float x) {
  // count of midpoints strictly below x
  return static_cast<int>(std::lower_bound(mids.begin(), mids.end(), x) - mids.begin());
}

template <size_t N>
std::array<float, N - 1> midpoints(const std::array<float, N>& levels) {
  std::array<float, N - 1> m{};
  for (size_t i = 0; i + 1 < N; ++i) m[i] = (levels[i] + levels[i + 1]) / 2.0f;
  return m;
}

const std::array<float, 15>& nf4_midpoints() {
  static const auto m = midpoints(nf4_levels());
  return m;
}

// Blockwise absmax of n floats.
void block_absmax(const float* w, int64_t n, int64_t block, float* absmax) {
  const int64_t blocks = (n + block - 1) / block;
  at::parallel_for(0, blocks, kGrain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t e0 = b * block, e1 = std::min(n, e0 + block);
      float m = 0.0f;
      for (int64_t e = e0; e < e1; ++e) m = std::max(m, std::fabs(w[e]));
      absmax[b] = m;
    }
  });
}

// The nested (double) quantization of the scales, as bitsandbytes' quantize_blockwise over
// absmax - offset with the dynamic map in blocks of 256.
void nest_scales(QuantizedTensor& q, const torch::Tensor& absmax) {
  const int64_t blocks = absmax.numel();
  const float* a = absmax.data_ptr<float>();
  double sum = 0.0;
  for (int64_t b = 0; b < blocks; ++b) sum += a[b];
  const float offset = static_cast<float>(sum / static_cast<double>(blocks));
  const int64_t nested = (blocks + kNestedBlock - 1) / kNestedBlock;
  auto codes = at::empty({blocks}, torch::kUInt8);
  auto absmax2 = at::empty({nested}, torch::kFloat32);
  uint8_t* c = codes.data_ptr<uint8_t>();
  float* a2 = absmax2.data_ptr<float>();
  const auto& levels = dynamic_map_levels();
  for (int64_t j = 0; j < nested; ++j) {
    const int64_t b0 = j * kNestedBlock, b1 = std::min(blocks, b0 + kNestedBlock);
    float m = 0.0f;
    for (int64_t b = b0; b < b1; ++b) m = std::max(m, std::fabs(a[b] - offset));
    a2[j] = m;
    for (int64_t b = b0; b < b1; ++b) {
      const float x = m > 0.0f ? (a[b] - offset) / m : 0.0f;
      // nearest level; on a tie the lower one
      auto it = std::lower_bound(levels.begin(), levels.end(), x);
      int64_t i = it - levels.begin();
      if (i >= 256) i = 255;
      if (i > 0 && std::fabs(x - levels[i - 1]) <= std::fabs(levels[i] - x)) i -= 1;
      c[b] = static_cast<uint8_t>(i);
    }
  }
  q.nested_codes = codes;
  q.nested_absmax = absmax2;
  q.nested_offset = offset;
}

template <typename T>
void write_dequantized(const QuantizedTensor& q, const float* scales, int64_t e0, int64_t e1, T* out) {
  const int64_t bs = q.block_size;
  const int64_t b_first = e0 / bs, b_last = (e1 - 1) / bs;
  if (q.kind == QuantKind::kNF4) {
    const uint8_t* codes = q.codes.data_ptr<uint8_t>();
    const auto& lv = nf4_levels();
    at::parallel_for(b_first, b_last + 1, kGrain / 4, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const float s = scales[b];
        const int64_t lo = std::max(e0, b * bs), hi = std::min(e1, (b + 1) * bs);
        for (int64_t e = lo; e < hi; ++e) {
          const uint8_t byte = codes[e >> 1];
          const int idx = (e & 1) ? (byte & 0xF) : (byte >> 4);
          out[e - e0] = static_cast<T>(lv[static_cast<size_t>(idx)] * s);
        }
      }
    });
  } else {
    const int8_t* codes = q.codes.data_ptr<int8_t>();
    at::parallel_for(b_first, b_last + 1, kGrain / 4, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const float s = scales[b];
        const int64_t lo = std::max(e0, b * bs), hi = std::min(e1, (b + 1) * bs);
        for (int64_t e = lo; e < hi; ++e) out[e - e0] = static_cast<T>((static_cast<float>(codes[e]) * s) * kInv127);
      }
    });
  }
}

void check_rows(const QuantizedTensor& q, int64_t r0, int64_t r1) {
  if (r0 < 0 || r1 > q.rows || r0 > r1)
    throw InvalidArgument("dequantize: rows [" + std::to_string(r0) + ", " + std::to_string(r1) +
                          ") outside a weight of " + std::to_string(q.rows) + " rows");
}

}  // namespace

std::string quant_kind_name(QuantKind k) { return k == QuantKind::kNF4 ? "nf4" : "int8"; }

QuantKind parse_quant_kind(const std::string& s) {
  if (s == "nf4") return QuantKind::kNF4;
  if (s == "int8") return QuantKind::kInt8;
  throw InvalidArgument("quantization '" + s + "' is not supported: use nf4 or int8");
}

std::string describe(const QuantOptions& o) {
  return quant_kind_name(o.kind) + " block=" + std::to_string(o.block_size) +
         " double_quant=" + (o.double_quant ? "true" : "false");
}

const std::array<float, 16>& nf4_levels() {
  static const std::array<float, 16> levels = {
      -1.0f,
      -0.6961928009986877f,
      -0.5250730514526367f,
      -0.39491748809814453f,
      -0.28444138169288635f,
      -0.18477343022823334f,
      -0.09105003625154495f,
      0.0f,
      0.07958029955625534f,
      0.16093020141124725f,
      0.24611230194568634f,
      0.33791524171829224f,
      0.44070982933044434f,
      0.5626170039176941f,
      0.7229568362236023f,
      1.0f,
  };
  return levels;
}

const std::array<float, 256>& dynamic_map_levels() {
  // bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), with the same
  // float32 ATen operations (linspace, means, scaling) so that every level has the same bits.
  static const std::array<float, 256> levels = [] {
    std::vector<float> data;
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    for (int i = 0; i < 7; ++i) {
      const int64_t items = (int64_t{1} << i) + 1;
      auto bounds = at::linspace(0.1, 1.0, items, f32);
      auto means = (bounds.narrow(0, 0, items - 1) + bounds.narrow(0, 1, items - 1)) / 2.0;
      const double scale = std::pow(10.0, -6 + i);
      auto pos = (means * scale).contiguous();
      auto neg = (means * -scale).contiguous();
      for (int64_t k = 0; k < pos.numel(); ++k) data.push_back(pos.data_ptr<float>()[k]);
      for (int64_t k = 0; k < neg.numel(); ++k) data.push_back(neg.data_ptr<float>()[k]);
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    std::array<float, 256> out{};
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }();
  return levels;
}

torch::Tensor QuantizedTensor::scales() const {
  if (!nested()) return absmax;
  if (nested_codes.device().is_cpu()) {
    auto out = at::empty({blocks()}, torch::kFloat32);
    const uint8_t* c = nested_codes.data_ptr<uint8_t>();
    const float* a2 = nested_absmax.data_ptr<float>();
    float* o = out.data_ptr<float>();
    const auto& lv = dynamic_map_levels();
    for (int64_t b = 0; b < out.numel(); ++b) o[b] = lv[c[b]] * a2[b / kNestedBlock] + nested_offset;
    return out;
  }
  auto lv =
      at::from_blob(const_cast<float*>(dynamic_map_levels().data()), {256}, torch::kFloat32).to(nested_codes.device());
  auto idx = at::arange(blocks(), torch::TensorOptions().dtype(torch::kInt64).device(nested_codes.device()));
  return lv.index_select(0, nested_codes.to(torch::kInt64)) *
             nested_absmax.index_select(0, at::floor_divide(idx, kNestedBlock)) +
         nested_offset;
}

int64_t QuantizedTensor::bytes() const {
  int64_t n = codes.numel() * codes.element_size();
  for (const auto* t : {&absmax, &nested_codes, &nested_absmax})
    if (t->defined()) n += t->numel() * t->element_size();
  return n;
}

QuantizedTensor QuantizedTensor::to(torch::Device device) const {
  QuantizedTensor q = *this;
  for (auto* t : {&q.codes, &q.absmax, &q.nested_codes, &q.nested_absmax})
    if (t->defined()) *t = t->to(device);
  return q;
}

void QuantizedTensor::validate(const std::string& what) const {
  auto need = [&](const torch::Tensor& t, torch::Dtype dt, int64_t numel, const char* name) {
    if (!t.defined() || t.scalar_type() != dt || t.numel() != numel)
      throw FormatError(what + ": " + name + " must hold " + std::to_string(numel) + " " +
                        std::string(c10::toString(dt)) + " values" +
                        (t.defined() ? " (found " + std::to_string(t.numel()) + " " +
                                           std::string(c10::toString(t.scalar_type())) + ")"
                                     : " (missing)"));
  };
  if (rows <= 0 || cols <= 0 || block_size <= 0 || (kind == QuantKind::kNF4 && block_size % 2 != 0))
    throw FormatError(what + ": invalid quantized shape or block size");
  need(codes, kind == QuantKind::kNF4 ? torch::kUInt8 : torch::kInt8,
       kind == QuantKind::kNF4 ? (numel() + 1) / 2 : numel(), "the codes");
  if (nested()) {
    need(nested_codes, torch::kUInt8, blocks(), "the nested scale codes");
    need(nested_absmax, torch::kFloat32, (blocks() + kNestedBlock - 1) / kNestedBlock, "the nested absmax");
    if (!std::isfinite(nested_offset)) throw FormatError(what + ": the nested offset is not finite");
    if (!at::isfinite(nested_absmax).all().item<bool>())
      throw FormatError(what + ": the nested absmax holds a NaN or infinity");
  } else {
    need(absmax, torch::kFloat32, blocks(), "absmax");
    if (!at::isfinite(absmax).all().item<bool>()) throw FormatError(what + ": absmax holds a NaN or infinity");
  }
}

QuantizedTensor quantize(const torch::Tensor& w_in, const QuantOptions& o, const std::string& what) {
  if (w_in.dim() != 2) throw InvalidArgument(what + ": only 2-D weights are quantized");
  if (o.block_size <= 0 || (o.kind == QuantKind::kNF4 && o.block_size % 2 != 0))
    throw InvalidArgument("quantization block size must be a positive" +
                          std::string(o.kind == QuantKind::kNF4 ? " even" : "") + " number, got " +
                          std::to_string(o.block_size));
  auto w = w_in.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (!at::isfinite(w).all().item<bool>()) throw InvalidArgument(what + " holds a NaN or infinity");
  QuantizedTensor q;
  q.kind = o.kind;
  q.rows = w.size(0);
  q.cols = w.size(1);
  q.block_size = o.block_size;
  const int64_t n = q.numel(), blocks = q.blocks(), bs = o.block_size;
  const float* x = w.data_ptr<float>();
  auto absmax = at::empty({blocks}, torch::kFloat32);
  float* am = absmax.data_ptr<float>();
  block_absmax(x, n, bs, am);
  if (o.kind == QuantKind::kNF4) {
    q.codes = at::empty({(n + 1) / 2}, torch::kUInt8);
    uint8_t* c = q.codes.data_ptr<uint8_t>();
    const auto& mids = nf4_midpoints();
    const int zero = nearest_level(mids, 0.0f);
    // Two elements per byte: blocks are even-sized, so a byte never straddles two blocks.
    at::parallel_for(0, blocks, kGrain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const float inv = 1.0f / std::max(am[b], 1e-38f);
        const int64_t e0 = b * bs, e1 = std::min(n, e0 + bs);
        for (int64_t e = e0; e < e1; e += 2) {
          const float s0 = std::clamp(x[e] * inv, -1.0f, 1.0f);
          const int hi = nearest_level(mids, s0);
          const int lo = e + 1 < e1 ? nearest_level(mids, std::clamp(x[e + 1] * inv, -1.0f, 1.0f)) : zero;
          c[e >> 1] = static_cast<uint8_t>((hi << 4) | lo);
        }
      }
    });
  } else {
    q.codes = at::empty({n}, torch::kInt8);
    int8_t* c = q.codes.data_ptr<int8_t>();
    at::parallel_for(0, blocks, kGrain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t e0 = b * bs, e1 = std::min(n, e0 + bs);
        if (am[b] == 0.0f) {
          std::fill(c + e0, c + e1, int8_t{0});
          continue;
        }
        const float mult = 127.0f / am[b];
        for (int64_t e = e0; e < e1; ++e)
          c[e] = static_cast<int8_t>(std::clamp(std::nearbyint(x[e] * mult), -127.0f, 127.0f));
      }
    });
  }
  if (o.double_quant) {
    nest_scales(q, absmax);
  } else {
    q.absmax = absmax;
  }
  return q;
}

torch::Tensor dequantize(const QuantizedTensor& q, torch::Dtype dtype, int64_t r0, int64_t r1) {
  check_rows(q, r0, r1);
  if (!q.codes.device().is_cpu()) return dequantize_reference(q, dtype, r0, r1);
  auto scales = q.scales().contiguous();
  const float* s = scales.data_ptr<float>();
  auto out = at::empty({r1 - r0, q.cols}, torch::TensorOptions().dtype(dtype));
  if (r1 == r0) return out;
  const int64_t e0 = r0 * q.cols, e1 = r1 * q.cols;
  switch (dtype) {
    case torch::kFloat32:
      write_dequantized(q, s, e0, e1, out.data_ptr<float>());
      break;
    case torch::kBFloat16:
      write_dequantized(q, s, e0, e1, out.data_ptr<c10::BFloat16>());
      break;
    case torch::kFloat16:
      write_dequantized(q, s, e0, e1, out.data_ptr<c10::Half>());
      break;
    default:
      throw InvalidArgument("dequantize: dtype must be float32, bfloat16 or float16");
  }
  return out;
}

torch::Tensor dequantize_reference(const QuantizedTensor& q, torch::Dtype dtype, int64_t r0, int64_t r1) {
  check_rows(q, r0, r1);
  const auto dev = q.codes.device();
  const int64_t e0 = r0 * q.cols, e1 = r1 * q.cols, bs = q.block_size;
  if (e1 == e0) return at::empty({0, q.cols}, torch::TensorOptions().dtype(dtype).device(dev));
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  auto elems = at::arange(e0, e1, i64);
  auto scale = q.scales().index_select(0, at::floor_divide(elems, bs));
  torch::Tensor values;
  if (q.kind == QuantKind::kNF4) {
    auto lv = at::from_blob(const_cast<float*>(nf4_levels().data()), {16}, torch::kFloat32).to(dev);
    auto bytes = q.codes.index_select(0, at::floor_divide(elems, 2)).to(torch::kInt64);
    auto idx = at::where(at::remainder(elems, 2).eq(1), at::bitwise_and(bytes, 15), at::bitwise_right_shift(bytes, 4));
    values = lv.index_select(0, idx) * scale;
  } else {
    values = (q.codes.narrow(0, e0, e1 - e0).to(torch::kFloat32) * scale) * kInv127;
  }
  return values.view({r1 - r0, q.cols}).to(dtype);
}

QuantizedMatrix::QuantizedMatrix(std::vector<QuantizedTensor> p) : parts(std::move(p)) {
  if (parts.empty()) throw InvalidArgument("QuantizedMatrix: no parts");
  cols = parts.front().cols;
  for (const auto& q : parts) {
    if (q.cols != cols) throw InvalidArgument("QuantizedMatrix: parts differ in columns");
    rows += q.rows;
  }
}

torch::Tensor QuantizedMatrix::dequantize(torch::Dtype dtype, int64_t r0, int64_t r1) const {
  if (parts.size() == 1) return nn::dequantize(parts.front(), dtype, r0, r1);
  std::vector<torch::Tensor> pieces;
  int64_t base = 0;
  for (const auto& q : parts) {
    const int64_t a = std::max(r0, base), b = std::min(r1, base + q.rows);
    if (a < b) pieces.push_back(nn::dequantize(q, dtype, a - base, b - base));
    base += q.rows;
  }
  if (pieces.size() == 1) return pieces.front();
  return at::cat(pieces, 0);
}

int64_t QuantizedMatrix::bytes() const {
  int64_t n = 0;
  for (const auto& q : parts) n += q.bytes();
  return n;
}

namespace {

int64_t panel_rows(const QuantizedMatrix& w) { return std::max<int64_t>(1, kPanelElements / w.cols); }

// y2 [T, rows] = x2 [T, cols] W^T, panel by panel.
torch::Tensor forward_panels(const torch::Tensor& x2, const QuantizedMatrix& w) {
  const int64_t step = panel_rows(w);
  if (step >= w.rows) return at::mm(x2, w.dequantize(x2.scalar_type()).t());
  auto y = at::empty({x2.size(0), w.rows}, x2.options());
  for (int64_t r0 = 0; r0 < w.rows; r0 += step) {
    const int64_t r1 = std::min(w.rows, r0 + step);
    y.narrow(1, r0, r1 - r0).copy_(at::mm(x2, w.dequantize(x2.scalar_type(), r0, r1).t()));
  }
  return y;
}

// dx2 [T, cols] = dy2 [T, rows] W, panel contributions added in row order.
torch::Tensor backward_panels(const torch::Tensor& dy2, const QuantizedMatrix& w) {
  const int64_t step = panel_rows(w);
  if (step >= w.rows) return at::mm(dy2, w.dequantize(dy2.scalar_type()));
  auto dx = at::zeros({dy2.size(0), w.cols}, dy2.options());
  for (int64_t r0 = 0; r0 < w.rows; r0 += step) {
    const int64_t r1 = std::min(w.rows, r0 + step);
    dx.addmm_(dy2.narrow(1, r0, r1 - r0), w.dequantize(dy2.scalar_type(), r0, r1));
  }
  return dx;
}

// The autograd node keeps the matrix alive through its tensors (saved_data holds no pointers), so
// a backward pass after the caller dropped the matrix is safe.
void save_matrix(torch::autograd::AutogradContext* ctx, const QuantizedMatrix& w) {
  std::vector<torch::Tensor> tensors;
  std::vector<int64_t> meta;
  std::vector<double> offsets;
  auto put = [&](const torch::Tensor& t) {
    meta.push_back(t.defined() ? 1 : 0);
    tensors.push_back(t.defined() ? t : at::empty({0}));
  };
  for (const auto& q : w.parts) {
    meta.insert(meta.end(), {static_cast<int64_t>(q.kind), q.rows, q.cols, q.block_size});
    put(q.codes);
    put(q.absmax);
    put(q.nested_codes);
    put(q.nested_absmax);
    offsets.push_back(q.nested_offset);
  }
  ctx->saved_data["tensors"] = tensors;
  ctx->saved_data["meta"] = meta;
  ctx->saved_data["offsets"] = offsets;
}

QuantizedMatrix load_matrix(torch::autograd::AutogradContext* ctx) {
  auto tensors = ctx->saved_data["tensors"].toTensorVector();
  auto meta = ctx->saved_data["meta"].toIntVector();
  auto offsets = ctx->saved_data["offsets"].toDoubleVector();
  std::vector<QuantizedTensor> parts;
  size_t t = 0, k = 0;
  for (size_t p = 0; p < offsets.size(); ++p) {
    QuantizedTensor q;
    q.kind = static_cast<QuantKind>(meta[k++]);
    q.rows = meta[k++];
    q.cols = meta[k++];
    q.block_size = meta[k++];
    for (auto* dst : {&q.codes, &q.absmax, &q.nested_codes, &q.nested_absmax}) {
      if (meta[k++]) *dst = tensors[t];
      ++t;
    }
    q.nested_offset = static_cast<float>(offsets[p]);
    parts.push_back(std::move(q));
  }
  return QuantizedMatrix(std::move(parts));
}

struct QuantizedLinearFn : public torch::autograd::Function<QuantizedLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, const QuantizedMatrix* w) {
    save_matrix(ctx, *w);
    auto x2 = x.reshape({-1, w->cols});
    auto sizes = x.sizes().vec();
    sizes.back() = w->rows;
    // a 2-D input gets the product itself, not a view of it: callers add LoRA's term into it in
    // place (LoraModel's projections), which autograd refuses on a view made inside a Function
    auto y = forward_panels(x2, *w);
    return x.dim() == 2 ? y : y.view(sizes);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto w = load_matrix(ctx);
    auto dy = grad[0];
    auto dy2 = dy.reshape({-1, w.rows}).contiguous();
    auto sizes = dy.sizes().vec();
    sizes.back() = w.cols;
    return {backward_panels(dy2, w).view(sizes), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor quantized_linear(const torch::Tensor& x, const std::shared_ptr<const QuantizedMatrix>& w,
                               const torch::Tensor& bias) {
  if (x.size(-1) != w->cols)
    throw InvalidArgument("quantized_linear: input has " + std::to_string(x.size(-1)) + " features, the weight " +
                          std::to_string(w->cols));
  torch::Tensor y;
  if (torch::GradMode::is_enabled() && x.requires_grad()) {
    y = QuantizedLinearFn::apply(x, w.get());
  } else {
    auto sizes = x.sizes().vec();
    sizes.back() = w->rows;
    y = forward_panels(x.reshape({-1, w->cols}), *w);
    if (x.dim() != 2) y = y.view(sizes);
  }
  return bias.defined() ? y + bias : y;
}

}  // namespace airtune::nn
