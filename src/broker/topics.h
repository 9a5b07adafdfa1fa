// Topic helpers shared by handlers: describing a topic for Metadata, auto-creation, endpoints.
#pragma once

#include <optional>
#include <string>

#include "cluster/metadata_store.h"
#include "common/result.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/metadata.h"

namespace rill::broker {

class broker;
class partition_manager;

// The endpoint of `b` for the listener a client connected through (else its first one).
std::optional<cluster::broker_endpoint> advertised_endpoint(const cluster::broker_info& b,
                                                            const std::string& listener_name);

// A topic as Metadata describes it (all partitions, leaders, replicas, ISR). With `local`
// (this broker's partitions), a partition offline here lists this broker in its offline
// replicas, and when this broker is its leader (its only serving copy until the controller
// moves leadership) it answers leader -1 / LEADER_NOT_AVAILABLE, as Kafka does for a
// partition without a live leader.
protocol::messages::metadata_response::metadata_response_topic describe_topic(
    const cluster::topic_info& t, const cluster::metadata_snapshot& snap,
    const partition_manager* local = nullptr);

// Creates `name` with the broker's defaults (auto.create.topics.enable path). A topic created
// concurrently by someone else counts as success.
result<cluster::topic_info, protocol::error_code> auto_create_topic(broker& b,
                                                                    const std::string& name);

struct topic_error {
    protocol::error_code code = protocol::error_code::none;
    std::optional<std::string> message;
};

// Deletes the topic `t` of the current metadata as DeleteTopics does: refused when
// delete.topic.enable is false (TOPIC_DELETION_DISABLED) and for internal topics
// (INVALID_REQUEST); store errors mapped to Kafka codes. Shared with the admin endpoint.
result<void, topic_error> delete_topic(broker& b, const cluster::topic_info& t);

}  // namespace rill::broker
