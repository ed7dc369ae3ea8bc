#!/usr/bin/env bash
# Installs pxdgen's build and test dependencies from Debian packages. Safe to run again.
# usage: scripts/install_deps.sh [--robustness]
#   --robustness: also clang with its sanitizer and libFuzzer runtimes (sanitize.sh, fuzz.sh)
#                 and valgrind (soak.sh)
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libeigen3-dev libdnnl-dev libomp-dev nlohmann-json3-dev libbenchmark-dev doctest-dev
  # oneDNN's CMake package looks for OpenCL (Debian builds it with the OpenCL GPU runtime);
  # it is only a recommendation of libdnnl-dev, which --no-install-recommends skips.
  ocl-icd-opencl-dev
  libhdf5-dev
  python3-torch python3-numpy python3-h5py python3-matplotlib
)
case "${1:-}" in
  "") ;;
  --robustness) packages+=(clang libclang-rt-dev valgrind) ;;
  *) echo "usage: scripts/install_deps.sh [--robustness]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
