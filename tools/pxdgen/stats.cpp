#include "tools/pxdgen/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "pxdgen/error.hpp"
#include "tools/pxdgen/hdf5_writer.hpp"

namespace pxdgen::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// Charge histogram: bins [-1,1), [1,7), then one per ADU 7..255, plus the two flows.
constexpr int kChargeBins = 2 + (256 - 7);
constexpr int kChargeCounts = kChargeBins + 2;
constexpr int kOccupancyCounts = kOccupancyBins + 2;

int charge_index(int charge) {
  if (charge < 1) return 1;
  if (charge < 7) return 2;
  return 3 + (charge - 7);  // charge <= 255 has been checked, so never the overflow
}

/// Integer binning: bin k holds k * 1e-4 <= fired / 192000 < (k + 1) * 1e-4,
/// decided exactly; in floating point, counts on an edge (fired = 96 is exactly 5e-4)
/// could land on either side.
constexpr uint64_t kInverseOccupancyMax = 50;  // 1 / kOccupancyMax
int occupancy_index(uint64_t fired) {
  const uint64_t numerator = fired * kOccupancyBins * kInverseOccupancyMax;
  const uint64_t denominator = kPixelsPerSensor;
  const uint64_t k = numerator / denominator;
  if (k < static_cast<uint64_t>(kOccupancyBins)) return 1 + static_cast<int>(k);
  // numpy's convention: the upper edge itself belongs to the last bin.
  if (numerator == static_cast<uint64_t>(kOccupancyBins) * denominator) return kOccupancyBins;
  return kOccupancyBins + 1;
}

int find_root(std::vector<int32_t>& parent, int32_t i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];  // path halving keeps the trees flat
    i = parent[i];
  }
  return i;
}

void unite(std::vector<int32_t>& parent, std::vector<int32_t>& size, int32_t a, int32_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a == b) return;
  if (size[a] < size[b]) std::swap(a, b);
  parent[b] = a;
  size[a] += size[b];
}

nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json array_or_nulls(const std::vector<double>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (double x : v) out.push_back(number_or_null(x));
  return out;
}

}  // namespace

