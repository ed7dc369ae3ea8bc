#pragma once
/// @file commands.hpp
/// The pxdgen command line: convert, info, generate, bench.

namespace pxdgen::cli {

/// Runs one command line; prints errors to stderr and returns the process exit code
/// (0 success, 1 failure at run time, 2 bad arguments).
int run(int argc, const char* const* argv);

}  // namespace pxdgen::cli
