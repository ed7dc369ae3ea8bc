#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pxdgen/pxdgen.hpp"
#include "tools/pxdgen/hdf5_writer.hpp"
#include "tools/pxdgen/stats.hpp"

using pxdgen::Digit;
using pxdgen::Error;
using pxdgen::stats::EventStatistics;
namespace fs = std::filesystem;

namespace {

Digit px(int sensor, int u, int v, int charge = 10) {
  return {static_cast<uint16_t>(sensor), static_cast<uint16_t>(u), static_cast<uint16_t>(v),
          static_cast<uint16_t>(charge)};
}

/// n isolated pixels (no two touch) on one sensor.
void add_isolated(std::vector<Digit>& event, int sensor, int n, int charge = 10) {
  for (int i = 0; i < n; ++i) event.push_back(px(sensor, 2 * (i / 384), 2 * (i % 384), charge));
}

/// counts[size] of the statistics of one event, trailing zeros dropped.
std::vector<uint64_t> cluster_sizes_of(const std::vector<Digit>& event) {
  EventStatistics s;
  s.add_event(event);
  std::vector<uint64_t> c = s.cluster_size_counts();
  while (!c.empty() && c.back() == 0) c.pop_back();
  return c;
}

}  // namespace

TEST_CASE("clusters: 8-connectivity within a sensor image") {
  // L shape: one cluster of three.
  CHECK(cluster_sizes_of({px(0, 0, 0), px(0, 1, 0), px(0, 1, 1)}) == std::vector<uint64_t>{0, 0, 0, 1});
  // Diagonal and anti-diagonal neighbours connect.
  CHECK(cluster_sizes_of({px(3, 5, 5), px(3, 6, 6)}) == std::vector<uint64_t>{0, 0, 1});
  CHECK(cluster_sizes_of({px(3, 5, 10), px(3, 6, 9)}) == std::vector<uint64_t>{0, 0, 1});
  // A gap of one pixel does not.
  CHECK(cluster_sizes_of({px(3, 10, 10), px(3, 10, 12)}) == std::vector<uint64_t>{0, 2});
  CHECK(cluster_sizes_of({px(3, 10, 10), px(3, 12, 10)}) == std::vector<uint64_t>{0, 2});
  // The same pixel on two sensors: two clusters.
  CHECK(cluster_sizes_of({px(0, 7, 7), px(1, 7, 7)}) == std::vector<uint64_t>{0, 2});
  // The end of row u and the start of row u+1 are far apart on the sensor.
  CHECK(cluster_sizes_of({px(0, 0, 767), px(0, 1, 0)}) == std::vector<uint64_t>{0, 2});
  // Corners of the image.
  CHECK(cluster_sizes_of({px(39, 249, 767), px(39, 248, 766), px(39, 249, 0)}) == std::vector<uint64_t>{0, 1, 1});
  // A U whose arms only meet at the bottom, given in scrambled order: one cluster of 7.
  CHECK(cluster_sizes_of({px(2, 0, 2), px(2, 2, 1), px(2, 0, 0), px(2, 1, 2), px(2, 2, 0), px(2, 2, 2), px(2, 1, 0)}) ==
        std::vector<uint64_t>{0, 0, 0, 0, 0, 0, 0, 1});
  // A full 3x3 block and an isolated pixel.
  std::vector<Digit> block;
  for (int u = 100; u < 103; ++u)
    for (int v = 400; v < 403; ++v) block.push_back(px(20, u, v));
  block.push_back(px(20, 110, 400));
  CHECK(cluster_sizes_of(block) == std::vector<uint64_t>{0, 1, 0, 0, 0, 0, 0, 0, 0, 1});
}

