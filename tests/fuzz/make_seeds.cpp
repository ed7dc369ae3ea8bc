// Writes the seed corpora of the fuzz targets: usage: fuzz_make_seeds SOURCE_DIR OUT_DIR
// (OUT_DIR/checkpoint, OUT_DIR/model_file, OUT_DIR/npy). Checkpoint seeds come from the
// test checkpoints; model seeds are the smallest models of every family the engine can
// run, written by its own writer; .npy seeds cover the header forms numpy writes.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "engine/builtin_model.hpp"
#include "engine/model_file.hpp"
#include "pxdgen/pxdgen.hpp"
#include "tools/pxdgen/npy.hpp"
#include "weights_converter/zip_archive.hpp"

namespace fs = std::filesystem;
using namespace pxdgen;
using namespace std::string_literals;

namespace {

void save(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw Error("cannot write " + path.string());
  std::printf("%8zu  %s\n", bytes.size(), path.string().c_str());
}

std::vector<uint8_t> load(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void checkpoint_seeds(const fs::path& source, const fs::path& out) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(source / "tests/data/checkpoints"))
    if (entry.path().extension() == ".pt") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    const std::vector<uint8_t> bytes = load(file);
    save(out / file.filename(), bytes);
    if (!converter::looks_like_zip(bytes.data(), bytes.size())) continue;
    // The bare pickle: the fuzz target packs it into an archive with fixed storages.
    const converter::ZipArchive zip(bytes.data(), bytes.size(), file.string());
    for (const auto& e : zip.entries())
      if (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0) {
        const converter::ZipView v = zip.read(e);
        save(out / (file.stem().string() + ".pkl"), std::vector<uint8_t>(v.data, v.data + v.size));
      }
  }
}

/// A pickle that calls OrderedDict(pairs) 8192 times on one memoized list of 16384 pairs:
/// 90 kB that made the pickle machine copy 134 million entries (over 2 GB) before calls
/// were charged for what they copy.
std::vector<uint8_t> quadratic_copies_pickle() {
  const std::string head = "\x80\x02" "ccollections\nOrderedDict\nq\x00" "0"  // memo 0: the class
                           "K\x01K\x02\x86q\x01" "0"                          // memo 1: a pair
                           "("s;  // (the s suffix keeps the NUL bytes)
  std::string p = head;
  for (int i = 0; i < 16384; ++i) p += "h\x01";
  p += "lq\x02" "0";  // memo 2: the list of pairs
  for (int i = 0; i < 8192; ++i) p += "h\x00h\x02\x85R0"s;
  p += "N.";
  return std::vector<uint8_t>(p.begin(), p.end());
}

/// One tensor of a hand-made state dict; an empty stride means contiguous.
struct PickledTensor {
  std::string name;
  std::vector<int> shape, stride;
};

/// A torch.save data.pkl (protocol 2) of an OrderedDict of float32 tensors, storage k
/// holding tensor k; the fuzz target supplies the storages.
std::string state_dict_pickle(const std::vector<PickledTensor>& tensors) {
  const auto text = [](const std::string& s) {
    std::string out = "X";
    for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xFF);
    return out + s;
  };
  const auto integer = [](int v) {  // 0..65535: BININT1 or BININT2
    if (v < 256) return "K"s + static_cast<char>(v);
    return "M"s + static_cast<char>(v & 0xFF) + static_cast<char>(v >> 8);
  };
  const auto int_tuple = [&](const std::vector<int>& v) {
    std::string out = "(";
    for (int x : v) out += integer(x);
    return out + "t";
  };
  std::string p = "\x80\x02" "ccollections\nOrderedDict\n)R("s;
  for (size_t k = 0; k < tensors.size(); ++k) {
    const PickledTensor& t = tensors[k];
    std::vector<int> stride = t.stride;
    if (stride.empty()) {
      stride.assign(t.shape.size(), 1);
      for (size_t i = t.shape.size(); i-- > 1;) stride[i - 1] = stride[i] * t.shape[i];
    }
    int numel = 1;
    for (int d : t.shape) numel *= d;
    p += text(t.name) + "ctorch._utils\n_rebuild_tensor_v2\n(";
    p += "(" + text("storage") + "ctorch\nFloatStorage\n" + text(std::to_string(k)) + text("cpu") +
         integer(t.stride.empty() ? numel : 1) + "tQ";
    p += integer(0) + int_tuple(t.shape) + int_tuple(stride) + "\x89" "ccollections\nOrderedDict\n)R" "tR";
  }
  return p + "u.";
}

