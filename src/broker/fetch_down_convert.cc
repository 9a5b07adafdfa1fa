#include "broker/fetch_down_convert.h"

#include <algorithm>
#include <optional>

#include "broker/errors.h"
#include "protocol/down_convert.h"
#include "storage/partition_log.h"

namespace rill::broker {
namespace {

// Converts one partition; returns the bytes it answers with.
size_t convert_one(down_convert_job& job, int8_t magic, size_t bound) {
    std::optional<protocol::bytes> data;
    if (job.records->has_regions()) {
        storage::read_result read;
        read.regions = job.records->regions();
        read.bytes = job.records->size();
        data = storage::read_into_memory(read);
    } else {
        const protocol::bytes_view v = job.records->view();
        data.emplace(v.begin(), v.end());
    }
    if (!data) {
        *job.error_code = wire(error_code::kafka_storage_error);
        *job.records = protocol::record_data::from_bytes({});
        return 0;
    }
    protocol::down_convert_options o;
    o.magic = magic;
    o.first_offset = job.fetch_offset;
    o.max_bytes = bound;
    auto converted = protocol::down_convert(*data, o);
    if (!converted) {
        *job.error_code = protocol::kafka_error_code(converted.error());
        *job.records = protocol::record_data::from_bytes({});
        return 0;
    }
    const size_t n = converted->data.size();
    *job.records = protocol::record_data::from_bytes(std::move(converted->data));
    return n;
}

}  // namespace

boost::asio::awaitable<void> down_convert_fetch(work_pool& pool, memory_budget* budget,
                                                int16_t version, size_t response_max_bytes,
                                                std::vector<down_convert_job>& jobs) {
    if (jobs.empty()) co_return;
    const int8_t magic = protocol::fetch_magic(version);
    auto work = [&jobs, budget, magic, response_max_bytes] {
        size_t used = 0;
        for (down_convert_job& job : jobs) {
            const size_t left = response_max_bytes - std::min(response_max_bytes, used);
            if (used > 0 && left == 0) {
                *job.records = protocol::record_data::from_bytes({});
                continue;
            }
            const size_t bound = used == 0 ? job.max_bytes : std::min(job.max_bytes, left);
            std::optional<memory_budget::lease> lease;
            if (budget) {
                lease = budget->try_acquire(static_cast<int64_t>(job.records->size() + bound));
                if (!lease && used > 0) {
                    *job.records = protocol::record_data::from_bytes({});
                    continue;
                }
            }
            used += convert_one(job, magic, bound);
        }
        return true;
    };
    auto op = pool.run(work);
    co_await std::move(op);
}

}  // namespace rill::broker