TEST_CASE("clusters: a random event agrees with a flood fill on the dense image") {
  std::mt19937 rng(7);
  std::vector<Digit> event;
  std::vector<std::vector<uint8_t>> image(pxdgen::kSensors, std::vector<uint8_t>(pxdgen::kUCells * pxdgen::kVCells, 0));
  std::uniform_int_distribution<int> sensor(0, 2), u(0, 29), v(0, 59);
  for (int i = 0; i < 1500; ++i) {
    const int s = sensor(rng), uu = u(rng), vv = v(rng);
    if (image[s][uu * pxdgen::kVCells + vv]) continue;
    image[s][uu * pxdgen::kVCells + vv] = 1;
    event.push_back(px(s, uu, vv));
  }
  std::vector<uint64_t> expected(1, 0);
  for (int s = 0; s < 3; ++s)
    for (int start = 0; start < pxdgen::kUCells * pxdgen::kVCells; ++start) {
      if (image[s][start] != 1) continue;
      std::vector<int> stack = {start};
      image[s][start] = 2;
      uint64_t size = 0;
      while (!stack.empty()) {
        const int p = stack.back();
        stack.pop_back();
        ++size;
        const int pu = p / pxdgen::kVCells, pv = p % pxdgen::kVCells;
        for (int du = -1; du <= 1; ++du)
          for (int dv = -1; dv <= 1; ++dv) {
            const int qu = pu + du, qv = pv + dv;
            if (qu < 0 || qu >= pxdgen::kUCells || qv < 0 || qv >= pxdgen::kVCells) continue;
            const int q = qu * pxdgen::kVCells + qv;
            if (image[s][q] == 1) {
              image[s][q] = 2;
              stack.push_back(q);
            }
          }
      }
      if (size >= expected.size()) expected.resize(size + 1, 0);
      ++expected[size];
    }
  CHECK(cluster_sizes_of(event) == expected);
}

TEST_CASE("occupancy, charge and histograms of hand-made events") {
  EventStatistics s;
  // Event 1: sensor 3 has 96 pixels (occupancy exactly 5e-4), sensor 0 has 3 digits of
  // charges 3, 7, 255.
  std::vector<Digit> e1;
  add_isolated(e1, 3, 96, 20);
  e1.push_back(px(0, 0, 0, 3));
  e1.push_back(px(0, 0, 2, 7));
  e1.push_back(px(0, 0, 4, 255));
  // Event 2: sensor 3 has 192 pixels (1e-3), nothing else.
  std::vector<Digit> e2;
  add_isolated(e2, 3, 192, 30);
  s.add_event(e1);
  s.add_event(e2);
  CHECK(s.events() == 2);
  CHECK(s.digits() == 99 + 192);

  const auto occ = s.mean_occupancy();
  CHECK(occ[3] == doctest::Approx((96.0 + 192.0) / 2 / 192000.0));
  CHECK(occ[0] == doctest::Approx(3.0 / 2 / 192000.0));
  CHECK(occ[1] == 0.0);
  CHECK(s.std_occupancy()[3] == doctest::Approx(48.0 / 192000.0));
  const auto charge = s.mean_charge();
  CHECK(charge[3] == doctest::Approx((96.0 * 20 + 192.0 * 30) / 288.0));
  CHECK(charge[0] == doctest::Approx((3.0 + 7.0 + 255.0) / 3.0));
  CHECK(std::isnan(charge[1]));

  const auto& ch = s.charge_counts_with_flow();
  REQUIRE(ch.size() == 253);
  REQUIRE(EventStatistics::charge_edges().size() == 252);
  CHECK(ch[0] == 0);                                          // underflow
  CHECK(ch[1] == 2ull * 40 * 192000 - (99 + 192));            // empty pixels, bin [-1, 1)
  CHECK(ch[2] == 1);                                          // charge 3 in [1, 7)
  CHECK(ch[3] == 1);                                          // charge 7 in [7, 8)
  CHECK(ch[3 + 20 - 7] == 96);                                // [20, 21)
  CHECK(ch[3 + 30 - 7] == 192);                               // [30, 31)
  CHECK(ch[251] == 1);                                        // [255, 256)
  CHECK(ch[252] == 0);                                        // overflow
  CHECK(EventStatistics::charge_edges()[251 - 1] == 255.0);   // bin 251's lower edge

  const auto& oc = s.occupancy_counts_with_flow();
  REQUIRE(oc.size() == 202);
  REQUIRE(EventStatistics::occupancy_edges().size() == 201);
  CHECK(oc[1 + 5] == 1);    // 96 / 192000 = 5e-4 exactly: bin [5e-4, 6e-4)
  CHECK(oc[1 + 10] == 1);   // 1e-3: bin [1e-3, 1.1e-3)
  CHECK(oc[1] == 2 * 40 - 2);  // 3 / 192000 and the empty images are in [0, 1e-4)
  CHECK(oc[0] == 0);
  CHECK(oc[201] == 0);
}

