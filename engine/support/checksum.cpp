#include "engine/support/checksum.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>

#include "pxdgen/error.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define PXDGEN_X86_INTRINSICS 1
#endif

namespace pxdgen {
namespace {

#if defined(PXDGEN_X86_INTRINSICS)
#define PXDGEN_TARGET_PCLMUL __attribute__((target("pclmul,sse4.1")))

/// Lane x moved forward by the distance k's powers of x encode (128 or 512 bits), plus the data
/// found there.
PXDGEN_TARGET_PCLMUL inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

PXDGEN_TARGET_PCLMUL inline __m128i load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

/// The CRC register (not inverted) after `size` more bytes, size >= 64 and a multiple of 16,
/// by carry-less multiplication: four 128-bit lanes are folded 512 bits forward per 64 bytes,
/// then into one lane, then reduced to 32 bits by Barrett's method (the constants are powers
/// of x modulo the bit-reflected polynomial; Intel, "Fast CRC Computation for Generic
/// Polynomials Using PCLMULQDQ Instruction", 2009). The tables' checksums of a 47 MB model
/// were most of its load; on one Zen 5 core, 64 MiB, this ran at 11 GB/s against their 1.9.
PXDGEN_TARGET_PCLMUL uint32_t crc32_fold_pclmul(const uint8_t* p, size_t size, uint32_t crc) {
  const __m128i fold_512 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);  // x^(4*128+32), x^(4*128-32)
  const __m128i fold_128 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);  // x^(128+32), x^(128-32)
  const __m128i fold_64 = _mm_set_epi64x(0, 0x163cd6124);             // x^64
  const __m128i barrett = _mm_set_epi64x(0x1f7011641, 0x1db710641);   // floor(x^64 / P), P
  const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
  __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
  p += 64;
  size -= 64;
  for (; size >= 64; p += 64, size -= 64) {
    x0 = fold(x0, fold_512, load(p));
    x1 = fold(x1, fold_512, load(p + 16));
    x2 = fold(x2, fold_512, load(p + 32));
    x3 = fold(x3, fold_512, load(p + 48));
  }
  x0 = fold(fold(fold(x0, fold_128, x1), fold_128, x2), fold_128, x3);
  for (; size >= 16; p += 16, size -= 16) x0 = fold(x0, fold_128, load(p));
  // 128 -> 64 bits (appending the 32 zero bits a CRC implies), 64 -> 32, then Barrett.
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), _mm_clmulepi64_si128(fold_128, x0, 0x01));
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 4), _mm_clmulepi64_si128(_mm_and_si128(x0, low32), fold_64, 0x00));
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x0, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(t, x0), 1));
}

bool has_pclmul() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}
#endif

/// Slicing-by-8 tables: checksumming a 50 MB model must not dominate its load time.
struct Crc32Tables {
  uint32_t t[8][256];
  Crc32Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  }
};

/// SHA-256's round constants (FIPS 180-4, 4.2.2).
alignas(16) constexpr uint32_t kSha256Rounds[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#if defined(PXDGEN_X86_INTRINSICS)
#define PXDGEN_TARGET_SHA __attribute__((target("sha,sse4.1,ssse3")))

/// `count` 64-byte blocks into the SHA-256 state by the CPU's SHA instructions. They keep the
/// state as two registers, (A, B, E, F) and (C, D, G, H) from the high lane down, and run two
/// rounds per instruction from the sums W[t] + K[t] in the low lanes of a third; the message
/// schedule's sigma terms are two more instructions per four words. The portable compression
/// ran at 0.2 GB/s on one Zen 5 core, so hashing a 47 MB model for a run's provenance took a
/// quarter of a second.
PXDGEN_TARGET_SHA void sha256_compress_shani(uint32_t state[8], const uint8_t* p, size_t count) {
  const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  const __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));
  const __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));
  const __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
  const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
  for (; count > 0; --count, p += 64) {
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i w[4];  // W[4k .. 4k + 3] in w[k % 4], lane j = W[4k + j]
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) {
      __m128i& m = w[k % 4];
      if (k < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k)), byteswap);
      } else {
        // W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16] for t = 4k .. 4k + 3.
        const __m128i w7 = _mm_alignr_epi8(w[(k - 1) % 4], w[(k - 2) % 4], 4);  // W[4k-7 .. 4k-4]
        m = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m, w[(k - 3) % 4]), w7), w[(k - 1) % 4]);
      }
      __m128i wk = _mm_add_epi32(m, _mm_load_si128(reinterpret_cast<const __m128i*>(kSha256Rounds + 4 * k)));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);  // rounds 4k, 4k + 1: now (A, B, E, F)
      wk = _mm_shuffle_epi32(wk, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);  // rounds 4k + 2, 4k + 3; cdgh: (C, D, G, H)
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), _mm_alignr_epi8(dchg, feba, 8));
}

