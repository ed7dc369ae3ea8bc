#pragma once
/// @file random.hpp
/// Counter-based random numbers: every value is a pure function of (seed, event, sensor,
/// stream, index), so an event never depends on thread count or generation order.

#include <array>
#include <cstdint>

namespace pxdgen {

/// Philox4x32-10 (Salmon et al., SC'11): four 32-bit outputs per 128-bit counter.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

/// Which latent a stream of normals feeds.
enum class LatentStream : uint32_t { z = 0, rdof = 1 };

/// Fills `out[0..n)` with standard normals (Box-Muller on Philox output) for one sensor.
void standard_normals(uint64_t seed, uint64_t event, uint32_t sensor, LatentStream stream,
                      float* out, int n);

}  // namespace pxdgen