TEST_CASE("occupancy histogram: the upper edge and beyond") {
  EventStatistics s;
  std::vector<Digit> e;
  add_isolated(e, 0, 3840, 10);  // exactly 0.02: last bin
  for (int i = 0; i < 3841; ++i) e.push_back(px(1, i / 768, i % 768));  // just above: overflow
  s.add_event(e);
  CHECK(s.occupancy_counts_with_flow()[200] == 1);
  CHECK(s.occupancy_counts_with_flow()[201] == 1);
}

TEST_CASE("Spearman matrix of sensor occupancies") {
  using pxdgen::stats::average_ranks;
  CHECK(average_ranks({10, 20, 20, 30}) == std::vector<double>{1, 2.5, 2.5, 4});
  CHECK(average_ranks({5, 5, 5}) == std::vector<double>{2, 2, 2});
  CHECK(average_ranks({3, 1, 2}) == std::vector<double>{3, 1, 2});

  EventStatistics s;
  // Sensor 0: 1,2,3,4; sensor 1: 10,20,30,40 (same order, other scale); sensor 2: the
  // reverse; sensor 4: 1,2,2,3 (a tie); sensor 5 never fires.
  const int s0[] = {1, 2, 3, 4}, s1[] = {10, 20, 30, 40}, s2[] = {9, 7, 5, 3}, s4[] = {1, 2, 2, 3};
  for (int e = 0; e < 4; ++e) {
    std::vector<Digit> event;
    add_isolated(event, 0, s0[e]);
    add_isolated(event, 1, s1[e]);
    add_isolated(event, 2, s2[e]);
    add_isolated(event, 4, s4[e]);
    s.add_event(event);
  }
  const std::vector<double> rho = s.spearman();
  const auto at = [&](int a, int b) { return rho[static_cast<size_t>(a) * 40 + b]; };
  CHECK(at(0, 1) == doctest::Approx(1.0));
  CHECK(at(1, 0) == doctest::Approx(1.0));
  CHECK(at(0, 2) == doctest::Approx(-1.0));
  CHECK(at(0, 0) == 1.0);
  // ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
  CHECK(at(0, 4) == doctest::Approx(std::sqrt(0.9)));
  CHECK(std::isnan(at(0, 5)));
  CHECK(std::isnan(at(5, 5)));

  EventStatistics one;
  one.add_event({px(0, 0, 0)});
  CHECK(std::isnan(one.spearman()[1]));
}

TEST_CASE("bad events are refused and leave the statistics untouched") {
  EventStatistics s;
  s.add_event({px(0, 0, 0), px(0, 5, 5)});
  CHECK_THROWS_WITH_AS(s.add_event({px(0, 1, 1), px(0, 1, 1)}), doctest::Contains("two digits on pixel (1, 1)"),
                       Error);
  CHECK_THROWS_WITH_AS(s.add_event({px(40, 0, 0)}), doctest::Contains("sensor 40"), Error);
  CHECK_THROWS_WITH_AS(s.add_event({px(0, 250, 0)}), doctest::Contains("ucell 250"), Error);
  CHECK_THROWS_WITH_AS(s.add_event({px(0, 0, 768)}), doctest::Contains("vcell 768"), Error);
  CHECK_THROWS_WITH_AS(s.add_event({px(0, 0, 0, 0)}), doctest::Contains("charge 0"), Error);
  CHECK(s.events() == 1);
  CHECK(s.digits() == 2);
  CHECK(s.clusters() == 2);
  // The scratch image was cleared after the refusal: the same pixel is fine again.
  s.add_event({px(0, 1, 1), px(0, 1, 2)});
  CHECK(s.cluster_size_counts()[2] == 1);
}

TEST_CASE("merge equals one serial pass") {
  std::mt19937 rng(11);
  std::vector<std::vector<Digit>> events(6);
  for (auto& e : events)
    for (int s = 0; s < 40; ++s) add_isolated(e, s, static_cast<int>(rng() % 50), 1 + static_cast<int>(rng() % 255));
  EventStatistics all, a, b;
  for (size_t i = 0; i < events.size(); ++i) {
    all.add_event(events[i]);
    (i % 2 ? a : b).add_event(events[i]);
  }
  b.merge(a);
  // Events arrive in another order, so sums may differ in the last bit.
  const std::vector<double> rho_merged = b.spearman(), rho_all = all.spearman();
  for (size_t i = 0; i < rho_all.size(); ++i) CHECK(rho_merged[i] == doctest::Approx(rho_all[i]));
  nlohmann::json jm = b.to_json(), ja = all.to_json();
  for (int s = 0; s < 40; ++s)
    CHECK(jm["std_occupancy_per_sensor"][s].get<double>() ==
          doctest::Approx(ja["std_occupancy_per_sensor"][s].get<double>()));
  for (auto* j : {&jm, &ja}) {
    j->erase("occupancy_spearman");
    j->erase("std_occupancy_per_sensor");
  }
  CHECK_MESSAGE(jm == ja, "merged statistics differ from the serial ones");
}

