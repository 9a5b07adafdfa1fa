// Turns captured client traffic (tests/fuzz/capture.py) into seed inputs of the fuzz targets.
//
//   fuzz_seeds <capture dir> <output dir>
//
// The capture holds requests/<name> (request frames without their size prefix) and
// responses/<api key>_<version>_<name> (response frames). Written, one file per input, named by
// a hash of its contents, under <output dir>/<target>/:
//   request_fuzz     every request frame as captured
//   message_fuzz     every request and response body with its message selector
//   batch_fuzz       each record batch of a Produce v3+ request (flags byte 0 + the batch)
//   legacy_fuzz      each message set of a Produce v0-v2 request (flags byte 0 + the set)
//   decompress_fuzz  the compressed records section of each compressed batch (codec + bytes)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "protocol/frame.h"
#include "protocol/generated/produce.h"
#include "protocol/generated/response_header.h"
#include "protocol/generated/testing/populate.h"
#include "protocol/record_batch_header.h"

namespace fs = std::filesystem;
using namespace rill;
using namespace rill::protocol;
using messages::testing::all_message_cases;
using messages::testing::message_kind;

namespace {

fs::path out_root;
size_t written = 0;

void write_seed(const std::string& target, uint8_t prefix_len, const uint8_t* prefix,
                bytes_view body) {
    bytes all(prefix, prefix + prefix_len);
    all.insert(all.end(), body.begin(), body.end());
    uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable names, duplicates collapse
    for (uint8_t b : all)
        h = (h ^ b) * 1099511628211ULL;
    char name[17];
    std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(h));
    const fs::path dir = out_root / target;
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(all.data()), static_cast<std::streamsize>(all.size()));
    ++written;
}

bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The message_fuzz selector of (kind, api key): the index into all_message_cases().
std::optional<size_t> case_index(message_kind kind, int16_t key) {
    const auto cases = all_message_cases();
    for (size_t i = 0; i < cases.size(); ++i)
        if (cases[i].kind == kind && cases[i].api_key == key) return i;
    return std::nullopt;
}

void message_seed(message_kind kind, int16_t key, int16_t version, bytes_view body) {
    const auto i = case_index(kind, key);
    if (!i) return;
    const auto& c = all_message_cases()[*i];
    const uint8_t sel[3] = {static_cast<uint8_t>(*i >> 8), static_cast<uint8_t>(*i),
                            static_cast<uint8_t>(version - c.min_version)};
    write_seed("message_fuzz", 3, sel, body);
}

void produce_seeds(bytes_view body, int16_t version) {
    reader r(body);
    messages::produce_request req;
    req.decode(r, version);
    if (!r.ok()) return;
    const uint8_t flags = 0;
    for (const auto& t : req.topic_data)
        for (const auto& p : t.partition_data) {
            if (p.records.is_null() || p.records.has_regions()) continue;
            const bytes_view rec = p.records.view();
            if (version < 3) {
                write_seed("legacy_fuzz", 1, &flags, rec);
                continue;
            }
            write_seed("batch_fuzz", 1, &flags, rec);
            const auto h = parse_batch_header(rec);
            if (h && h->codec() != compression_codec::none && rec.size() > kBatchHeaderSize) {
                const uint8_t codec = static_cast<uint8_t>(h->codec());
                write_seed("decompress_fuzz", 1, &codec, rec.subspan(kBatchHeaderSize));
            }
        }
}

void request_seeds(const bytes& frame) {
    write_seed("request_fuzz", 0, nullptr, frame);
    reader r(frame);
    request_header_info h;
    if (decode_request_header(r, h) != header_status::ok) return;
    const bytes_view body = bytes_view(frame).subspan(frame.size() - r.remaining());
    message_seed(message_kind::request, h.api_key, h.api_version, body);
    if (h.api_key == messages::produce_request::api_key) produce_seeds(body, h.api_version);
}

void response_seeds(const std::string& name, const bytes& frame) {
    int key = 0, version = 0;
    if (std::sscanf(name.c_str(), "%d_%d_", &key, &version) != 2) return;
    const auto* api = messages::find_api(static_cast<int16_t>(key));
    if (!api) return;
    reader r(frame);
    messages::response_header hdr;
    hdr.decode(r, api->response_header_version(static_cast<int16_t>(version)));
    if (!r.ok()) return;
    message_seed(message_kind::response, static_cast<int16_t>(key), static_cast<int16_t>(version),
                 bytes_view(frame).subspan(frame.size() - r.remaining()));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: fuzz_seeds <capture dir> <output dir>\n");
        return 2;
    }
    const fs::path in = argv[1];
    out_root = argv[2];
    if (fs::is_directory(in / "requests"))
        for (const auto& e : fs::directory_iterator(in / "requests"))
            request_seeds(read_file(e.path()));
    if (fs::is_directory(in / "responses"))
        for (const auto& e : fs::directory_iterator(in / "responses"))
            response_seeds(e.path().filename().string(), read_file(e.path()));
    std::printf("%zu seeds written under %s\n", written, out_root.c_str());
    return 0;
}
