#include "tools/pxdgen/commands.hpp"

int main(int argc, char** argv) { return pxdgen::cli::run(argc, argv); }
