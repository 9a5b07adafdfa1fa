// One handler per API key. Each decodes nothing itself (the registry does), checks what it
// must, delegates to storage / cluster / coordinator, and builds the response.
#pragma once

#include "common/asio.h"

#include "broker/request_context.h"
#include "protocol/generated/alter_configs.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/create_partitions.h"
#include "protocol/generated/create_topics.h"
#include "protocol/generated/delete_records.h"
#include "protocol/generated/delete_topics.h"
#include "protocol/generated/describe_cluster.h"
#include "protocol/generated/describe_configs.h"
#include "protocol/generated/describe_log_dirs.h"
#include "protocol/generated/describe_producers.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/incremental_alter_configs.h"
#include "protocol/generated/init_producer_id.h"
#include "protocol/generated/list_offsets.h"
#include "protocol/generated/metadata.h"
#include "protocol/generated/offset_for_leader_epoch.h"
#include "protocol/generated/produce.h"

namespace rill::broker {

namespace m = protocol::messages;
template <typename T>
using task = boost::asio::awaitable<T>;

task<m::api_versions_response> handle_api_versions(request_context&, m::api_versions_request&);
task<m::metadata_response> handle_metadata(request_context&, m::metadata_request&);
task<m::create_topics_response> handle_create_topics(request_context&, m::create_topics_request&);
task<m::delete_topics_response> handle_delete_topics(request_context&, m::delete_topics_request&);
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

}  // namespace rill::broker
