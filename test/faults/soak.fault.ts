import { readdirSync } from 'node:fs'
import t from 'tap'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { appUser, connectGmail, googleEmulator, googleEnv, refresh } from './support/clients.ts'
import type { AppUser } from './support/clients.ts'
import { gqlHttp, isClearError, postJson, requirePostgres, serverFixture, sleep, startServer, testSchema } from './support/harness.ts'
import type { HttpResult } from './support/harness.ts'
import { GmailStatusDocument, MeDocument } from '../support/generated/graphql.ts'

// Issue 5, the bounded soak: a server process on PostgreSQL, with the AWS vault (moto) and the Google emulator, under
// a mixed load of virtual users (me, refresh, gmailStatus, connectGmail, getGmailAccessToken) for SOAK_SECONDS
// (default 120). Google's tokens live 305 s against the 300 s refresh margin, so every connected user's token is
// refreshed proactively every few seconds while the soak runs. Asserts: no 5xx and no failed request at all; memory
// stable: every 4 s the server collects its garbage (--expose-gc, GET /__test/memory) and VmRSS is read, and after a
// warm-up the median of the last third of the samples stays within +50 MB of the first third's (heap: +20 MB); never
// more database connections than DB_POOL_MAX, none left once it closes; no file-descriptor leak. Without the forced
// collections RSS mostly measures how far V8 lets its heap grow before collecting (+75 MB over 2 minutes here, with
// a flat live heap). Everything listens on 127.0.0.1 only.

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? '120')
const USERS = Number(process.env.SOAK_USERS ?? '16')
const POOL_MAX = 10
const RSS_GROWTH_LIMIT = 50 * 1024 * 1024
const HEAP_GROWTH_LIMIT = 20 * 1024 * 1024

