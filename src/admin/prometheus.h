// Prometheus text exposition format (version 0.0.4) writer: families with HELP and TYPE lines,
// samples with escaped label values. Pure; the /metrics route fills it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rill::admin {

using labels = std::vector<std::pair<std::string_view, std::string>>;

class prom_writer {
  public:
    // Starts a family. type: "counter", "gauge", "histogram", "untyped". Each family name must
    // be started once; its samples follow before the next family.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const labels& l, double value);
    void sample(std::string_view name, const labels& l, uint64_t value);
    void sample(std::string_view name, const labels& l, int64_t value);

    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

  private:
    void write_labels(const labels& l);
    std::string out_;
};

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);
// Formats a sample value as Prometheus expects (+Inf, -Inf, NaN, shortest round-trip).
std::string format_value(double v);

}  // namespace rill::admin
