// Shared by the JavaScript scenario programs: the record layout and the step dispatcher.
// Record i of a run tagged T has key "key-<i % 17>", value "T-<i>" and headers tag=T, seq=<i>
// (see tests/compat/test_client_matrix.py).
'use strict'

function * records (args) {
  for (let i = args.start; i < args.start + args.n; i++) {
    yield { key: `key-${i % 17}`, value: `${args.tag}-${i}`, headers: [['tag', args.tag], ['seq', String(i)]] }
  }
}

const str = b => (b === null || b === undefined) ? null : b.toString()

function row (partition, offset, key, value, headers) {
  return [partition, Number(offset), str(key), str(value), headers.map(([k, v]) => [str(k), str(v)])]
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitUntil (cond, ms, what) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await cond()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

// Both members hold partitions, none twice (a member that has not yet seen a rebalance still
// reports its previous set), together all of them, and each read its partitions to `ends`.
function groupDone (members, ends) {
  const [a, b] = members.map(m => m.assigned)
  if (a.size === 0 || b.size === 0 || [...a].some(p => b.has(p))) return false
  if (new Set([...a, ...b]).size !== 3) return false
  return members.every(m => [...m.assigned].every(p => (m.pos.get(p) || 0) >= (ends[p] || 0)))
}

function main (steps) {
  const [step, bootstrap, argsJson] = process.argv.slice(2)
  const args = JSON.parse(argsJson)
  const fn = steps[step]
  const run = fn ? fn(bootstrap, args) : Promise.resolve({ na: `no step ${step}` })
  const timer = setTimeout(() => {}, 1 << 30)
  run.then(res => res, err => {
    console.error(err)
    return { ok: false, error: `${err.name}: ${err.message}` }
  }).then(res => {
    clearTimeout(timer)
    process.stdout.write('\n' + JSON.stringify(res) + '\n', () => process.exit(0))
  })
}

module.exports = { records, row, sleep, waitUntil, groupDone, main }
