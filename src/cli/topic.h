// `rill topic list|describe|create|delete|alter-config|add-partitions`: the kafka-topics.sh and
// (for topic configs) kafka-configs.sh work, over Metadata, CreateTopics, DeleteTopics,
// DescribeConfigs, IncrementalAlterConfigs and CreatePartitions.
#pragma once

#include <functional>

#include "cli/output.h"

namespace CLI {
class App;
}

namespace rill::cli {

// Registers the `topic` noun on `app`. The chosen verb stores its work in `action` (run after
// parsing, with the final global options).
void add_topic_commands(CLI::App& app, const global_options& g, std::function<int()>& action);

}  // namespace rill::cli
