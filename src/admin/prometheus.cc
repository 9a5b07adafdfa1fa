#include "admin/prometheus.h"

#include <cmath>

#include <fmt/format.h>

namespace rill::admin {

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out.push_back(c);
    }
    return out;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

void prom_writer::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    // HELP text escapes backslash and newline.
    for (char c : help) {
        if (c == '\\')
            out_ += "\\\\";
        else if (c == '\n')
            out_ += "\\n";
        else
            out_.push_back(c);
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void prom_writer::write_labels(const labels& l) {
    if (l.empty()) return;
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : l) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
    }
    out_ += '}';
}

void prom_writer::sample(std::string_view name, const labels& l, double value) {
    out_ += name;
    write_labels(l);
    out_ += ' ';
    out_ += format_value(value);
    out_ += '\n';
}

void prom_writer::sample(std::string_view name, const labels& l, uint64_t value) {
    out_ += name;
    write_labels(l);
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
}

void prom_writer::sample(std::string_view name, const labels& l, int64_t value) {
    out_ += name;
    write_labels(l);
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
}

}  // namespace rill::admin
