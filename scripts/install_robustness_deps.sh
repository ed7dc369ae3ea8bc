#!/usr/bin/env bash
# Installs what the robustness scripts need beyond scripts/install_deps.sh: clang with its
# sanitizer and libFuzzer runtimes (fuzz.sh, sanitize.sh) and valgrind (soak.sh). Safe to
# run again.
set -euo pipefail
packages=(clang libclang-rt-dev libomp-dev valgrind)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_robustness_deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install_robustness_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
