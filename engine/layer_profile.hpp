#pragma once
/// @file layer_profile.hpp
/// The process-wide layer profile behind pxdgen::set_layer_profiling and pxdgen::layer_profile
/// (include/pxdgen/pxdgen.hpp): the layers time their calls here while it is on.

#include <string>

namespace pxdgen::profile {

/// Whether layer calls are being timed (one relaxed atomic load).
bool on();

/// Adds one call of the layer `name` that took `seconds` and computes `flop` (dense count).
void record(const std::string& name, double seconds, double flop);

}  // namespace pxdgen::profile
