/*
 * Mailbox events (issue 23 item 6) against the BUILT server (`node dist/src/server.js`) on PostgreSQL: 100 users
 * connect Gmail through the Google emulator (sign-up and connectGmail over the public API; the server watches each
 * mailbox), one webhook endpoint is registered with `npm run admin` (the admin CLI of dist/), and messages are
 * delivered at the emulator's control route (`POST /__emulator/gmail/deliver`), round robin over the users. The
 * emulator's Pub/Sub pushes each to `/google/pubsub` with its OIDC token, as Google's does; the server reads Gmail's
 * history, writes the event and delivers the webhook to a receiver in this process, which verifies every delivery
 * with the `standardwebhooks` package. Measured:
 *
 *  - latency: from just before the control call at the emulator to the verified webhook here (same clock: the
 *    emulator runs in this process), messages paced at BENCH_EVENTS_RATE per second;
 *  - throughput: a burst of messages as fast as the emulator takes them; the server's CPU time (/proc, all threads)
 *    over the burst gives deliveries per second per core;
 *  - Gmail API calls per notification, from the emulator's own request counters.
 *
 *   npm run build && scripts/with-postgres.sh npx tsx bench/mailbox-events.ts   (prints the section)
 *   BENCH_ONLY=events npm run bench                                               (writes it into BENCHMARKS.md)
 *
 * Knobs: BENCH_EVENTS_USERS (100), BENCH_EVENTS_MESSAGES (paced, 600), BENCH_EVENTS_RATE (per second, 20),
 * BENCH_EVENTS_BURST (1000), BENCH_EVENTS_NODE (a node binary), BENCH_EVENTS_PROFILE (a directory: the server runs
 * under --cpu-prof and writes its profile there), DATABASE_URL (else PG_URL).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import { startGoogleEmulator } from '../emulators/google/app.ts'
import { DEFAULT_IOS_CLIENT, DEFAULT_WEB_CLIENT } from '../emulators/google/seeds.ts'
import { GMAIL_READONLY } from '../emulators/google/state.ts'
import { assertBuilt, spawnBuiltServer } from './built-server.ts'
import { fmt, gql } from './load.ts'
import { CONNECT, PASSWORD, SIGN_UP } from './operations.ts'
import { cpuMsOf, LOADGEN_CPU, pinned, pinPostgres, ROOT, sleep } from './processes.ts'

const TOPIC = 'projects/inboxgate-bench/topics/gmail-push'
const PUSH_SA = 'gmail-push@inboxgate-bench.iam.gserviceaccount.com'

export interface MailboxEventsOptions {
  node: string
  databaseUrl: string
  users?: number
  /** Paced messages for the latency figures, and their rate per second. */
  messages?: number
  rate?: number
  /** Messages of the throughput burst. */
  burst?: number
  log?: (line: string) => void
  /** Run the server under `--cpu-prof`, its profile written here at exit. */
  profileDir?: string
}

export interface MailboxEventsResult {
  nodeVersion: string
  users: number
  rate: number
  paced: { messages: number, received: number, p50: number, p90: number, p99: number, max: number, cpuMsPerMessage: number }
  burst: { messages: number, received: number, seconds: number, cpuMs: number, p50: number, p99: number }
  /** Over both phases: requests the emulator counted per push it delivered. */
  perNotification: { gmail: number, token: number, certs: number }
  pushes: number
  pushAttempts: number
  duplicates: number
  rejected: number
  logLevel: string
  /** Database transactions (the cluster's count, idle polling included) per message. */
  transactionsPerMessage: number
  /** The machine's 1-minute load average at the start and the end (this machine is shared). */
  loadavg: [number, number]
}