std::string sensor_label(int index) {
  const SensorId id = sensor_id(index);
  return std::to_string(id.layer) + "." + std::to_string(id.ladder) + "." + std::to_string(id.sensor);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(n);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && values[order[j]] == values[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (size_t k = i; k < j; ++k) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

EventStatistics::EventStatistics()
    : digits_(kSensors, 0),
      charge_sum_(kSensors, 0),
      fired_sum_sq_(kSensors, 0.0),
      charge_hist_(kChargeCounts, 0),
      occupancy_hist_(kOccupancyCounts, 0),
      cluster_sizes_(1, 0) {}

void EventStatistics::add_event(const std::vector<Digit>& digits) {
  for (size_t i = 0; i < digits.size(); ++i) {
    const std::string problem = hdf5::digit_problem(digits[i]);
    if (!problem.empty()) throw Error("digit " + std::to_string(i) + " of the event has " + problem);
  }

  // Group the digits by sensor (a counting sort: O(digits), any input order).
  std::vector<uint32_t> fired(kSensors, 0);
  for (const Digit& d : digits) ++fired[d.sensor];
  std::vector<size_t> start(kSensors + 1, 0);
  for (int s = 0; s < kSensors; ++s) start[s + 1] = start[s] + fired[s];
  std::vector<size_t> by_sensor(digits.size());
  {
    std::vector<size_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < digits.size(); ++i) by_sensor[next[digits[i].sensor]++] = i;
  }

  // Clusters, one sensor image at a time on a dense slot map that is cleared by undoing
  // only the pixels set, so the work stays proportional to the digits.
  if (pixel_slot_.empty()) pixel_slot_.assign(kPixelsPerSensor, -1);
  std::vector<uint64_t> new_sizes;
  std::vector<int32_t> parent, size;
  for (int s = 0; s < kSensors; ++s) {
    const size_t first = start[s], count = fired[s];
    if (count == 0) continue;
    parent.resize(count);
    size.assign(count, 1);
    std::iota(parent.begin(), parent.end(), 0);
    size_t placed = 0;
    const auto clear = [&] {
      for (size_t j = 0; j < placed; ++j) {
        const Digit& d = digits[by_sensor[first + j]];
        pixel_slot_[d.ucell * kVCells + d.vcell] = -1;
      }
    };
    for (; placed < count; ++placed) {
      const Digit& d = digits[by_sensor[first + placed]];
      int32_t& slot = pixel_slot_[d.ucell * kVCells + d.vcell];
      if (slot >= 0) {
        clear();
        throw Error("the event has two digits on pixel (" + std::to_string(d.ucell) + ", " + std::to_string(d.vcell) +
                    ") of sensor " + sensor_label(s));
      }
      slot = static_cast<int32_t>(placed);
    }
    // Each neighbouring pair is looked at once: from the pixel that comes first in
    // (u, v) order, towards v+1 and the three pixels of row u+1.
    for (size_t j = 0; j < count; ++j) {
      const Digit& d = digits[by_sensor[first + j]];
      const int u = d.ucell, v = d.vcell;
      const auto link = [&](int uu, int vv) {
        if (uu >= kUCells || vv < 0 || vv >= kVCells) return;
        const int32_t other = pixel_slot_[uu * kVCells + vv];
        if (other >= 0) unite(parent, size, static_cast<int32_t>(j), other);
      };
      link(u, v + 1);
      link(u + 1, v - 1);
      link(u + 1, v);
      link(u + 1, v + 1);
    }
    clear();
    for (size_t j = 0; j < count; ++j)
      if (parent[j] == static_cast<int32_t>(j)) new_sizes.push_back(static_cast<uint64_t>(size[j]));
  }

  // Nothing can fail from here on: commit.
  for (uint64_t c : new_sizes) {
    if (c >= cluster_sizes_.size()) cluster_sizes_.resize(c + 1, 0);
    ++cluster_sizes_[c];
  }
  uint64_t total = 0;
  for (const Digit& d : digits) {
    charge_sum_[d.sensor] += d.charge;
    ++charge_hist_[charge_index(d.charge)];
  }
  for (int s = 0; s < kSensors; ++s) {
    digits_[s] += fired[s];
    fired_sum_sq_[s] += static_cast<double>(fired[s]) * fired[s];
    ++occupancy_hist_[occupancy_index(fired[s])];
    fired_.push_back(fired[s]);
    total += fired[s];
  }
  charge_hist_[charge_index(0)] += static_cast<uint64_t>(kSensors) * kPixelsPerSensor - total;
  ++events_;
}

void EventStatistics::merge(const EventStatistics& other) {
  events_ += other.events_;
  for (int s = 0; s < kSensors; ++s) {
    digits_[s] += other.digits_[s];
    charge_sum_[s] += other.charge_sum_[s];
    fired_sum_sq_[s] += other.fired_sum_sq_[s];
  }
  for (size_t i = 0; i < charge_hist_.size(); ++i) charge_hist_[i] += other.charge_hist_[i];
  for (size_t i = 0; i < occupancy_hist_.size(); ++i) occupancy_hist_[i] += other.occupancy_hist_[i];
  if (other.cluster_sizes_.size() > cluster_sizes_.size()) cluster_sizes_.resize(other.cluster_sizes_.size(), 0);
  for (size_t i = 0; i < other.cluster_sizes_.size(); ++i) cluster_sizes_[i] += other.cluster_sizes_[i];
  fired_.insert(fired_.end(), other.fired_.begin(), other.fired_.end());
}

uint64_t EventStatistics::digits() const { return std::accumulate(digits_.begin(), digits_.end(), uint64_t{0}); }

uint64_t EventStatistics::clusters() const {
  return std::accumulate(cluster_sizes_.begin(), cluster_sizes_.end(), uint64_t{0});
}

std::vector<double> EventStatistics::mean_occupancy() const {
  std::vector<double> out(kSensors, kNaN);
  if (events_ == 0) return out;
  for (int s = 0; s < kSensors; ++s)
    out[s] = static_cast<double>(digits_[s]) / (static_cast<double>(events_) * kPixelsPerSensor);
  return out;
}

std::vector<double> EventStatistics::std_occupancy() const {
  std::vector<double> out(kSensors, kNaN);
  if (events_ == 0) return out;
  const double n = static_cast<double>(events_);
  for (int s = 0; s < kSensors; ++s) {
    const double mean = static_cast<double>(digits_[s]) / n;
    const double var = std::max(0.0, fired_sum_sq_[s] / n - mean * mean);
    out[s] = std::sqrt(var) / kPixelsPerSensor;
  }
  return out;
}

std::vector<double> EventStatistics::mean_charge() const {
  std::vector<double> out(kSensors, kNaN);
  for (int s = 0; s < kSensors; ++s)
    if (digits_[s] > 0) out[s] = static_cast<double>(charge_sum_[s]) / static_cast<double>(digits_[s]);
  return out;
}

std::vector<double> EventStatistics::charge_edges() {
  std::vector<double> edges = {-1.0, 1.0};
  for (int c = 7; c <= 256; ++c) edges.push_back(c);
  return edges;
}

std::vector<double> EventStatistics::occupancy_edges() {
  std::vector<double> edges(kOccupancyBins + 1);
  for (int k = 0; k <= kOccupancyBins; ++k) edges[k] = kOccupancyMax * k / kOccupancyBins;
  return edges;
}

std::vector<double> EventStatistics::spearman() const {
  std::vector<double> out(static_cast<size_t>(kSensors) * kSensors, kNaN);
  const size_t n = static_cast<size_t>(events_);
  if (n < 2) return out;
  // Ranks are centred and scaled to unit norm once, so each entry is a dot product.
  std::vector<std::vector<double>> z(kSensors);
  std::vector<bool> varies(kSensors, false);
  std::vector<double> column(n);
  for (int s = 0; s < kSensors; ++s) {
    for (size_t e = 0; e < n; ++e) column[e] = fired_[e * kSensors + s];
    std::vector<double> r = average_ranks(column);
    const double mean = 0.5 * static_cast<double>(n + 1);
    double norm = 0;
    for (double& x : r) {
      x -= mean;
      norm += x * x;
    }
    if (norm > 0) {
      varies[s] = true;
      const double inv = 1.0 / std::sqrt(norm);
      for (double& x : r) x *= inv;
    }
    z[s] = std::move(r);
  }
  for (int a = 0; a < kSensors; ++a)
    for (int b = a; b < kSensors; ++b) {
      if (!varies[a] || !varies[b]) continue;
      double dot = 0;
      for (size_t e = 0; e < n; ++e) dot += z[a][e] * z[b][e];
      dot = std::clamp(dot, -1.0, 1.0);
      out[a * kSensors + b] = out[b * kSensors + a] = a == b ? 1.0 : dot;
    }
  return out;
}

nlohmann::json EventStatistics::to_json() const {
  using nlohmann::json;
  json sensors = json::array();
  for (int s = 0; s < kSensors; ++s) sensors.push_back(sensor_label(s));

  const std::vector<double> rho = spearman();
  json matrix = json::array();
  for (int a = 0; a < kSensors; ++a)
    matrix.push_back(array_or_nulls(std::vector<double>(rho.begin() + a * kSensors, rho.begin() + (a + 1) * kSensors)));

  json sizes = json::array(), counts = json::array();
  // Sparse: a few huge clusters would otherwise spell out every empty size up to theirs.
  for (size_t c = 1; c < cluster_sizes_.size(); ++c) {
    if (cluster_sizes_[c] == 0) continue;
    sizes.push_back(c);
    counts.push_back(cluster_sizes_[c]);
  }
  const uint64_t n_clusters = clusters();
  uint64_t clustered_pixels = 0;
  for (size_t c = 1; c < cluster_sizes_.size(); ++c) clustered_pixels += c * cluster_sizes_[c];

  return json{
      {"format", "pxdgen-stats"},
      {"format_version", 1},
      {"events", events_},
      {"digits", digits()},
      {"pixels_per_sensor", kPixelsPerSensor},
      {"sensor_order", "index i = layer 1 ladders 1..8 sensors 1,2 then layer 2 ladders 1..12 sensors 1,2"},
      {"sensors", sensors},
      {"mean_occupancy_per_sensor", array_or_nulls(mean_occupancy())},
      {"std_occupancy_per_sensor", array_or_nulls(std_occupancy())},
      {"mean_charge_per_sensor", array_or_nulls(mean_charge())},
      {"digits_per_sensor", digits_},
      {"intensity_hist",
       {{"edges", charge_edges()},
        {"counts_with_flow", charge_hist_},
        {"note", "all pixels of all images; an empty pixel counts as 0 ADU; counts_with_flow[0] is underflow, "
                 "[-1] overflow; bins [-1,1),[1,7),[7,8),...,[255,256)"}}},
      {"occupancy_hist",
       {{"edges", occupancy_edges()},
        {"counts_with_flow", occupancy_hist_},
        {"note", "per-image occupancy (fraction of pixels > 0), all 40 sensors of all events; counts_with_flow[0] "
                 "is underflow, [-1] overflow"}}},
      {"occupancy_spearman",
       {{"matrix", matrix},
        {"note", "Spearman rank correlation (ties averaged) of the sensors' occupancies over events; null where "
                 "undefined"}}},
      {"cluster_size_hist",
       {{"sizes", sizes},
        {"counts", counts},
        {"clusters", n_clusters},
        {"mean_size", n_clusters > 0 ? json(static_cast<double>(clustered_pixels) / n_clusters) : json(nullptr)},
        {"clusters_per_event", events_ > 0 ? json(static_cast<double>(n_clusters) / events_) : json(nullptr)},
        {"note", "8-connected fired pixels within one sensor image; only sizes that occur are listed"}}},
  };
}

nlohmann::json stats_from_hdf5(const std::string& path) {
  EventStatistics stats;
  const hdf5::FileInfo info = hdf5::read_hdf5_digits(path, [&](uint64_t event, const std::vector<Digit>& digits) {
    try {
      stats.add_event(digits);
    } catch (const Error& e) {
      throw Error("'" + path + "', event " + std::to_string(event) + ": " + e.what());
    }
  });
  nlohmann::json out = stats.to_json();
  out["input"] = {{"path", path},
                  {"model_sha256", info.run.model_sha256},
                  {"family", info.run.family},
                  {"variant", info.run.variant},
                  {"seed", info.run.seed},
                  {"threshold", info.run.threshold},
                  {"first_event", info.run.first_event},
                  {"pxdgen_version", info.pxdgen_version},
                  {"events_completed", info.events_completed},
                  {"complete", info.complete}};
  return out;
}

}  // namespace pxdgen::stats
