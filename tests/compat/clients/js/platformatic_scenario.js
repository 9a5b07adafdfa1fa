// The matrix scenario for @platformatic/kafka. Usage: node platformatic_scenario.js STEP BOOTSTRAP ARGS_JSON
'use strict'
const { Admin, Consumer, Producer, stringSerializers, stringDeserializers } = require('@platformatic/kafka')
const { records, row, waitUntil, groupDone, main } = require('./scenario_util')

const base = bootstrap => ({ clientId: 'matrix-platformatic', bootstrapBrokers: [bootstrap], retries: 3 })
const GROUP_OPTS = { sessionTimeout: 6000, heartbeatInterval: 300, rebalanceTimeout: 10000 }

async function partitionCount (admin, topic) {
  const md = await admin.metadata({ topics: [topic] })
  return md.topics.get(topic).partitionsCount
}

async function create (bootstrap, args) {
  const admin = new Admin(base(bootstrap))
  await admin.createTopics({ topics: [args.topic], partitions: args.partitions, replicas: 1 })
  const n = await partitionCount(admin, args.topic)
  await admin.close()
  return n === args.partitions ? { ok: true } : { ok: false, error: `${n} partitions` }
}

async function produce (bootstrap, args, opts = {}) {
  const producer = new Producer({ ...base(bootstrap), serializers: stringSerializers, autocreateTopics: true, ...opts })
  const messages = [...records(args)].map(r => ({ topic: args.topic, key: r.key, value: r.value, headers: new Map(r.headers) }))
  let count = 0
  for (let i = 0; i < messages.length; i += 250) {
    const batch = messages.slice(i, i + 250)
    await producer.send({ messages: batch, compression: args.codec, acks: -1 })
    count += batch.length
  }
  await producer.close()
  return { ok: true, count }
}

// Its Consumer always joins a group when consuming; fetch() is its partition-level read.
async function consume (bootstrap, args) {
  const consumer = new Consumer({ ...base(bootstrap), groupId: 'matrix-unused' })
  const md = await consumer.metadata({ topics: [args.topic] })
  const topic = md.topics.get(args.topic)
  const next = [...Array(args.partitions).keys()].map(() => 0n)
  const out = []
  const deadline = Date.now() + 30000
  while (out.length < args.count && Date.now() < deadline) {
    for (let p = 0; p < args.partitions; p++) {
      const res = await consumer.fetch({
        node: topic.partitions[p].leader,
        maxWaitTime: 100,
        topics: [{ topicId: topic.id, partitions: [{ partition: p, fetchOffset: next[p], currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: 1048576 }] }]
      })
      for (const t of res.responses) {
        for (const part of t.partitions) {
          if (part.errorCode !== 0) throw new Error(`fetch partition ${part.partitionIndex}: error ${part.errorCode}`)
          for (const batch of part.records || []) {
            for (const r of batch.records) {
              const offset = batch.firstOffset + BigInt(r.offsetDelta)
              if (offset < next[p]) continue
              out.push(row(p, offset, r.key, r.value, r.headers))
              next[p] = offset + 1n
            }
          }
        }
      }
    }
  }
  await consumer.close()
  return { ok: true, records: out, detail: 'no group-less consumer: its fetch()' }
}

async function startMember (bootstrap, groupId, topic, members) {
  const consumer = new Consumer({ ...base(bootstrap), groupId, deserializers: stringDeserializers, ...GROUP_OPTS })
  const m = { consumer, assigned: new Set(), records: [], pos: new Map() }
  consumer.on('consumer:group:join', payload => {
    const a = (payload.assignments || []).find(x => x.topic === topic)
    m.assigned = new Set(a ? a.partitions : [])
  })
  consumer.on('consumer:group:rebalance', () => { m.assigned = new Set() })
  m.stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false, maxWaitTime: 200 })
  m.stream.on('data', msg => {
    m.records.push(row(msg.partition, msg.offset, msg.key, msg.value, [...msg.headers.entries()]))
    m.pos.set(msg.partition, Math.max(m.pos.get(msg.partition) || 0, Number(msg.offset) + 1))
  })
  members.push(m)
  return m
}

async function stopMember (m) {
  await m.stream.close()
  await m.consumer.close()
}

const offsetsOf = (topic, entries) => entries.map(([p, o]) => ({ topic, partition: Number(p), offset: BigInt(o), leaderEpoch: -1 }))

async function group (bootstrap, args) {
  const members = []
  await Promise.all([0, 1].map(() => startMember(bootstrap, args.group, args.topic, members)))
  try {
    await waitUntil(() => groupDone(members, args.ends), 60000, 'group to settle')
  } catch (e) {
    throw new Error(`${e.message}: assignments ${JSON.stringify(members.map(m => [...m.assigned]))}`)
  }
  for (const m of members) {
    await m.consumer.commit({ offsets: offsetsOf(args.topic, [...m.assigned].map(p => [p, args.ends[p] || 0])) })
  }
  const result = members.map(m => ({ assigned: [...m.assigned].sort(), records: m.records }))
  await Promise.all(members.map(stopMember))
  return { ok: true, members: result }
}

async function resume (bootstrap, args) {
  await produce(bootstrap, { ...args, codec: 'none' })
  const m = await startMember(bootstrap, args.group, args.topic, [])
  await waitUntil(() => m.records.length >= args.n, 30000, `${args.n} records`)
  await m.consumer.commit({ offsets: offsetsOf(args.topic, [...m.pos]) })
  await stopMember(m)
  return { ok: true, records: m.records }
}

async function adminTopics (bootstrap, args) {
  const admin = new Admin(base(bootstrap))
  await admin.createTopics({ topics: [args.topic], partitions: args.partitions, replicas: 1 })
  if (!(await admin.listTopics()).includes(args.topic)) return { ok: false, error: 'created topic not listed' }
  if (await partitionCount(admin, args.topic) !== args.partitions) return { ok: false, error: 'describe: wrong partition count' }
  await admin.deleteTopics({ topics: [args.topic] })
  await waitUntil(async () => !(await admin.listTopics()).includes(args.topic), 10000, 'deleted topic to go')
  await admin.close()
  return { ok: true }
}

async function adminGroups (bootstrap, args) {
  const admin = new Admin(base(bootstrap))
  const listed = await admin.listGroups()
  if (!listed.has(args.group)) return { ok: false, error: `listGroups: ${JSON.stringify([...listed.keys()])}` }
  const desc = (await admin.describeGroups({ groups: [args.group] })).get(args.group)
  if (!desc || String(desc.state).toUpperCase() !== 'EMPTY' || desc.protocolType !== 'consumer') {
    return { ok: false, error: `describeGroups: ${JSON.stringify(desc && { state: desc.state, protocolType: desc.protocolType })}` }
  }
  await admin.deleteGroups({ groups: [args.group] })
  const after = await admin.listGroups()
  await admin.close()
  if (after.has(args.group)) return { ok: false, error: 'deleted group still listed' }
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
  idempotent: (b, a) => produce(b, a, { idempotent: true })
})
