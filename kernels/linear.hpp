#pragma once
/// @file linear.hpp
/// The fully connected layer: y(rows, out) = x(rows, in) weight(out, in)^T + bias, weights in
/// PyTorch layout. In the generators it maps each sensor's conditioning vector to the first
/// feature map and to every class-conditional batch norm's gain and bias: per sensor
/// ~10^7 multiply-adds.

namespace pxdgen::kernels {

/// Double accumulation, like the oracle, on the widest ISA of this CPU (chosen with the convolution's, see
/// kernels/dispatch.cpp); ref::linear_f32 is the oracle. `bias` may be null.
void linear_f32(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                float* y);

}  // namespace pxdgen::kernels
