#pragma once
/// @file digitizer.hpp
/// From a sensor's network output to digits: the production transform of MODELS.md
/// section 2 (or a user's threshold), rows cropped, only fired pixels emitted.

#include <vector>

#include "pxdgen/pxdgen.hpp"

namespace pxdgen {

/// The charge of one pixel from its tanh output x, exactly as the production code
/// computes it in float32 (0 when the pixel does not fire).
int charge_from_tanh(float x, const OutputTransform& transform);

/// Appends the digits of one 256 x 768 tanh image, cropped to 250 x 768, in (ucell, vcell) order.
void digitize_tanh(const float* image, int sensor, const OutputTransform& transform,
                   std::vector<Digit>& digits);

/// The same from the pre-tanh image, computing tanh only for pixels that can fire:
/// tanh is monotonic, so a pixel below atanh of the lowest firing x is skipped.
/// Gives exactly the digits of digitize_tanh(tanh(logits)).
void digitize_logits(const float* logits, int sensor, const OutputTransform& transform,
                     std::vector<Digit>& digits);

/// Throws pxdgen::Error if a transform's parameters are out of range.
void validate(const OutputTransform& transform);

}  // namespace pxdgen