bool has_sha_extensions() {
  __builtin_cpu_init();
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ebx & (1u << 29)) != 0 && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}
#endif

class Sha256 {
 public:
  /// cpu_instructions: by the CPU's SHA instructions where it has them.
  explicit Sha256(bool cpu_instructions = true) {
#if defined(PXDGEN_X86_INTRINSICS)
    static const bool sha_extensions = has_sha_extensions();
    shani_ = cpu_instructions && sha_extensions;
#else
    (void)cpu_instructions;
#endif
  }

  void update(const uint8_t* data, size_t size) {
    total_ += size;
    if (used_ > 0) {
      const size_t take = std::min(size, sizeof block_ - used_);
      std::memcpy(block_ + used_, data, take);
      used_ += take;
      data += take;
      size -= take;
      if (used_ < sizeof block_) return;
      compress(block_, 1);
      used_ = 0;
    }
    const size_t whole = size / sizeof block_;
    if (whole > 0) compress(data, whole);
    data += whole * sizeof block_;
    size -= whole * sizeof block_;
    if (size > 0) std::memcpy(block_, data, size);
    used_ = size;
  }

  std::string hex() {
    const uint64_t bits = total_ * 8;
    const uint8_t one = 0x80, zero = 0;
    update(&one, 1);
    while (used_ != 56) update(&zero, 1);
    uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    update(length, 8);
    std::string out;
    char buf[9];
    for (uint32_t h : state_) {
      std::snprintf(buf, sizeof buf, "%08x", h);
      out += buf;
    }
    return out;
  }

 private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress(const uint8_t* p, size_t count) {
#if defined(PXDGEN_X86_INTRINSICS)
    if (shani_) return sha256_compress_shani(state_, p, count);
#endif
    for (; count > 0; --count, p += sizeof block_) compress_portable(p);
  }

  void compress_portable(const uint8_t* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) | (uint32_t{p[4 * i + 2]} << 8) | p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kSha256Rounds[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state_[0] += a; state_[1] += b; state_[2] += c; state_[3] += d;
    state_[4] += e; state_[5] += f; state_[6] += g; state_[7] += h;
  }

  uint32_t state_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t block_[64] = {};
  size_t used_ = 0;
  bool shani_ = false;
  uint64_t total_ = 0;
};

}  // namespace

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  static const Crc32Tables tables;
  const auto& t = tables.t;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(PXDGEN_X86_INTRINSICS)
  static const bool pclmul = has_pclmul();
  if (pclmul && size >= 64) {
    const size_t folded = size / 16 * 16;
    crc = crc32_fold_pclmul(p, folded, crc);
    p += folded;
    size -= folded;
  }
#endif
  while (size >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) crc = t[0][(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::string sha256_hex(const void* data, size_t size) {
  Sha256 h;
  h.update(static_cast<const uint8_t*>(data), size);
  return h.hex();
}

std::string sha256_hex_portable(const void* data, size_t size) {
  Sha256 h(false);
  h.update(static_cast<const uint8_t*>(data), size);
  return h.hex();
}

std::string sha256_file_hex(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error("cannot open '" + path + "'");
  Sha256 h;
  std::vector<uint8_t> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) h.update(buffer.data(), n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw Error("cannot read '" + path + "'");
  return h.hex();
}

}  // namespace pxdgen
