// Quantized frozen weights for QLoRA-style training: NF4 and int8 with per-block absmax scales
// (Dettmers et al., 2023, "QLoRA"), optionally with the scales themselves quantized ("double
// quantization"), dequantized panel by panel inside the matmul.
//
// Layout (the one bitsandbytes uses, so its checkpoints read as they are): a weight [rows, cols] is
// flattened row-major into n elements and cut into blocks of `block_size` consecutive elements (the
// last one may be shorter); each block b has a scale absmax[b] = max |w| over the block.
//   NF4:  code = the NF4 level nearest to w / absmax (ties to the lower level; the 16 levels of
//         nf4_levels(), bitsandbytes' float32 table), two codes per byte, element 2j in the high
//         nibble of byte j (an odd n pads the last low nibble with the code of 0.0);
//         w' = level[code] * absmax  (float32).
//   int8: code = round_half_even(w * (127 / absmax)) in [-127, 127] (bitsandbytes' vector-wise
//         formula, applied per block); w' = (code * absmax) * (1/127)  (float32, as bitsandbytes'
//         int8_vectorwise_dequant).
// A block of zeros has absmax 0 and dequantizes to zeros.
// Double quantization (bitsandbytes' compress_statistics): offset = mean(absmax) (float64 sum in
// block order, rounded to float32: the same bits for any thread count); the values absmax - offset
// are quantized blockwise (blocks of 256) to the nearest level of bitsandbytes' signed dynamic map
// (dynamic_map_levels()) with their own float32 absmax; absmax'[b] = level[q[b]] * absmax2[b / 256] +
// offset.
//
// Memory: NF4 0.5 byte per weight + 4 / block_size (double quantization: 1 / block_size + 4 /
// (256 block_size)); int8 1 byte per weight + the same. quantized_linear dequantizes at most
// kPanelElements weights at a time (rows of the matrix), so the dense matrix never exists whole.
// Devices: quantization runs on the CPU (the result can be moved with to()); dequantization uses a
// CPU kernel (parallel over blocks on libtorch's intra-op threads) on CPU tensors and ATen ops
// elsewhere (the same values: dequantize_reference, checked equal to the CPU kernel in tests).
// Thread safety: QuantizedTensor / QuantizedMatrix are immutable values; all functions are pure.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace airtune::nn {

enum class QuantKind { kNF4, kInt8 };

/// How a frozen base is quantized at load.
struct QuantOptions {
  QuantKind kind = QuantKind::kNF4;
  int64_t block_size = 64;    // weights per absmax scale (QLoRA: 64); > 0, even for NF4
  bool double_quant = false;  // quantize the scales too (blocks of 256)
};

/// "nf4" / "int8"; parse_quant_kind throws InvalidArgument naming the value otherwise.
std::string quant_kind_name(QuantKind k);
QuantKind parse_quant_kind(const std::string& s);
/// A short description of the options, e.g. "nf4 block=64 double_quant=true" (used in fingerprints).
std::string describe(const QuantOptions& o);

/// The 16 NF4 levels in increasing order (bitsandbytes' float32 values).
const std::array<float, 16>& nf4_levels();
/// The 256 levels of bitsandbytes' signed dynamic map (create_dynamic_map(signed=True)), sorted.
const std::array<float, 256>& dynamic_map_levels();

/// Elements per dequantized panel of quantized_linear (rows x cols <= this, at least one row).
inline constexpr int64_t kPanelElements = int64_t{1} << 24;
/// Values per block of the double-quantized scales.
inline constexpr int64_t kNestedBlock = 256;

/// One quantized weight [rows, cols] (a checkpoint module).
struct QuantizedTensor {
  QuantKind kind = QuantKind::kNF4;
  int64_t rows = 0, cols = 0, block_size = 64;
  torch::Tensor codes;          // NF4: uint8 [ceil(n / 2)]; int8: int8 [n]
  torch::Tensor absmax;         // float32 [blocks]; undefined when nested
  torch::Tensor nested_codes;   // uint8 [blocks] (double quantization)
  torch::Tensor nested_absmax;  // float32 [ceil(blocks / 256)]
  float nested_offset = 0.0f;

  int64_t numel() const { return rows * cols; }
  int64_t blocks() const { return (numel() + block_size - 1) / block_size; }
  bool nested() const { return nested_codes.defined(); }
  /// The per-block absmax, float32 [blocks] (decoded when nested), on the codes' device.
  torch::Tensor scales() const;
  /// Bytes held (codes and scales).
  int64_t bytes() const;
  QuantizedTensor to(torch::Device device) const;
  /// Checks shapes and dtypes of every tensor against rows, cols, block_size (FormatError naming
  /// `what`): used when a checkpoint supplies the tensors.
  void validate(const std::string& what) const;
};

/// Quantizes w ([rows, cols], any floating dtype, any device: read on the CPU as float32).
/// Throws InvalidArgument for a bad block size or a non-finite weight (naming `what`).
QuantizedTensor quantize(const torch::Tensor& w, const QuantOptions& options, const std::string& what = "weight");

/// Rows [r0, r1) of the dequantized weight, [r1 - r0, cols] in `dtype` on the codes' device.
torch::Tensor dequantize(const QuantizedTensor& q, torch::Dtype dtype, int64_t r0, int64_t r1);
inline torch::Tensor dequantize(const QuantizedTensor& q, torch::Dtype dtype) {
  return dequantize(q, dtype, 0, q.rows);
}
/// The same values computed with ATen ops only (the path of non-CPU devices).
torch::Tensor dequantize_reference(const QuantizedTensor& q, torch::Dtype dtype, int64_t r0, int64_t r1);

/// Several quantized weights with the same cols stacked along rows (a fused q/k/v or gate/up
/// matrix whose parts were quantized as separate modules, as bitsandbytes does).
struct QuantizedMatrix {
  std::vector<QuantizedTensor> parts;
  int64_t rows = 0, cols = 0;

  explicit QuantizedMatrix(std::vector<QuantizedTensor> parts);
  /// Rows [r0, r1) of the stacked dequantized matrix in `dtype`.
  torch::Tensor dequantize(torch::Dtype dtype, int64_t r0, int64_t r1) const;
  torch::Tensor dequantize(torch::Dtype dtype) const { return dequantize(dtype, 0, rows); }
  int64_t bytes() const;
  torch::Device device() const { return parts.front().codes.device(); }
};

/// y = x W^T (+ bias) with W dequantized in `x`'s dtype, kPanelElements at a time: x [..., cols] ->
/// [..., rows]. Differentiable with respect to x only (the base is frozen); the backward pass
/// dequantizes the panels again (dx = dy W, panel contributions summed in row order). For a 2-D x
/// the result is a tensor of its own, not a view, so that a caller may add into it in place.
torch::Tensor quantized_linear(const torch::Tensor& x, const std::shared_ptr<const QuantizedMatrix>& w,
                               const torch::Tensor& bias);

}  // namespace airtune::nn