/// Seeded values in [-scale, scale].
std::vector<float> values(size_t n, float scale, float mean = 0.0f) {
  std::vector<float> v(n);
  uint32_t state = 12345u + static_cast<uint32_t>(n);
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = mean + scale * (static_cast<float>(state >> 8) / 8388608.0f - 1.0f);
  }
  return v;
}

size_t count(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

void add(ModelFileWriter& w, const std::string& name, const std::vector<int64_t>& shape, float scale,
         float mean = 0.0f) {
  const std::vector<float> v = values(count(shape), scale, mean);
  w.add(name, shape, v.data(), StorageType::f32);
}

void add_batchnorm(ModelFileWriter& w, const std::string& prefix, int64_t channels) {
  add(w, prefix + ".weight", {channels}, 0.1f, 1.0f);
  add(w, prefix + ".bias", {channels}, 0.1f);
  add(w, prefix + ".running_mean", {channels}, 0.1f);
  add(w, prefix + ".running_var", {channels}, 0.1f, 1.0f);
}

nlohmann::json header(const std::string& family, nlohmann::json hparams, bool cut) {
  return {{"family", family},
          {"hparams", std::move(hparams)},
          {"output", {{"cut", cut ? nlohmann::json(-0.26) : nlohmann::json(nullptr)}, {"min_charge", 1}}},
          {"provenance", {{"source", "fuzz seed"}}}};
}

/// The PE-GAN variant: a random BigGAN-deep plus the prior table and its two linears.
std::vector<uint8_t> pegan(const RandomBigGanSpec& spec) {
  const auto base = ModelFile::from_bytes(make_random_biggan(spec), "biggan");
  nlohmann::json h = base->header();
  h.erase("tensors");
  h.erase("data_size");
  h["hparams"]["variant"] = "pegan";
  ModelFileWriter w(h);
  for (const TensorEntry& e : base->tensors()) {
    std::vector<float> v(static_cast<size_t>(e.numel()));
    std::memcpy(v.data(), base->data(e), v.size() * sizeof(float));
    w.add(e.name, e.shape, v.data(), StorageType::f32);
  }
  const int64_t features = 2;
  add(w, "prior", {kSensors}, 0.1f, 0.15f);
  add(w, "linear0.weight", {features, 1}, 0.5f);
  add(w, "linear0.bias", {features}, 0.1f);
  add(w, "linear1.weight", {spec.shared_dim, spec.shared_dim + features}, 0.3f);
  add(w, "linear1.bias", {spec.shared_dim}, 0.1f);
  return w.bytes();
}

std::vector<uint8_t> wgan_convnet() {
  ModelFileWriter w(header("wgan_convnet", {{"dim_z", 4}}, false));
  add(w, "fc.weight", {8 * 24, 4}, 0.5f);
  add(w, "fc.bias", {8 * 24}, 0.1f);
  for (int i = 0; i < 5; ++i) {
    add(w, "features." + std::to_string(4 * i) + ".weight", {1, 1, 5, 5}, 0.2f);
    add(w, "features." + std::to_string(4 * i) + ".bias", {1}, 0.1f);
    add_batchnorm(w, "features." + std::to_string(4 * i + 1), 1);
  }
  add(w, "features.20.weight", {1, 1, 5, 5}, 0.2f);
  add(w, "features.20.bias", {1}, 0.1f);
  return w.bytes();
}

std::vector<uint8_t> wgan_resnet() {
  ModelFileWriter w(header("wgan_resnet", {{"dim_z", 4}}, false));
  add(w, "fc.weight", {8 * 24, 4}, 0.5f);
  add(w, "fc.bias", {8 * 24}, 0.1f);
  for (int k = 0; k < 5; ++k) {
    const std::string p = "blocks." + std::to_string(k) + ".";
    add_batchnorm(w, p + "norm1", 1);
    add(w, p + "conv1.weight", {1, 1, 3, 3}, 0.3f);
    add(w, p + "conv1.bias", {1}, 0.1f);
    add_batchnorm(w, p + "norm2", 1);
    add(w, p + "conv2.weight", {1, 1, 3, 3}, 0.3f);
    add(w, p + "conv2.bias", {1}, 0.1f);
    add(w, p + "conv.weight", {1, 1, 1, 1}, 0.5f);
    add(w, p + "conv.bias", {1}, 0.1f);
  }
  add_batchnorm(w, "norm", 1);
  add(w, "conv.weight", {1, 1, 3, 3}, 0.3f);
  add(w, "conv.bias", {1}, 0.1f);
  return w.bytes();
}

/// The smallest stack: linear, reshape to the 4 x 12 bottom, six upsamplings, a "same"
/// convolution (the fused kernels), tanh.
std::vector<uint8_t> sequential_minimal() {
  nlohmann::json layers = {{{"type", "linear"}, {"out", 48}}, {{"type", "reshape"}, {"shape", {1, 4, 12}}}};
  for (int i = 0; i < 6; ++i) layers.push_back({{"type", "upsample"}, {"scale", 2}});
  layers.push_back({{"type", "conv2d"}, {"out", 1}, {"kernel", 3}, {"stride", 1}, {"padding", 1}});
  layers.push_back({{"type", "tanh"}});
  ModelFileWriter w(header("sequential", {{"dim_z", 4}, {"layers", layers}}, false));
  add(w, "0.weight", {48, 4}, 0.5f);
  add(w, "0.bias", {48}, 0.1f);
  add(w, "8.weight", {1, 1, 3, 3}, 0.3f);
  add(w, "8.bias", {1}, 0.1f);
  return w.bytes();
}

/// Every other layer type: strided and unpadded convolutions (the reference loops), a
/// transposed convolution, batch norm and both rectifiers.
std::vector<uint8_t> sequential_all_layers() {
  const nlohmann::json layers = {
      {{"type", "linear"}, {"out", 2 * 9 * 25}},
      {{"type", "reshape"}, {"shape", {2, 9, 25}}},
      {{"type", "conv2d"}, {"out", 2}, {"kernel", 3}, {"stride", 2}, {"padding", 1}},  // 5 x 13
      {{"type", "conv2d"}, {"out", 2}, {"kernel", 2}, {"stride", 1}, {"padding", 0}},  // 4 x 12
      {{"type", "conv_transpose2d"}, {"out", 1}, {"kernel", 4}, {"stride", 2}, {"padding", 1}, {"output_padding", 0}},
      {{"type", "batchnorm2d"}, {"eps", 1e-5}},
      {{"type", "leaky_relu"}, {"slope", 0.2}},
      {{"type", "upsample"}, {"scale", 2}},
      {{"type", "upsample"}, {"scale", 2}},
      {{"type", "upsample"}, {"scale", 2}},
      {{"type", "upsample"}, {"scale", 2}},
      {{"type", "upsample"}, {"scale", 2}},
      {{"type", "relu"}},
      {{"type", "conv2d"}, {"out", 1}, {"kernel", 1}},
      {{"type", "tanh"}}};
  ModelFileWriter w(header("sequential", {{"dim_z", 3}, {"layers", layers}}, true));
  add(w, "0.weight", {2 * 9 * 25, 3}, 0.5f);
  add(w, "0.bias", {2 * 9 * 25}, 0.1f);
  add(w, "2.weight", {2, 2, 3, 3}, 0.3f);
  add(w, "2.bias", {2}, 0.1f);
  add(w, "3.weight", {2, 2, 2, 2}, 0.3f);
  add(w, "4.weight", {2, 1, 4, 4}, 0.3f);
  add(w, "4.bias", {1}, 0.1f);
  add_batchnorm(w, "5", 1);
  add(w, "13.weight", {1, 1, 1, 1}, 0.5f);
  add(w, "13.bias", {1}, -0.3f);
  return w.bytes();
}

/// The same file with its JSON header rewritten (tensor data and checksums unchanged).
std::vector<uint8_t> with_header(const std::vector<uint8_t>& file, const std::function<void(nlohmann::json&)>& edit) {
  uint64_t size;
  std::memcpy(&size, file.data() + 16, 8);
  nlohmann::json h = nlohmann::json::parse(file.begin() + 24, file.begin() + 24 + static_cast<long>(size));
  edit(h);
  const std::string text = h.dump();
  std::vector<uint8_t> out(file.begin(), file.begin() + 16);
  const uint64_t text_size = text.size();
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&text_size), reinterpret_cast<const uint8_t*>(&text_size) + 8);
  out.insert(out.end(), text.begin(), text.end());
  out.resize((out.size() + 63) / 64 * 64, 0);
  out.insert(out.end(), file.begin() + static_cast<long>((24 + size + 63) / 64 * 64), file.end());
  return out;
}

