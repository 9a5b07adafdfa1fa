// The matrix scenario for kafkajs 2.2.4. Usage: node kafkajs_scenario.js STEP BOOTSTRAP ARGS_JSON
'use strict'
const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')
const { records, row, waitUntil, groupDone, main } = require('./scenario_util')

const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }
const GROUP_OPTS = { sessionTimeout: 6000, heartbeatInterval: 300, rebalanceTimeout: 10000, retry: { retries: 3 } }

const kafka = bootstrap => new Kafka({ clientId: 'matrix-kafkajs', brokers: [bootstrap], logLevel: logLevel.ERROR })

const headerRows = headers => Object.entries(headers || {}).map(([k, v]) => [k, v])

async function create (bootstrap, args) {
  const admin = kafka(bootstrap).admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: args.topic, numPartitions: args.partitions, replicationFactor: 1 }], waitForLeaders: true })
  const md = await admin.fetchTopicMetadata({ topics: [args.topic] })
  await admin.disconnect()
  const n = md.topics[0].partitions.length
  return n === args.partitions ? { ok: true } : { ok: false, error: `${n} partitions` }
}

async function produce (bootstrap, args, opts = {}) {
  const producer = kafka(bootstrap).producer({ createPartitioner: Partitioners.DefaultPartitioner, ...opts })
  await producer.connect()
  const messages = [...records(args)].map(r => ({ key: r.key, value: r.value, headers: Object.fromEntries(r.headers) }))
  let count = 0
  for (let i = 0; i < messages.length; i += 250) {
    const res = await producer.send({ topic: args.topic, compression: CODECS[args.codec], acks: -1, messages: messages.slice(i, i + 250) })
    if (res.some(r => r.errorCode !== 0)) throw new Error(`produce errors ${JSON.stringify(res)}`)
    count += Math.min(250, messages.length - i)
  }
  await producer.disconnect()
  return { ok: true, count }
}

// kafkajs has no assign(): its consumer always joins a group. This reads the partitions with
// the library's own Fetch request and record decoding (the cluster object kafkajs builds for
// its clients), which is what "consume by assignment" means on the wire.
async function consume (bootstrap, args) {
  const k = kafka(bootstrap)
  const sym = Object.getOwnPropertySymbols(k).find(s => s.description === 'private:Kafka:createCluster')
  const cluster = k[sym]({ allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addTargetTopic(args.topic)
  const next = new Map([...Array(args.partitions).keys()].map(p => [p, 0]))
  const out = []
  const deadline = Date.now() + 30000
  while (out.length < args.count && Date.now() < deadline) {
    const leaders = cluster.findLeaderForPartitions(args.topic, [...next.keys()])
    for (const [nodeId, partitions] of Object.entries(leaders)) {
      const broker = await cluster.findBroker({ nodeId })
      const res = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime: 100,
        topics: [{ topic: args.topic, partitions: partitions.map(p => ({ partition: p, fetchOffset: String(next.get(p)), maxBytes: 1048576 })) }]
      })
      for (const t of res.responses) {
        for (const p of t.partitions) {
          if (p.errorCode !== 0) throw new Error(`fetch partition ${p.partition}: error ${p.errorCode}`)
          for (const m of p.messages) {
            if (Number(m.offset) < next.get(p.partition)) continue
            out.push(row(p.partition, m.offset, m.key, m.value, headerRows(m.headers)))
            next.set(p.partition, Number(m.offset) + 1)
          }
        }
      }
    }
  }
  await cluster.disconnect()
  return { ok: true, records: out, detail: 'no assign() in kafkajs: its Broker.fetch' }
}

async function startMember (bootstrap, groupId, topic, name, members) {
  const consumer = kafka(bootstrap).consumer({ groupId, ...GROUP_OPTS })
  const m = { consumer, assigned: new Set(), records: [], pos: new Map(), name }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    m.assigned = new Set(e.payload.memberAssignment[topic] || [])
  })
  consumer.on(consumer.events.REBALANCING, () => { m.assigned = new Set() })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      m.records.push(row(partition, message.offset, message.key, message.value, headerRows(message.headers)))
      m.pos.set(partition, Math.max(m.pos.get(partition) || 0, Number(message.offset) + 1))
    }
  })
  members.push(m)
  return m
}

async function group (bootstrap, args) {
  const members = []
  await Promise.all([0, 1].map(i => startMember(bootstrap, args.group, args.topic, `m${i}`, members)))
  try {
    await waitUntil(() => groupDone(members, args.ends), 60000, 'group to settle')
  } catch (e) {
    throw new Error(`${e.message}: assignments ${JSON.stringify(members.map(m => [...m.assigned]))}`)
  }
  for (const m of members) {
    await m.consumer.commitOffsets([...m.assigned].map(p => ({ topic: args.topic, partition: p, offset: String(args.ends[p] || 0) })))
  }
  const result = members.map(m => ({ assigned: [...m.assigned].sort(), records: m.records }))
  await Promise.all(members.map(m => m.consumer.disconnect()))
  return { ok: true, members: result }
}

async function resume (bootstrap, args) {
  await produce(bootstrap, { ...args, codec: 'none' })
  const members = []
  const m = await startMember(bootstrap, args.group, args.topic, 'resume', members)
  await waitUntil(() => m.records.length >= args.n, 30000, `${args.n} records`)
  await m.consumer.commitOffsets([...m.pos].map(([p, o]) => ({ topic: args.topic, partition: p, offset: String(o) })))
  await m.consumer.disconnect()
  return { ok: true, records: m.records }
}

async function adminTopics (bootstrap, args) {
  const admin = kafka(bootstrap).admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: args.topic, numPartitions: args.partitions, replicationFactor: 1 }], waitForLeaders: true })
  if (!(await admin.listTopics()).includes(args.topic)) return { ok: false, error: 'created topic not listed' }
  const md = await admin.fetchTopicMetadata({ topics: [args.topic] })
  if (md.topics[0].partitions.length !== args.partitions) return { ok: false, error: 'describe: wrong partition count' }
  await admin.deleteTopics({ topics: [args.topic] })
  await waitUntil(async () => !(await admin.listTopics()).includes(args.topic), 10000, 'deleted topic to go')
  await admin.disconnect()
  return { ok: true }
}

async function adminGroups (bootstrap, args) {
  const admin = kafka(bootstrap).admin()
  await admin.connect()
  const listed = (await admin.listGroups()).groups
  if (!listed.some(g => g.groupId === args.group)) return { ok: false, error: `listGroups: ${JSON.stringify(listed)}` }
  const desc = (await admin.describeGroups([args.group])).groups
  if (desc.length !== 1 || desc[0].state !== 'Empty' || desc[0].protocolType !== 'consumer') {
    return { ok: false, error: `describeGroups: ${JSON.stringify(desc)}` }
  }
  await admin.deleteGroups([args.group])
  const after = (await admin.listGroups()).groups
  await admin.disconnect()
  if (after.some(g => g.groupId === args.group)) return { ok: false, error: 'deleted group still listed' }
  return { ok: true }
}

main({
  create,
  produce: (b, a) => produce(b, a),
  consume,
  group,
  resume,
  admin_topics: adminTopics,
  admin_groups: adminGroups,
  idempotent: (b, a) => produce(b, a, { idempotent: true, maxInFlightRequests: 1 })
})
