"""Transactions are single-node only for now (issue 16): in cluster mode the transaction
markers could not reach partitions led by other brokers, so a transactional producer is
refused with a clear error instead of starting transactions that could never complete, and
plain producers keep working."""

import unittest

from confluent_kafka import KafkaException, Producer

from cluster_harness import ClusterTestCase, produce_sync


class TransactionsRefusedTest(ClusterTestCase):
    def test_transactional_producer_is_refused(self):
        p = Producer({"bootstrap.servers": self.cluster.bootstrap(),
                      "transactional.id": "cluster-tx", "transaction.timeout.ms": 10000})
        with self.assertRaises(KafkaException):
            p.init_transactions(5)
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.cluster.bootstrap()})
        admin.create_topics([NewTopic("plain", 1, 3)])["plain"].result(30)
        acked, failed = produce_sync(self.cluster.bootstrap(), "plain", range(10), partition=0)
        self.assertFalse(failed)
        self.assertEqual(len(acked), 10)


if __name__ == "__main__":
    unittest.main()
