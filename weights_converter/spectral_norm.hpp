#pragma once
/// @file spectral_norm.hpp
/// Spectral normalization folded into weights once, at conversion (MODELS.md section 4).

#include <cstdint>

namespace pxdgen::converter {

/// sigma of a BigGAN-style SN layer in eval mode: one power-iteration step from the
/// stored u0 (1 x rows), W viewed as (rows, cols):
/// v = normalize(u0 W); u = normalize(v W^T); sigma = v W^T u^T, normalize(x) = x / max(|x|, eps).
double biggan_sigma(const float* weight, int64_t rows, int64_t cols, const float* u0, double eps);

/// sigma of torch.nn.utils.spectral_norm in eval mode: u^T W v with the stored u, v.
double torch_sigma(const float* weight, int64_t rows, int64_t cols, const float* u, const float* v);

}  // namespace pxdgen::converter
