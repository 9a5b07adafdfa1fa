#include "cli/output.h"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <stdexcept>

namespace rill::cli {

void table::print(std::ostream& os) const {
    std::vector<size_t> width(header_.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    };
    measure(header_);
    for (const auto& r : rows_)
        measure(r);
    auto emit = [&](const std::vector<std::string>& row) {
        std::string line;
        for (size_t i = 0; i < width.size(); ++i) {
            const std::string cell = i < row.size() ? row[i] : std::string();
            line += cell;
            if (i + 1 < width.size()) line += std::string(width[i] - cell.size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        os << line << "\n";
    };
    emit(header_);
    for (const auto& r : rows_)
        emit(r);
}

std::string join_ints(const std::vector<int32_t>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ",";
        out += std::to_string(v[i]);
    }
    return out;
}

std::pair<std::string, std::string> split_key_value(const std::string& s) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument("expected key=value, got '" + s + "'");
    return {s.substr(0, eq), s.substr(eq + 1)};
}

}  // namespace rill::cli
