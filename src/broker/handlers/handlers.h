// One handler per API key. Each decodes nothing itself (the registry does), checks what it
// must, delegates to storage / cluster / coordinator, and builds the response.
#pragma once

#include "common/asio.h"

#include "broker/request_context.h"
#include "protocol/generated/add_offsets_to_txn.h"
#include "protocol/generated/add_partitions_to_txn.h"
#include "protocol/generated/alter_configs.h"
#include "protocol/generated/alter_partition_reassignments.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/consumer_group_describe.h"
#include "protocol/generated/consumer_group_heartbeat.h"
#include "protocol/generated/create_partitions.h"
#include "protocol/generated/create_topics.h"
#include "protocol/generated/delete_groups.h"
#include "protocol/generated/delete_records.h"
#include "protocol/generated/delete_topics.h"
#include "protocol/generated/describe_cluster.h"
#include "protocol/generated/describe_configs.h"
#include "protocol/generated/describe_groups.h"
#include "protocol/generated/describe_log_dirs.h"
#include "protocol/generated/describe_producers.h"
#include "protocol/generated/describe_transactions.h"
#include "protocol/generated/elect_leaders.h"
#include "protocol/generated/end_txn.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/find_coordinator.h"
#include "protocol/generated/heartbeat.h"
#include "protocol/generated/incremental_alter_configs.h"
#include "protocol/generated/init_producer_id.h"
#include "protocol/generated/join_group.h"
#include "protocol/generated/leave_group.h"
#include "protocol/generated/list_groups.h"
#include "protocol/generated/list_offsets.h"
#include "protocol/generated/list_partition_reassignments.h"
#include "protocol/generated/list_transactions.h"
#include "protocol/generated/metadata.h"
#include "protocol/generated/offset_commit.h"
#include "protocol/generated/offset_delete.h"
#include "protocol/generated/offset_fetch.h"
#include "protocol/generated/offset_for_leader_epoch.h"
#include "protocol/generated/produce.h"
#include "protocol/generated/sasl_authenticate.h"
#include "protocol/generated/sasl_handshake.h"
#include "protocol/generated/sync_group.h"
#include "protocol/generated/txn_offset_commit.h"

namespace rill::broker {

namespace m = protocol::messages;
template <typename T>
using task = boost::asio::awaitable<T>;

task<m::api_versions_response> handle_api_versions(request_context&, m::api_versions_request&);
task<m::metadata_response> handle_metadata(request_context&, m::metadata_request&);
task<m::create_topics_response> handle_create_topics(request_context&, m::create_topics_request&);
task<m::delete_topics_response> handle_delete_topics(request_context&, m::delete_topics_request&);
task<m::alter_partition_reassignments_response> handle_alter_partition_reassignments(
    request_context&, m::alter_partition_reassignments_request&);
task<m::list_partition_reassignments_response> handle_list_partition_reassignments(
    request_context&, m::list_partition_reassignments_request&);
task<m::elect_leaders_response> handle_elect_leaders(request_context&, m::elect_leaders_request&);
task<m::create_partitions_response> handle_create_partitions(request_context&,
                                                             m::create_partitions_request&);
task<m::describe_configs_response> handle_describe_configs(request_context&,
                                                           m::describe_configs_request&);
task<m::alter_configs_response> handle_alter_configs(request_context&, m::alter_configs_request&);
task<m::incremental_alter_configs_response> handle_incremental_alter_configs(
    request_context&, m::incremental_alter_configs_request&);
task<m::describe_cluster_response> handle_describe_cluster(request_context&,
                                                           m::describe_cluster_request&);
task<m::produce_response> handle_produce(request_context&, m::produce_request&);
// Transactions (handlers/transactions.cc; InitProducerId in init_producer_id.cc).
task<m::add_partitions_to_txn_response> handle_add_partitions_to_txn(
    request_context&, m::add_partitions_to_txn_request&);
task<m::add_offsets_to_txn_response> handle_add_offsets_to_txn(request_context&,
                                                               m::add_offsets_to_txn_request&);
task<m::end_txn_response> handle_end_txn(request_context&, m::end_txn_request&);
task<m::txn_offset_commit_response> handle_txn_offset_commit(request_context&,
                                                             m::txn_offset_commit_request&);
task<m::describe_transactions_response> handle_describe_transactions(
    request_context&, m::describe_transactions_request&);
task<m::list_transactions_response> handle_list_transactions(request_context&,
                                                             m::list_transactions_request&);
// SASL (handlers/sasl.cc); the raw tokens after SaslHandshake v0 come without a request header.
task<m::sasl_handshake_response> handle_sasl_handshake(request_context&,
                                                       m::sasl_handshake_request&);
task<m::sasl_authenticate_response> handle_sasl_authenticate(request_context&,
                                                             m::sasl_authenticate_request&);
net::handler_result handle_sasl_raw_token(const net::connection_info& conn,
                                          const protocol::bytes& frame);
task<m::fetch_response> handle_fetch(request_context&, m::fetch_request&);
task<m::list_offsets_response> handle_list_offsets(request_context&, m::list_offsets_request&);
task<m::delete_records_response> handle_delete_records(request_context&,
                                                       m::delete_records_request&);
task<m::init_producer_id_response> handle_init_producer_id(request_context&,
                                                           m::init_producer_id_request&);
task<m::offset_for_leader_epoch_response> handle_offset_for_leader_epoch(
    request_context&, m::offset_for_leader_epoch_request&);
task<m::describe_log_dirs_response> handle_describe_log_dirs(request_context&,
                                                             m::describe_log_dirs_request&);
task<m::describe_producers_response> handle_describe_producers(request_context&,
                                                               m::describe_producers_request&);

// Consumer groups (handlers/groups.cc and group_offsets.cc: version-specific request and
// response handling; the work is done by coordinator::group_coordinator).
task<m::find_coordinator_response> handle_find_coordinator(request_context&,
                                                           m::find_coordinator_request&);
task<m::join_group_response> handle_join_group(request_context&, m::join_group_request&);
task<m::sync_group_response> handle_sync_group(request_context&, m::sync_group_request&);
task<m::heartbeat_response> handle_heartbeat(request_context&, m::heartbeat_request&);
task<m::leave_group_response> handle_leave_group(request_context&, m::leave_group_request&);
task<m::offset_commit_response> handle_offset_commit(request_context&, m::offset_commit_request&);
task<m::offset_fetch_response> handle_offset_fetch(request_context&, m::offset_fetch_request&);
task<m::list_groups_response> handle_list_groups(request_context&, m::list_groups_request&);
task<m::describe_groups_response> handle_describe_groups(request_context&,
                                                         m::describe_groups_request&);
task<m::delete_groups_response> handle_delete_groups(request_context&, m::delete_groups_request&);
task<m::offset_delete_response> handle_offset_delete(request_context&, m::offset_delete_request&);
// The consumer group protocol of KIP-848 (handlers/consumer_groups.cc).
task<m::consumer_group_heartbeat_response> handle_consumer_group_heartbeat(
    request_context&, m::consumer_group_heartbeat_request&);
task<m::consumer_group_describe_response> handle_consumer_group_describe(
    request_context&, m::consumer_group_describe_request&);

}  // namespace rill::broker