TEST_CASE("to_json layout") {
  EventStatistics s;
  s.add_event({px(0, 0, 0, 12), px(0, 0, 1, 8), px(16, 3, 3, 40)});
  s.add_event({px(0, 0, 0, 12), px(30, 8, 8), px(30, 8, 9), px(30, 9, 8), px(30, 9, 9)});
  const nlohmann::json j = s.to_json();
  CHECK(j["events"] == 2);
  CHECK(j["digits"] == 8);
  REQUIRE(j["sensors"].size() == 40);
  CHECK(j["sensors"][0] == "1.1.1");
  CHECK(j["sensors"][15] == "1.8.2");
  CHECK(j["sensors"][16] == "2.1.1");
  CHECK(j["sensors"][39] == "2.12.2");
  CHECK(j["mean_occupancy_per_sensor"].size() == 40);
  CHECK(j["mean_charge_per_sensor"][0].get<double>() == doctest::Approx(32.0 / 3));
  CHECK(j["mean_charge_per_sensor"][1].is_null());
  CHECK(j["intensity_hist"]["edges"].size() == 252);
  CHECK(j["intensity_hist"]["counts_with_flow"].size() == 253);
  CHECK(j["occupancy_hist"]["edges"].size() == 201);
  CHECK(j["occupancy_hist"]["counts_with_flow"].size() == 202);
  CHECK(j["occupancy_hist"]["edges"][200].get<double>() == doctest::Approx(0.02));
  REQUIRE(j["occupancy_spearman"]["matrix"].size() == 40);
  CHECK(j["occupancy_spearman"]["matrix"][0].size() == 40);
  CHECK(j["occupancy_spearman"]["matrix"][1][1].is_null());
  // Only the sizes that occur: no entry for size 3.
  CHECK(j["cluster_size_hist"]["sizes"] == nlohmann::json::array({1, 2, 4}));
  CHECK(j["cluster_size_hist"]["counts"] == nlohmann::json::array({2, 1, 1}));
  CHECK(j["cluster_size_hist"]["clusters"] == 4);
  CHECK(j["cluster_size_hist"]["clusters_per_event"].get<double>() == doctest::Approx(2.0));
  CHECK(j["cluster_size_hist"]["mean_size"].get<double>() == doctest::Approx(2.0));
  // NaN never reaches the text.
  CHECK(j.dump().find("NaN") == std::string::npos);
  CHECK(nlohmann::json::parse(j.dump()) == j);
}

TEST_CASE("stats_from_hdf5 reads a digits file") {
  const fs::path dir = fs::temp_directory_path() / ("pxdgen_test_stats_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "digits.h5").string();
  std::vector<std::vector<Digit>> events = {{px(0, 0, 0, 12), px(0, 1, 1, 8)}, {}, {px(39, 249, 767, 200)}};
  pxdgen::hdf5::RunAttributes run;
  run.family = "wgan_convnet";
  run.seed = 5;
  {
    pxdgen::hdf5::Hdf5DigitWriter writer(path, run);
    for (size_t e = 0; e < events.size(); ++e) writer.append_event(e, events[e]);
    writer.finish(events.size());
  }
  EventStatistics direct;
  for (const auto& e : events) direct.add_event(e);
  nlohmann::json j = pxdgen::stats::stats_from_hdf5(path);
  CHECK(j["input"]["family"] == "wgan_convnet");
  CHECK(j["input"]["seed"] == 5);
  CHECK(j["input"]["complete"] == true);
  j.erase("input");
  CHECK(j == direct.to_json());
  CHECK_THROWS_AS(pxdgen::stats::stats_from_hdf5((dir / "missing.h5").string()), Error);
  fs::remove_all(dir);
}
