// The ZooKeeper metadata store (cluster mode, `zookeeper.connect` set), with Kafka's
// ZooKeeper-era znode layout and JSON (drawn in zk_codecs.h, which encodes and decodes every
// payload).
//
// Reads come from watches: ZooKeeper callbacks only queue events; one store thread re-reads
// what changed, publishes a new snapshot (version + 1) and calls the listeners (on that
// thread). The store thread also runs the controller duties when this broker holds
// /controller: leader election on broker loss/return, ISR shrink, controlled shutdown,
// reassignment completion and (auto.leader.rebalance.enable) preferred leader rebalancing; its
// writes are transactions conditional on the /controller_epoch version it holds and on the
// state znode version.
//
// Writes (create_topic, alter_isr, ...) are synchronous ZooKeeper calls on the caller's thread;
// each returns after this store's own snapshot shows the change. ZooKeeper unreachable:
// meta_errc::unavailable (the last snapshot keeps being served).
//
// The implementation (zk_store_impl.h) is split by job: zk_store.cc (session, registration,
// store thread), zk_metadata_cache.cc (watches -> snapshot), zk_controller.cc (the controller;
// its decisions are the pure zk_controller.h) and zk_writes.cc (the writes).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/metadata_store.h"

namespace rill::cluster {

// Connects (zookeeper.connect, creating its chroot if missing), checks/creates the cluster id
// against `<data_dir>/meta.properties`, registers `self` (waiting for a previous incarnation's
// ephemeral registration to expire), reads the first snapshot and takes part in the controller
// election. Blocks up to zookeeper.connection.timeout.ms (default: the session timeout) for the
// connection. nullptr and *error on failure. `config` must outlive the store.
std::unique_ptr<metadata_store> make_zookeeper_store(const broker_config& config, broker_info self,
                                                     const std::string& data_dir,
                                                     std::string* error);

namespace zk_testing {
// Forces the store's ZooKeeper session to expire (attaches a second client to the session and
// closes it). The store then re-registers on a new session. false if not a ZooKeeper store.
bool expire_session(metadata_store& store);
// Is this store the controller right now?
bool is_controller(const metadata_store& store);
// The children of `path` (empty when missing or not a ZooKeeper store).
std::vector<std::string> children(const metadata_store& store, const std::string& path);
}  // namespace zk_testing

}  // namespace rill::cluster
