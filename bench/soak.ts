/*
 * A mixed soak against the BUILT server (`node dist/src/server.js`) on PostgreSQL: logins (Argon2), refresh
 * rotations, `me`, `gmailStatus` and `gmailProfile` (which takes the Gmail access token out of custody —
 * getGmailAccessToken, refreshing it at the Google emulator when it nears expiry — and calls the Gmail API), from
 * a few closed-loop workers. Memory is sampled from the server's own /metrics (prom-client's
 * process_resident_memory_bytes, nodejs_heap_size_used_bytes) and /proc; the heap right after each full
 * garbage collection comes from V8's own `--trace-gc` lines on the server's stdout (bench-only flag, no product
 * code forces a GC), and the slope of those over the second half of the run says whether memory is flat.
 *
 *   npm run build && scripts/with-postgres.sh tsx bench/soak.ts
 *
 * Knobs: SOAK_SECONDS (default 600), SOAK_WORKERS (default 8), SOAK_NODE (a node binary), DATABASE_URL (else PG_URL).
 */
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { startGoogleEmulator } from '../emulators/google/app.ts'
import { DEFAULT_IOS_CLIENT, DEFAULT_USERS, DEFAULT_WEB_CLIENT } from '../emulators/google/seeds.ts'
import { GMAIL_READONLY } from '../emulators/google/state.ts'
import { assertBuilt, memoryOf, sleep, spawnBuiltServer } from './built-server.ts'
import type { SpawnedServer } from './built-server.ts'
import { CONNECT, GMAIL_PROFILE, GMAIL_STATUS, LOGIN, ME, PASSWORD, REFRESH, SIGN_UP } from './operations.ts'

/** Share of each operation in the mix; a login is ≈ 50 ms of Argon2 CPU, so it stays a small part. */
const MIX: Array<[Operation, number]> = [['me', 45], ['gmailStatus', 20], ['refresh', 15], ['gmailProfile', 15], ['login', 5]]
type Operation = 'me' | 'gmailStatus' | 'refresh' | 'gmailProfile' | 'login'

export interface SoakSample { t: number, rss: number, heapUsed: number }
export interface SoakResult {
  nodeVersion: string
  seconds: number
  workers: number
  samples: SoakSample[]
  /** Heap after each full GC (Mark-Compact, from --trace-gc), MiB. */
  heapLows: Array<{ t: number, heapUsed: number }>
  /** MiB per minute, least squares over the second half of the run. */
  heapSlope: number
  rssSlope: number
  rssAtRest: number
  rssPeak: number
  ops: Record<Operation, number>
  errors: Record<string, number>
  googleRefreshes: number
}

export interface SoakOptions {
  node: string
  databaseUrl: string
  seconds?: number
  workers?: number
  /** Extra server environment (e.g. MALLOC_ARENA_MAX to compare). */
  env?: Record<string, string | undefined>
  log?: (line: string) => void
}

async function gql (url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<any> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token != null ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables })
  })
  const body = await res.json() as { data?: any, errors?: Array<{ extensions?: { code?: string } }> }
  if (body.errors != null) throw new Error(body.errors[0]?.extensions?.code ?? 'GRAPHQL_ERROR')
  return body.data
}

async function scrapeMemory (url: string): Promise<{ rss: number, heapUsed: number }> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20
  return { rss: value('process_resident_memory_bytes'), heapUsed: value('nodejs_heap_size_used_bytes') }
}

/** Least-squares slope of y over t (seconds), per minute. */
function slopePerMinute (points: Array<{ t: number, y: number }>): number {
  const n = points.length
  if (n < 2) return NaN
  const mt = points.reduce((a, p) => a + p.t, 0) / n
  const my = points.reduce((a, p) => a + p.y, 0) / n
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.y - my), 0)
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0)
  return den === 0 ? NaN : (num / den) * 60
}

async function untilHealthy (server: SpawnedServer): Promise<void> {
  for (const started = performance.now(); ;) {
    if (server.child.exitCode !== null) throw new Error(`the server exited:\n${server.stderr()}`)
    if (performance.now() - started > 180_000) throw new Error(`not ready after 180 s\n${server.stderr()}`)
    try { if ((await fetch(`${server.url}/health`)).ok) return } catch { await sleep(20) }
  }
}

function pick (): Operation {
  let r = Math.random() * MIX.reduce((a, [, w]) => a + w, 0)
  for (const [op, w] of MIX) { if ((r -= w) < 0) return op }
  return 'me'
}