const cluster = requirePostgres(t)
if (cluster != null) {
  t.test(`soak: ${USERS} virtual users for ${SOAK_SECONDS} s`, async (t) => {
    const moto = await startMoto()
    t.teardown(() => moto.stop())
    useMotoEnv(t, moto)
    const google = await googleEmulator(t, 305)
    const schema = await testSchema(t, cluster, 'soak')
    const fixture = await serverFixture(t)
    const server = await startServer(t, {
      ...fixture,
      databaseUrl: schema.databaseUrl,
      env: { ...googleEnv(google), TOKEN_VAULT: 'aws', DB_POOL_MAX: String(POOL_MAX) },
      nodeArgs: ['--expose-gc']
    })
    const users: AppUser[] = []
    for (let i = 0; i < USERS; i++) users.push(await appUser(server.origin, 'soak', google))

    const origin = server.origin
    const ops: Array<[string, number, (u: AppUser) => Promise<HttpResult>]> = [
      ['me', 30, async (u) => await gqlHttp(origin, MeDocument, {}, u.accessToken)],
      ['gmailStatus', 25, async (u) => await gqlHttp(origin, GmailStatusDocument, {}, u.accessToken)],
      ['getGmailAccessToken', 25, async (u) => await postJson(`${origin}/__test/gmail-token`, {}, u.accessToken)],
      ['refresh', 19, async (u) => await refresh(origin, u)],
      // Each connect hands the server a fresh token (and Google a new refresh token): rarer, or no token would age.
      ['connectGmail', 1, async (u) => await connectGmail(origin, google, u)]
    ]
    const totalWeight = ops.reduce((n, [, w]) => n + w, 0)
    const pick = () => {
      let r = Math.random() * totalWeight
      for (const op of ops) if ((r -= op[1]) < 0) return op
      return ops[0]!
    }

    const counts = new Map<string, number>()
    const failures: Array<{ op: string, res: HttpResult }> = []
    const latencies: number[] = []
    const memory: Array<{ at: number, rss: number, heap: number }> = []
    const connections: number[] = []
    const fds = () => readdirSync(`/proc/${server.pid}/fd`).length
    const fdsAtStart = fds()
    const refreshesAtStart = google.state.stats().grantTypes.refresh_token ?? 0

    const start = Date.now()
    const deadline = start + SOAK_SECONDS * 1000
    const vu = async (u: AppUser) => {
      while (Date.now() < deadline) {
        const [name, , call] = pick()
        const t0 = performance.now()
        const res = await call(u)
        latencies.push(performance.now() - t0)
        counts.set(name, (counts.get(name) ?? 0) + 1)
        const ok = res.status === 200 && res.body != null && (res.body as { errors?: unknown }).errors == null && (name !== 'getGmailAccessToken' || (res.body as { ok?: boolean }).ok === true)
        if (!ok) failures.push({ op: name, res })
        await sleep(5)
      }
    }
    const sampler = async () => {
      while (Date.now() < deadline) {
        const heap = (await (await fetch(`${origin}/__test/memory`)).json()) as { heapUsed: number, collected: boolean }
        if (!heap.collected) throw new Error('the server runs without --expose-gc')
        memory.push({ at: Date.now() - start, rss: server.rss(), heap: heap.heapUsed })
        connections.push(await schema.serverConnections())
        await sleep(4000)
      }
    }
    await Promise.all([...users.map(vu), sampler()])

    const total = [...counts.values()].reduce((a, b) => a + b, 0)
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0)
    t.comment(`${total} requests in ${SOAK_SECONDS} s (${Math.round(total / SOAK_SECONDS)}/s): ${JSON.stringify(Object.fromEntries(counts))}; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms`)
    // connectGmail refreshes once to prove the refresh token works; the rest are getGmailAccessToken's.
    const proactive = (google.state.stats().grantTypes.refresh_token ?? 0) - refreshesAtStart - (counts.get('connectGmail') ?? 0)
    t.comment(`proactive Gmail refreshes during the soak: ${proactive}`)

    t.same(failures.filter((f) => f.res.status >= 500).map((f) => `${f.op} ${f.res.status}`), [], 'zero 5xx')
    t.same(failures.filter((f) => f.res.status === 0).map((f) => `${f.op} ${f.res.networkError ?? ''}`), [], 'no request went unanswered')
    t.same(failures.map((f) => `${f.op}: ${JSON.stringify(f.res.body ?? f.res.text).slice(0, 200)}`), [], 'no request failed at all')
    t.ok(failures.every((f) => isClearError(f.res)), 'and any failure would have been a clear error')
    for (const [name] of ops) t.ok((counts.get(name) ?? 0) > 0, `${name} was exercised`)
    t.ok(proactive >= USERS, `proactive Gmail refreshes happened under load (${proactive})`)

    // Memory: after a warm-up (the first fifth: JIT, caches, pools filling), the last third against the first third.
    const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? 0 }
    const steady = memory.filter((s) => s.at >= SOAK_SECONDS * 1000 / 5)
    const third = Math.max(1, Math.floor(steady.length / 3))
    const growth = (key: 'rss' | 'heap') => {
      const early = median(steady.slice(0, third).map((s) => s[key]))
      const late = median(steady.slice(-third).map((s) => s[key]))
      return { early, late, growth: late - early, max: Math.max(...memory.map((s) => s[key])) }
    }
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`
    const rss = growth('rss')
    const heap = growth('heap')
    t.comment(`after GC, RSS: first third ${mb(rss.early)}, last third ${mb(rss.late)}, max ${mb(rss.max)}; heap used: ${mb(heap.early)} → ${mb(heap.late)} (${memory.length} samples)`)
    t.ok(steady.length >= 6, `enough memory samples after the warm-up (${steady.length})`)
    t.ok(rss.growth <= RSS_GROWTH_LIMIT, `RSS stable: ${mb(rss.growth)} growth (limit ${mb(RSS_GROWTH_LIMIT)})`)
    t.ok(heap.growth <= HEAP_GROWTH_LIMIT, `live heap stable: ${mb(heap.growth)} growth (limit ${mb(HEAP_GROWTH_LIMIT)})`)

    // Database connections: never above the pool size, and all given back when the server closes.
    t.comment(`server connections to PostgreSQL over the soak: max ${Math.max(...connections)}, last ${connections.at(-1)}`)
    t.ok(Math.max(...connections) <= POOL_MAX, `never more than DB_POOL_MAX (${POOL_MAX}) connections`)
    const atEnd = await schema.serverConnections()
    t.ok(atEnd <= POOL_MAX, `${atEnd} connections after the load`)
    t.equal(await schema.listenerConnections(), 1, 'beside the pool, one listening connection (the live-session cache)')
    const fdsAtEnd = fds()
    t.comment(`server file descriptors: ${fdsAtStart} at the start, ${fdsAtEnd} at the end`)
    t.ok(fdsAtEnd <= fdsAtStart + 60, 'no file-descriptor leak')

    // The state the load leaves behind is sound.
    const sessions = await schema.query('SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NOT NULL')
    t.equal(sessions.rows[0].n, 0, 'no session was revoked')
    const rows = await schema.query("SELECT count(*)::int AS n FROM gmail_connections WHERE state = 'ACTIVE'")
    t.equal(rows.rows[0].n, USERS, 'every Gmail connection is ACTIVE')
    for (const u of users) {
      const me = await gqlHttp(origin, MeDocument, {}, u.accessToken)
      if (me.body?.data?.me?.email !== u.email) t.fail(`${u.email}: me after the soak`)
    }

    await server.stop()
    t.equal(await schema.serverConnections(), 0, 'no database connection left once the server has closed')
    t.equal(await schema.listenerConnections(), 0, 'nor its listening connection')
  })
}