const quantile = (sorted: number[], q: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!

export async function runMailboxEvents (opts: MailboxEventsOptions): Promise<MailboxEventsResult> {
  assertBuilt()
  const log = opts.log ?? (() => {})
  const usersWanted = opts.users ?? 100
  const rate = opts.rate ?? 20
  const cleanups: Array<() => Promise<unknown>> = []
  const load0 = os.loadavg()[0]!
  try {
    // ---- the emulator, with one mailbox per user ------------------------------------------------------------
    const emails = Array.from({ length: usersWanted }, (_, i) => `events${i}@bench.example`)
    const emulator = await startGoogleEmulator({
      clients: [DEFAULT_WEB_CLIENT, DEFAULT_IOS_CLIENT],
      users: emails.map((email, i) => ({ email, name: `Events ${i}`, messagesTotal: 10, threadsTotal: 10 }))
    })
    cleanups.push(async () => await emulator.close())

    // ---- the webhook receiver: verifies each delivery as a backend does -------------------------------------
    // The endpoint's secret, known once it is registered (below), before any delivery.
    const endpoint: { secret?: string } = {}
    const arrivals = new Map<string, number>()
    let connected = 0
    let duplicates = 0
    let rejected = 0
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const at = performance.now()
        try {
          const event = new Webhook(endpoint.secret!).verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>) as { type: string, data: { messageId?: string } }
          if (event.type === 'gmail.connected') connected++
          if (event.type === 'gmail.message.added') {
            if (arrivals.has(event.data.messageId!)) duplicates++
            else arrivals.set(event.data.messageId!, at)
          }
          res.statusCode = 204
        } catch {
          rejected++
          res.statusCode = 400
        }
        res.end()
      })
    })
    receiver.listen(0, '127.0.0.1')
    await once(receiver, 'listening')
    cleanups.push(async () => await new Promise((resolve) => { receiver.closeAllConnections(); receiver.close(resolve) }))
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`

    // ---- the built server ------------------------------------------------------------------------------------
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-bench-events-'))
    cleanups.push(async () => await rm(dataDir, { recursive: true, force: true }))
    const schema = `bench_events_${randomBytes(4).toString('hex')}`
    const audience = 'http://127.0.0.1/google/pubsub'
    const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info'
    const env: Record<string, string> = {
      LOG_LEVEL: logLevel,
      DATA_DIR: dataDir,
      DATABASE_URL: `${opts.databaseUrl}${opts.databaseUrl.includes('?') ? '&' : '?'}schema=${schema}`,
      DB_POOL_MAX: '10',
      JWT_SECRET: randomBytes(32).toString('hex'),
      LOCAL_VAULT_KEY: randomBytes(32).toString('hex'),
      SIGNUP_MAX_PER_IP: '1000000000',
      GOOGLE_OPS_PER_IP_PER_MINUTE: '1000000000',
      GOOGLE_CLIENT_ID: DEFAULT_WEB_CLIENT.id,
      GOOGLE_CLIENT_SECRET: DEFAULT_WEB_CLIENT.secret,
      GOOGLE_IOS_CLIENT_IDS: DEFAULT_IOS_CLIENT.id,
      GOOGLE_API_BASE_URL: emulator.baseUrl,
      GMAIL_PUSH_TOPIC: TOPIC,
      GMAIL_PUSH_SERVICE_ACCOUNT: PUSH_SA,
      GMAIL_PUSH_AUDIENCE: audience
    }
    const admin = (...args: string[]) => JSON.parse(execFileSync(opts.node, [path.join(ROOT, 'dist', 'src', 'admin', 'cli.js'), ...args], {
      cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']
    })) as Record<string, string>
    const server = await spawnBuiltServer(opts.node, env, opts.profileDir != null ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [])
    cleanups.push(async () => await server.stop())
    const started = performance.now()
    for (;;) {
      if (server.child.exitCode !== null) throw new Error(`server exited before it was ready:\n${server.stderr()}`)
      if (performance.now() - started > 180_000) throw new Error(`server not ready after 180 s\n${server.stderr()}`)
      try { if ((await fetch(`${server.url}/health`)).status === 200) break } catch {}
      await sleep(50)
    }
    const pid = server.child.pid!
    const nodeVersion = execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim()
    emulator.state.push.subscription = { endpoint: `${server.url}/google/pubsub`, audience, serviceAccountEmail: PUSH_SA }

    // One backend (a service client acting for every user) with one endpoint, before anyone connects.
    const client = admin('create-service-client', 'bench-events', '--all-users')
    const hook = admin('create-webhook', client.clientId!, hookUrl)
    endpoint.secret = hook.secret

    // ---- 100 users connect Gmail ----------------------------------------------------------------------------
    log(`connecting ${usersWanted} users`)
    for (let i = 0; i < emails.length; i += 5) {
      await Promise.all(emails.slice(i, i + 5).map(async (email) => {
        const me = await gql(server.url, SIGN_UP, { input: { email: `app-${email}`, password: PASSWORD, client: 'NATIVE' } })
        const g = emulator.state.nativeSignIn({ clientId: DEFAULT_IOS_CLIENT.id, user: email, scopes: [GMAIL_READONLY] })
        const done = await gql(server.url, CONNECT, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, me.signUp.accessToken)
        if (done.connectGmail.status.state !== 'ACTIVE') throw new Error(`connectGmail for ${email}: ${JSON.stringify(done)}`)
      }))
    }
    const waitFor = async (check: () => boolean, what: string, ms = 120_000) => {
      const until = performance.now() + ms
      while (!check()) {
        if (performance.now() > until) throw new Error(`timed out waiting for ${what} (${emulator.state.push.watches.size} watches, ${connected} gmail.connected webhooks)\n${server.stderr()}`)
        await sleep(20)
      }
    }
    await waitFor(() => emulator.state.push.watches.size === usersWanted, 'every mailbox watched')
    await waitFor(() => connected === usersWanted, 'the gmail.connected webhooks')
    log(`${usersWanted} mailboxes watched, ${connected} gmail.connected webhooks received`)

    const sent = new Map<string, number>()
    let next = 0
    const deliver = async () => {
      const email = emails[next++ % emails.length]!
      const t0 = performance.now()
      const res = await fetch(`${emulator.baseUrl}/__emulator/gmail/deliver`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: email, subject: 'Your receipt', body: 'Total: 42.10' })
      })
      const body = await res.json() as { id: string, pushed: string | null }
      if (res.status !== 200 || body.pushed == null) throw new Error(`deliver: HTTP ${res.status} ${JSON.stringify(body)}`)
      sent.set(body.id, t0)
      return body.id
    }
    const latencies = (ids: string[]) => ids.map((id) => arrivals.get(id)! - sent.get(id)!).sort((a, b) => a - b)

    // ---- warm-up, then the paced phase (latency) ---------------------------------------------------------------
    const warm = await Promise.all(Array.from({ length: 20 }, deliver))
    await waitFor(() => warm.every((id) => arrivals.has(id)), 'the warm-up webhooks')
    emulator.state.resetStats()
    const pushes0 = emulator.state.push.deliveries.length
    const attempts0 = emulator.state.push.deliveries.reduce((a, d) => a + d.attempts, 0)

    // Transactions committed in the cluster (each statement outside an explicit transaction is one): the database
    // round trips a message costs. PostgreSQL flushes these counters about once a second, hence the pauses.
    const db = new pg.Client({ connectionString: opts.databaseUrl })
    await db.connect()
    cleanups.push(async () => await db.end())
    const xacts = async () => { await sleep(1500); return Number((await db.query('SELECT sum(xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database')).rows[0].n) }
    const x0 = await xacts()

    const pacedCount = opts.messages ?? 600
    log(`paced: ${pacedCount} messages at ${rate}/s`)
    const pacedIds: string[] = []
    const cpu0 = cpuMsOf(pid)
    const t0 = performance.now()
    const inFlight: Array<Promise<unknown>> = []
    for (let i = 0; i < pacedCount; i++) {
      const due = t0 + i * 1000 / rate
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      inFlight.push(deliver().then((id) => pacedIds.push(id)))
    }
    await Promise.all(inFlight)
    await waitFor(() => pacedIds.every((id) => arrivals.has(id)), 'the paced webhooks')
    const pacedCpu = cpuMsOf(pid) - cpu0
    const pacedLatency = latencies(pacedIds)

    // ---- the burst (throughput per core) -----------------------------------------------------------------------
    await sleep(2000)
    const burstCount = opts.burst ?? 1000
    log(`burst: ${burstCount} messages`)
    const burstIds: string[] = []
    const cpu1 = cpuMsOf(pid)
    const b0 = performance.now()
    let remaining = burstCount
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (remaining-- > 0) burstIds.push(await deliver())
    }))
    await waitFor(() => burstIds.every((id) => arrivals.has(id)), 'the burst webhooks', 600_000)
    const burstSeconds = (Math.max(...burstIds.map((id) => arrivals.get(id)!)) - b0) / 1000
    const burstCpu = cpuMsOf(pid) - cpu1
    const burstLatency = latencies(burstIds)
    const x1 = await xacts()

    const stats = emulator.state.stats().requests
    const pushes = emulator.state.push.deliveries.length - pushes0
    const pushAttempts = emulator.state.push.deliveries.reduce((a, d) => a + d.attempts, 0) - attempts0
    return {
      nodeVersion,
      users: usersWanted,
      rate,
      paced: {
        messages: pacedCount,
        received: pacedIds.filter((id) => arrivals.has(id)).length,
        p50: quantile(pacedLatency, 0.5),
        p90: quantile(pacedLatency, 0.9),
        p99: quantile(pacedLatency, 0.99),
        max: pacedLatency.at(-1)!,
        cpuMsPerMessage: pacedCpu / pacedCount
      },
      burst: { messages: burstCount, received: burstIds.filter((id) => arrivals.has(id)).length, seconds: burstSeconds, cpuMs: burstCpu, p50: quantile(burstLatency, 0.5), p99: quantile(burstLatency, 0.99) },
      perNotification: { gmail: (stats.gmail ?? 0) / pushes, token: (stats.token ?? 0) / pushes, certs: (stats.certs ?? 0) / pushes },
      pushes,
      pushAttempts,
      duplicates,
      rejected,
      logLevel,
      // Less this orchestrator's own two statements per reading, the other ones' sleeps are idle polls of the server.
      transactionsPerMessage: (x1 - x0 - 2) / (pacedCount + burstCount),
      loadavg: [load0, os.loadavg()[0]!]
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {})
  }
}

export function renderMailboxEvents (r: MailboxEventsResult, command: string): string {
  const ms = (x: number) => `${fmt(x, x < 100 ? 1 : 0)} ms`
  const perCore = r.burst.messages / (r.burst.cpuMs / 1000)
  return [
    `## Mailbox events: Gmail push in, webhook out (issue 23; \`${command}\`)`, '',
    `The built server (${r.nodeVersion}, \`LOG_LEVEL=${r.logLevel}\`) on PostgreSQL, ${r.users} users connected through the Google emulator`,
    '(sign-up and `connectGmail` over the API; each mailbox watched by the server), one webhook endpoint (`npm run admin --',
    'create-webhook`) served by the benchmark process, which verifies every delivery with `standardwebhooks`. Each message',
    'is delivered at the emulator (`POST /__emulator/gmail/deliver`, round robin over the users); the emulator\'s Pub/Sub',
    'pushes it to `/google/pubsub` with a signed OIDC token; the server verifies it, reads Gmail\'s history, records the',
    'event and posts the webhook. Latency runs from just before the control call to the verified webhook (one clock: the',
    'emulator lives in the benchmark process). Server CPU is its user + system time from /proc (all threads).', '',
    '| | |', '|---|---|',
    `| delivery → webhook, ${fmt(r.paced.messages)} messages paced at ${r.rate}/s | p50 ${ms(r.paced.p50)}, p90 ${ms(r.paced.p90)}, p99 ${ms(r.paced.p99)}, max ${ms(r.paced.max)} |`,
    `| … server CPU per message at that pace | ${ms(r.paced.cpuMsPerMessage)} |`,
    `| burst of ${fmt(r.burst.messages)} messages (10 at a time at the emulator) | ${fmt(r.burst.messages / r.burst.seconds, 0)} messages/s end to end; latency p50 ${ms(r.burst.p50)}, p99 ${ms(r.burst.p99)} |`,
    `| **deliveries per second per core** (burst messages ÷ server CPU seconds) | **${fmt(perCore, 0)}** (${ms(r.burst.cpuMs / r.burst.messages)} of server CPU per message: push verification, history, outbox, fan-out, signed delivery) |`,
    `| **Gmail API calls per notification** (emulator's counters) | **${fmt(r.perNotification.gmail, 2)}** (\`users.history.list\`); token endpoint ${fmt(r.perNotification.token, 2)}, Google certs ${fmt(r.perNotification.certs, 3)} |`,
    `| database transactions per message (PostgreSQL's count, the idle polls of the watch renewal and the deliverer included) | ${fmt(r.transactionsPerMessage, 1)} |`,
    `| received / sent | ${fmt(r.paced.received + r.burst.received)} / ${fmt(r.paced.messages + r.burst.messages)}; duplicates ${r.duplicates}; failed verification ${r.rejected}; Pub/Sub push attempts ${fmt(r.pushAttempts)} for ${fmt(r.pushes)} pushes |`, '',
    `Caveat: one run on a 2-core machine shared with other jobs (1-minute load average ${fmt(r.loadavg[0], 1)} at the start, ${fmt(r.loadavg[1], 1)} at the end).`,
    'The server runs pinned to one CPU; PostgreSQL, the',
    'emulator, the receiver and this orchestrator share the other, so the latencies include their queueing there. The',
    'call counts and the CPU per message carry over; absolute latencies on a quiet machine (or with PostgreSQL elsewhere)',
    'are lower. The deliverer wakes at once on a new event (no polling wait on the happy path).', ''
  ].join('\n')
}