/// Inputs that crashed the reader or made it misbehave before it checked header values
/// (undefined behaviour on floats, negative or huge integers), each as small as it can be
/// while still reaching the code that failed.
void model_regressions(const fs::path& out) {
  const auto biggan = [](nlohmann::json hparams, bool relational) {
    ModelFileWriter w(header("biggan_deep", std::move(hparams), true));
    add(w, "shared.weight", {kSensors, 2}, 1.0f);
    if (relational) {
      const std::string p = "RR_G.layers.0.";
      for (const std::string& norm : {p + "norm1", p + "norm2", std::string("RR_G.norm")}) {
        add(w, norm + ".weight", {2}, 0.1f, 1.0f);
        add(w, norm + ".bias", {2}, 0.1f);
      }
      add(w, p + "self_attn.qkv_proj.weight", {6, 2}, 0.5f);
      add(w, p + "self_attn.o_proj.weight", {2, 2}, 0.5f);
      add(w, p + "linear_net.0.weight", {2, 2}, 0.5f);
      add(w, p + "linear_net.3.weight", {2, 2}, 0.5f);
    }
    return w.bytes();
  };
  const nlohmann::json base = {{"variant", "biggan"}, {"dim_z", 4}, {"depth", 1}};
  nlohmann::json hp = base;
  hp["stages"] = 40;  // shift exponent 40 (undefined)
  save(out / "regress_stages_shift.pxdg", biggan(hp, false));
  hp = base;
  hp["bottom_height"] = -4;  // left shift of a negative value (undefined)
  save(out / "regress_bottom_negative.pxdg", biggan(hp, false));
  hp = base;
  hp["dim_z"] = 2147483647;  // y_dim + dim_z overflows int
  save(out / "regress_dim_z_overflow.pxdg", biggan(hp, false));
  hp = base;
  hp["variant"] = "ieagan_production";
  hp["rrm_heads"] = 0;  // width % heads divides by zero
  save(out / "regress_rrm_heads_zero.pxdg", biggan(hp, true));

  const std::vector<uint8_t> minimal = sequential_minimal();
  // Floats where integers belong: nlohmann converts them to int with undefined behaviour.
  save(out / "regress_float_min_charge.pxdg", with_header(minimal, [](auto& h) { h["output"]["min_charge"] = 1e30; }));
  save(out / "regress_float_offset.pxdg", with_header(minimal, [](auto& h) { h["tensors"][0]["offset"] = 1e30; }));
  save(out / "regress_float_reshape.pxdg",
       with_header(minimal, [](auto& h) { h["hparams"]["layers"][1]["shape"][0] = 1.5e20; }));
  save(out / "regress_float_dim_z.pxdg", with_header(minimal, [](auto& h) { h["hparams"]["dim_z"] = 1e20; }));
  // h + 2 padding overflows int.
  save(out / "regress_padding_overflow.pxdg",
       with_header(minimal, [](auto& h) { h["hparams"]["layers"][8]["padding"] = 2147483647; }));
  // A negative kernel was taken as "any size" by the shape check, then used as a size.
  save(out / "regress_kernel_negative.pxdg", with_header(minimal, [](auto& h) { h["hparams"]["layers"][8]["kernel"] = -1; }));
  // (h - 1) stride overflows int.
  save(out / "regress_transpose_stride_overflow.pxdg",
       with_header(sequential_all_layers(), [](auto& h) { h["hparams"]["layers"][4]["stride"] = 2147483647; }));
  // A negative dim_z loaded, then sized the latent buffers as 40 x -1.
  save(out / "regress_wgan_dim_z_negative.pxdg", with_header(wgan_convnet(), [](auto& h) { h["hparams"]["dim_z"] = -1; }));
}

