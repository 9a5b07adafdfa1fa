#include "broker/topics.h"

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/partition_manager.h"
#include "common/metrics.h"

namespace rill::broker {

std::optional<cluster::broker_endpoint> advertised_endpoint(const cluster::broker_info& b,
                                                            const std::string& listener_name) {
    for (const auto& ep : b.endpoints)
        if (ep.listener_name == listener_name) return ep;
    if (!b.endpoints.empty()) return b.endpoints.front();
    return std::nullopt;
}

protocol::messages::metadata_response::metadata_response_topic describe_topic(
    const cluster::topic_info& t, const cluster::metadata_snapshot& snap,
    const partition_manager* local) {
    const int32_t self = local ? local->self_id() : -1;
    protocol::messages::metadata_response::metadata_response_topic out;
    out.name = t.name;
    out.topic_id = t.id;
    out.is_internal = t.internal;
    for (const auto& p : t.partitions) {
        protocol::messages::metadata_response::metadata_response_topic::metadata_response_partition
            mp;
        mp.partition_index = p.id;
        mp.leader_id = p.leader;
        mp.leader_epoch = p.leader_epoch;
        mp.replica_nodes = p.replicas;
        mp.isr_nodes = p.isr;
        const bool offline_here = local && local->is_offline({t.name, p.id});
        for (int32_t r : p.replicas) {
            if (!snap.brokers.contains(r) || (r == self && offline_here) ||
                snap.replica_offline(r, t.name, p.id))
                mp.offline_replicas.push_back(r);
        }
        if (offline_here && (p.leader == self || !snap.cluster_mode)) mp.leader_id = -1;
        mp.error_code =
            wire(mp.leader_id < 0 ? error_code::leader_not_available : error_code::none);
        out.partitions.push_back(std::move(mp));
    }
    return out;
}

result<cluster::topic_info, protocol::error_code> auto_create_topic(broker& b,
                                                                    const std::string& name) {
    cluster::new_topic nt;
    nt.name = name;
    auto r = b.metadata().create_topic(nt, false);
    if (r) return *r;
    if (r.error().code == cluster::meta_errc::topic_exists) {
        auto snap = b.metadata().snapshot();
        if (const auto* t = snap->find_topic(name)) return *t;
    }
    return unexpected(to_error_code(r.error().code));
}

result<void, topic_error> delete_topic(broker& b, const cluster::topic_info& t) {
    if (!b.config().get_bool("delete.topic.enable"))
        return unexpected(topic_error{error_code::topic_deletion_disabled,
                                      "Topic deletion is disabled (delete.topic.enable=false)."});
    if (t.internal)
        return unexpected(
            topic_error{error_code::invalid_request, "Internal topics cannot be deleted."});
    if (auto r = b.metadata().delete_topic(t.name); !r)
        return unexpected(topic_error{to_error_code(r.error().code), r.error().message});
    metrics::registry::global().forget_topic(t.name);
    return {};
}

}  // namespace rill::broker