if (process.argv[1] === import.meta.filename) {
  const databaseUrl = process.env.DATABASE_URL ?? process.env.PG_URL
  if (databaseUrl == null) throw new Error('set DATABASE_URL or PG_URL (scripts/with-postgres.sh sets PG_URL)')
  const n = (name: string, dflt: number) => Number(process.env[name] ?? dflt)
  // As bench/run.ts: this process and PostgreSQL on one CPU, the server (spawnBuiltServer) on the other.
  if (pinned) execFileSync('taskset', ['-a', '-cp', String(LOADGEN_CPU), String(process.pid)], { stdio: 'ignore' })
  pinPostgres(LOADGEN_CPU)
  const result = await runMailboxEvents({
    node: process.env.BENCH_EVENTS_NODE ?? process.execPath,
    databaseUrl,
    users: n('BENCH_EVENTS_USERS', 100),
    messages: n('BENCH_EVENTS_MESSAGES', 600),
    rate: n('BENCH_EVENTS_RATE', 20),
    burst: n('BENCH_EVENTS_BURST', 1000),
    log: (line) => process.stderr.write(`[events] ${line}\n`),
    profileDir: process.env.BENCH_EVENTS_PROFILE
  })
  process.stdout.write(renderMailboxEvents(result, 'npx tsx bench/mailbox-events.ts') + '\n')
  process.exit(0)
}
