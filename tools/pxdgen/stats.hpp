#pragma once
/// @file stats.hpp
/// Validation statistics of generated events, in the definitions and binnings of the
/// published IEA-GAN evaluation (shared/reference/published_pxd_stats.json), so that a
/// pxdgen run can be put next to the Geant4 and IEA-GAN numbers.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pxdgen/pxdgen.hpp"

namespace pxdgen::stats {

constexpr int kPixelsPerSensor = kUCells * kVCells;  ///< 192 000
/// Per-image occupancy histogram: 200 bins on [0, 0.02], as published.
constexpr int kOccupancyBins = 200;
constexpr double kOccupancyMax = 0.02;

/// Accumulates events of digits. Memory: fixed histograms plus 160 bytes per event (the
/// 40 fired-pixel counts the rank correlation needs).
///
/// Definitions:
/// - occupancy of an image = fired pixels / (250 * 768); per sensor, its mean over events;
/// - mean charge of a sensor = sum of its digits' charges / number of its digits, over all
///   events (NaN when it never fired);
/// - charge histogram: every pixel of every image, edges [-1, 1, 7, 8, ..., 256]; an empty
///   pixel counts as charge 0 (bin [-1, 1)), a digit of charge 1..6 falls in [1, 7);
///   counts_with_flow[0] is underflow and [-1] overflow (both always 0 here);
/// - occupancy histogram: one entry per image (40 per event); an occupancy of exactly 0.02
///   goes in the last bin, above it in the overflow;
/// - Spearman matrix: Pearson correlation of the ranks (ties get their average rank) of
///   the 40 sensors' fired-pixel counts over events; NaN where a sensor's count never varies;
/// - clusters: 8-connected sets of fired pixels within one sensor image.
class EventStatistics {
 public:
  EventStatistics();

  /// Adds one event (any digit order). Throws pxdgen::Error, leaving the statistics as
  /// they were, for a digit out of range or two digits on the same pixel.
  void add_event(const std::vector<Digit>& digits);
  /// Adds another accumulator's events (for statistics gathered in parallel). The
  /// Spearman matrix does not depend on event order, so the result equals a serial pass.
  void merge(const EventStatistics& other);

  uint64_t events() const { return events_; }
  uint64_t digits() const;

  std::vector<double> mean_occupancy() const;  ///< 40
  std::vector<double> std_occupancy() const;   ///< 40, population standard deviation over events
  std::vector<double> mean_charge() const;     ///< 40
  std::vector<uint64_t> digits_per_sensor() const { return digits_; }

  static std::vector<double> charge_edges();     ///< 252 edges
  static std::vector<double> occupancy_edges();  ///< 201 edges
  const std::vector<uint64_t>& charge_counts_with_flow() const { return charge_hist_; }        ///< 253
  const std::vector<uint64_t>& occupancy_counts_with_flow() const { return occupancy_hist_; }  ///< 202

  /// 40 x 40, row-major; NaN where undefined (fewer than 2 events or a constant sensor).
  std::vector<double> spearman() const;

  /// counts[s] = clusters of s pixels (counts[0] is always 0).
  const std::vector<uint64_t>& cluster_size_counts() const { return cluster_sizes_; }
  uint64_t clusters() const;

  /// Everything above, with binnings and the event count. NaN is written as null.
  nlohmann::json to_json() const;

 private:
  uint64_t events_ = 0;
  std::vector<uint64_t> digits_, charge_sum_;
  std::vector<double> fired_sum_sq_;
  std::vector<uint64_t> charge_hist_, occupancy_hist_, cluster_sizes_;
  std::vector<uint32_t> fired_;  ///< events x 40 fired-pixel counts
  std::vector<int32_t> pixel_slot_;  ///< scratch: one sensor image, -1 where empty
};

/// Average ranks (1-based; tied values share the mean of their ranks).
std::vector<double> average_ranks(const std::vector<double>& values);

/// Sensor label "layer.ladder.sensor" of index 0..39.
std::string sensor_label(int index);

/// Statistics of every event of a pxdgen HDF5 digits file (see hdf5_writer.hpp), with the
/// file's run attributes under "input". Throws pxdgen::Error.
nlohmann::json stats_from_hdf5(const std::string& path);

}  // namespace pxdgen::stats
