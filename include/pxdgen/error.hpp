#pragma once
/// @file error.hpp
/// The one exception type pxdgen throws for bad input (files, arguments, models).

#include <stdexcept>
#include <string>

namespace pxdgen {

/// Raised for every user-facing failure: unreadable or corrupt files, inconsistent
/// models, invalid arguments. The message is meant to be shown to a person as is.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Raised when a model's output holds NaN or Inf: the weights or latents are broken, and
/// digits made from such an output would be garbage.
class NumericError : public Error {
 public:
  using Error::Error;
};

}  // namespace pxdgen
