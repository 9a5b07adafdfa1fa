// Adapts coordinator::group_coordinator to the admin endpoint's group_source.
// (Awaitables are built in their own statements: GCC 12 may destroy temporaries inside a
// co_await expression twice.)
#pragma once

#include "admin/server.h"
#include "coordinator/group_coordinator.h"

namespace rill::admin {

class coordinator_groups final : public group_source {
  public:
    explicit coordinator_groups(coordinator::group_coordinator& c) : c_(c) {}

    boost::asio::awaitable<std::vector<coordinator::group_view>> list_groups() override {
        co_return co_await c_.list_groups();
    }
    boost::asio::awaitable<std::optional<coordinator::group_view>> describe_group(
        std::string group_id) override {
        auto op = c_.describe_group(std::move(group_id));
        co_return co_await std::move(op);
    }
    boost::asio::awaitable<std::vector<coordinator::partition_lag_view>> group_lag(
        std::string group_id) override {
        auto op = c_.group_lag(std::move(group_id));
        co_return co_await std::move(op);
    }
    boost::asio::awaitable<protocol::error_code> delete_group(std::string group_id) override {
        auto op = c_.delete_group(std::move(group_id));
        co_return co_await std::move(op);
    }

  private:
    coordinator::group_coordinator& c_;
};

}  // namespace rill::admin