export async function runSoak (opts: SoakOptions): Promise<SoakResult> {
  assertBuilt()
  const seconds = opts.seconds ?? 600
  const workers = opts.workers ?? 8
  const log = opts.log ?? (() => {})
  const nodeVersion = execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim()
  // Google access tokens live 330 s: custody refreshes them within 5 minutes of expiry, so gmailProfile makes
  // the server refresh at the emulator about every 30 s per grant.
  const emulator = await startGoogleEmulator({ clients: [DEFAULT_WEB_CLIENT, DEFAULT_IOS_CLIENT], users: DEFAULT_USERS, accessTokenTtlSeconds: 330 })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-soak-'))
  const url = `${opts.databaseUrl}${opts.databaseUrl.includes('?') ? '&' : '?'}schema=soak_${randomBytes(4).toString('hex')}`
  const serverEnv = {
    DATA_DIR: dir,
    DATABASE_URL: url,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    METRICS_ENABLED: 'true',
    LOG_LEVEL: 'warn',
    LOGIN_MAX_ATTEMPTS_PER_IP: '1000000000',
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '1000000000',
    SIGNUP_MAX_PER_IP: '1000000000',
    GOOGLE_OPS_PER_USER_PER_MINUTE: '1000000000',
    GOOGLE_OPS_PER_IP_PER_MINUTE: '1000000000',
    GOOGLE_CLIENT_ID: DEFAULT_WEB_CLIENT.id,
    GOOGLE_CLIENT_SECRET: DEFAULT_WEB_CLIENT.secret,
    GOOGLE_IOS_CLIENT_IDS: DEFAULT_IOS_CLIENT.id,
    GOOGLE_API_BASE_URL: emulator.baseUrl,
    ...opts.env
  }
  // A first start creates the schema and migrates it; the soak runs on a second one, as a deployment restarts
  // onto an up-to-date schema (the schema engine's WASM would otherwise stay in the figures).
  const migrating = await spawnBuiltServer(opts.node, serverEnv)
  try { await untilHealthy(migrating) } finally { await migrating.stop() }
  const server = await spawnBuiltServer(opts.node, serverEnv, ['--trace-gc'])
  const heapLows: SoakResult['heapLows'] = []
  let t0 = Infinity
  // `[pid:0x…]  12345 ms: Mark-Compact 80.1 (85.0) -> 45.2 (50.1) MB, …`: the heap before and after a full GC.
  createInterface({ input: server.child.stdout! }).on('line', (line) => {
    const m = /Mark-Compact.*?[\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/.exec(line)
    if (m != null && performance.now() >= t0) heapLows.push({ t: (performance.now() - t0) / 1000, heapUsed: Number(m[1]) })
  })
  try {
    await untilHealthy(server)
    const pid = server.child.pid!
    await sleep(2000)
    const rssAtRest = memoryOf(pid).rss

    // One user per worker, each with its own refresh-token chain; two of them hold a Gmail grant.
    const gmailUsers = DEFAULT_USERS.filter((u) => u.emailVerified !== false).map((u) => u.email)
    const sessions = await Promise.all(Array.from({ length: workers }, async (_, i) => {
      const email = `soak${i}@soak.example`
      const { signUp } = await gql(server.url, SIGN_UP, { input: { email, password: PASSWORD, client: 'NATIVE' } })
      const session = { email, access: signUp.accessToken as string, refresh: signUp.refreshToken as string, gmail: i < gmailUsers.length }
      if (session.gmail) {
        const g = emulator.state.nativeSignIn({ clientId: DEFAULT_IOS_CLIENT.id, user: gmailUsers[i]!, scopes: [GMAIL_READONLY] })
        await gql(server.url, CONNECT, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, session.access)
      }
      return session
    }))
    log(`ready: ${workers} workers, RSS at rest ${rssAtRest.toFixed(0)} MiB; soaking ${seconds} s`)

    emulator.state.resetStats()
    const ops = { me: 0, gmailStatus: 0, refresh: 0, gmailProfile: 0, login: 0 }
    const errors: Record<string, number> = {}
    t0 = performance.now()
    const end = t0 + seconds * 1000
    const samples: SoakSample[] = []
    const sampler = (async () => {
      while (performance.now() < end) {
        const m = await scrapeMemory(server.url)
        samples.push({ t: (performance.now() - t0) / 1000, rss: memoryOf(pid).rss, heapUsed: m.heapUsed })
        await sleep(1000)
      }
    })()
    await Promise.all(sessions.map(async (s) => {
      while (performance.now() < end) {
        let op = pick()
        if (op === 'gmailProfile' && !s.gmail) op = 'gmailStatus'
        try {
          if (op === 'me') await gql(server.url, ME, {}, s.access)
          else if (op === 'gmailStatus') await gql(server.url, GMAIL_STATUS, {}, s.access)
          else if (op === 'gmailProfile') await gql(server.url, GMAIL_PROFILE, {}, s.access)
          else if (op === 'refresh') {
            const { refresh } = await gql(server.url, REFRESH, { t: s.refresh })
            s.access = refresh.accessToken; s.refresh = refresh.refreshToken
          } else {
            const { login } = await gql(server.url, LOGIN, { input: { email: s.email, password: PASSWORD, client: 'NATIVE' } })
            s.access = login.accessToken; s.refresh = login.refreshToken
          }
          ops[op]++
        } catch (err) {
          const code = `${op}: ${(err as Error).message}`
          errors[code] = (errors[code] ?? 0) + 1
        }
      }
    }))
    await sampler

    const secondHalf = <T extends { t: number }>(xs: T[]) => xs.filter((x) => x.t >= seconds / 2)
    return {
      nodeVersion,
      seconds,
      workers,
      samples,
      heapLows,
      heapSlope: slopePerMinute(secondHalf(heapLows).map((p) => ({ t: p.t, y: p.heapUsed }))),
      rssSlope: slopePerMinute(secondHalf(samples).map((p) => ({ t: p.t, y: p.rss }))),
      rssAtRest,
      rssPeak: memoryOf(pid).hwm,
      ops,
      errors,
      googleRefreshes: emulator.state.stats().grantTypes.refresh_token ?? 0
    }
  } finally {
    await server.stop()
    await emulator.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const f = (x: number, d = 1) => Number.isFinite(x) ? x.toFixed(d) : '–'

/** A markdown section for one soak. */
export function renderSoak (r: SoakResult): string {
  const total = Object.values(r.ops).reduce((a, b) => a + b, 0)
  const errors = Object.entries(r.errors)
  // Flat: the post-GC heap grows by less than 1 MiB over ten minutes at the measured rate (falling is not a leak).
  const flat = r.heapSlope < 0.1
  return [
    `## Mixed soak (${Math.round(r.seconds / 60 * 10) / 10} min, ${r.nodeVersion}, PostgreSQL)`, '',
    `${r.workers} closed-loop workers against the built server, each with its own user: \`me\` ${MIX[0]![1]} %, \`gmailStatus\``,
    `${MIX[1]![1]} %, refresh rotation ${MIX[2]![1]} %, \`gmailProfile\` ${MIX[3]![1]} % (custody: getGmailAccessToken, refreshed at the`,
    `Google emulator near expiry, then the Gmail API) and password login ${MIX[4]![1]} %. The heap is read from the server's`,
    '/metrics every second; the heap after each full garbage collection from V8\'s `--trace-gc` (a bench-only flag).', '',
    '| | |', '|---|---|',
    `| operations | ${total} (${Object.entries(r.ops).map(([k, v]) => `${k} ${v}`).join(', ')}); ${f(total / r.seconds, 0)}/s |`,
    `| errors | ${errors.length === 0 ? 'none' : errors.map(([k, v]) => `${k} × ${v}`).join('; ')} |`,
    `| Google token refreshes during the soak | ${r.googleRefreshes} |`,
    `| RSS at rest (before the soak) | ${f(r.rssAtRest, 0)} MiB |`,
    `| RSS peak (VmHWM, whole run) | ${f(r.rssPeak, 0)} MiB |`,
    `| heap after full GC, first → last (${r.heapLows.length} full GCs) | ${f(r.heapLows[0]?.heapUsed ?? NaN)} → ${f(r.heapLows.at(-1)?.heapUsed ?? NaN)} MiB |`,
    `| slope of the heap after full GC, second half | ${f(r.heapSlope, 3)} MiB/min — ${flat ? 'flat (no growth)' : 'GROWING'} |`,
    `| slope of RSS, second half | ${f(r.rssSlope, 3)} MiB/min |`, '',
    'Heap after each full GC (MiB): ' + r.heapLows.map((p) => f(p.heapUsed)).join(' · '), ''
  ].join('\n')
}

if (process.argv[1] === import.meta.filename) {
  const databaseUrl = process.env.DATABASE_URL ?? process.env.PG_URL
  if (databaseUrl == null) throw new Error('set DATABASE_URL or PG_URL (scripts/with-postgres.sh sets PG_URL)')
  const result = await runSoak({
    node: process.env.SOAK_NODE ?? process.execPath,
    databaseUrl,
    seconds: Number(process.env.SOAK_SECONDS ?? 600),
    workers: Number(process.env.SOAK_WORKERS ?? 8),
    log: (line) => process.stderr.write(`[soak] ${line}\n`)
  })
  process.stdout.write(renderSoak(result) + '\n')
}