void model_seeds(const fs::path& out) {
  RandomBigGanSpec spec;
  spec.ch = 2;
  spec.depth = 1;
  spec.dim_z = 4;
  spec.shared_dim = 4;
  spec.attention_stages = {0};
  save(out / "ieagan_production.pxdg", make_random_biggan(spec));
  spec.attention_stages = {};
  spec.variant = "ieagan_research";
  spec.fp16 = true;
  save(out / "ieagan_research_f16.pxdg", make_random_biggan(spec));
  spec.variant = "biggan";
  spec.fp16 = false;
  save(out / "biggan.pxdg", make_random_biggan(spec));
  save(out / "pegan.pxdg", pegan(spec));
  save(out / "wgan_convnet.pxdg", wgan_convnet());
  save(out / "wgan_resnet.pxdg", wgan_resnet());
  save(out / "sequential_minimal.pxdg", sequential_minimal());
  save(out / "sequential_all_layers.pxdg", sequential_all_layers());
  // Each seed must load and run, or it seeds only the rejection paths.
  for (const auto& entry : fs::directory_iterator(out)) {
    if (entry.path().filename().string().rfind("regress_", 0) == 0) continue;
    const Model model = Model::load(entry.path().string());
    Generator generator(model, {Backend::reference, 1, {}, {0}});
    std::printf("  %s: %.3f GMAC/event, %zu digits on sensor 0\n", entry.path().filename().c_str(),
                model.info().gmac_per_event, generator.event(1, 2).size());
  }
}

