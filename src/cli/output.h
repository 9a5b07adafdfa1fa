// Output and exit-code conventions of the operator CLI, shared by every noun.
//
//   exit 0  success
//   exit 1  a Kafka error (Kafka's error name and message on stderr)
//   exit 2  bad arguments (CLI11's message and a pointer to --help)
//   exit 3  the broker cannot be reached
//
// Human-readable tables by default (`--format table`), JSON documents for scripts
// (`--format json`, one document on stdout).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace rill::cli {

enum exit_code : int { exit_ok = 0, exit_kafka_error = 1, exit_bad_args = 2, exit_no_broker = 3 };

enum class output_format { table, json };

// Options every command shares (set by the top-level parser).
struct global_options {
    std::string bootstrap = "127.0.0.1:9092";
    int timeout_ms = 30000;
    output_format format = output_format::table;
};

// A left-aligned text table: columns as wide as their widest cell, two spaces apart.
class table {
  public:
    explicit table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const { return rows_.empty(); }
    void print(std::ostream& os) const;

  private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

// "1,2,3" (empty string for none).
std::string join_ints(const std::vector<int32_t>& v);

// Splits "key=value"; throws std::invalid_argument (a bad-argument exit) when there is no '='
// or the key is empty.
std::pair<std::string, std::string> split_key_value(const std::string& s);

}  // namespace rill::cli