/// A .npy image with a header exactly as given (padded like numpy pads it).
std::vector<uint8_t> npy_bytes(const std::string& dict, int major, const std::vector<uint8_t>& data) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string text = dict;
  const size_t total = (prefix + text.size() + 1 + 63) / 64 * 64;
  text.append(total - prefix - text.size() - 1, ' ');
  text += '\n';
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  for (size_t i = 0; i < prefix - 8; ++i) out.push_back(static_cast<uint8_t>(text.size() >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <typename T>
std::vector<uint8_t> raw(size_t n) {
  std::vector<uint8_t> out(n * sizeof(T));
  for (size_t i = 0; i < n; ++i) {
    const T v = static_cast<T>(0.25 * static_cast<double>(i) - 1.0);
    std::memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
  }
  return out;
}

void npy_seeds(const fs::path& out) {
  const fs::path tmp = out / "tmp.npy";
  const auto written = [&](const std::vector<int64_t>& shape) {
    npy::Array a;
    a.shape = shape;
    a.values = values(count(shape), 1.0f);
    npy::write(tmp.string(), a);
    const std::vector<uint8_t> bytes = load(tmp);
    fs::remove(tmp);
    return bytes;
  };
  save(out / "latents_40x4.npy", written({40, 4}));
  save(out / "latents_2x40x4.npy", written({2, 40, 4}));
  save(out / "empty_0x40x4.npy", written({0, 40, 4}));
  save(out / "vector.npy", written({3}));
  save(out / "scalar_f8.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 1, raw<double>(1)));
  save(out / "f8_2x3.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 1, raw<double>(6)));
  save(out / "version2.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 2, raw<float>(4)));
  save(out / "version3_fortran_column.npy",
       npy_bytes("{\"descr\": \"<f4\", \"fortran_order\": True, \"shape\": (1, 5L), }", 3, raw<float>(5)));
  save(out / "big_endian.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 1, raw<float>(2)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_make_seeds SOURCE_DIR OUT_DIR\n");
    return 2;
  }
  try {
    const fs::path source = argv[1], out = argv[2];
    for (const char* target : {"checkpoint", "model_file", "npy"}) {
      fs::remove_all(out / target);
      fs::create_directories(out / target);
    }
    checkpoint_seeds(source, out / "checkpoint");
    save(out / "checkpoint" / "regress_quadratic_copies.pkl", quadratic_copies_pickle());
    // The keys of a BigGAN-deep generator without the tensor, or the rank, its shapes are
    // read from: the converter failed with std::out_of_range (map::at, vector::at).
    std::vector<PickledTensor> partial = {{"shared.weight", {40, 4}, {}}};
    for (int k = 0; k < 6; ++k) partial.push_back({"blocks." + std::to_string(k) + ".0.conv1.weight", {1}, {}});
    const std::string missing = state_dict_pickle(partial);
    save(out / "checkpoint" / "regress_biggan_without_linear.pkl", std::vector<uint8_t>(missing.begin(), missing.end()));
    partial[0].shape = {160};
    partial.push_back({"linear.weight", {768, 8}, {0, 0}});  // one value, viewed as 768 x 8
    const std::string flat = state_dict_pickle(partial);
    save(out / "checkpoint" / "regress_biggan_flat_shared.pkl", std::vector<uint8_t>(flat.begin(), flat.end()));
    model_seeds(out / "model_file");
    model_regressions(out / "model_file");
    npy_seeds(out / "npy");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
