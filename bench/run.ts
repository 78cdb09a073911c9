/*
 * `npm run bench` (scripts/with-postgres.sh starts a throwaway PostgreSQL 15 and exports PG_URL): the benchmarks of
 * issue 5, written to BENCHMARKS.md. This process is the load generator (autocannon, in-process) and hosts the Google
 * emulator; the server under test is bench/server.ts in its own process, each pinned to its own CPU when taskset
 * exists. Ratios are computed within one round, because absolute figures drift on a shared machine.
 *
 * Knobs: BENCH_QUICK=1 (a fast sanity run), BENCH_ROUNDS, BENCH_DURATION (s per measurement), BENCH_WARMUP (s),
 * BENCH_CONNECTIONS, BENCH_LOGIN_DURATION (s), BENCH_COLD_ROUNDS, BENCH_CUSTODY_ROUNDS, BENCH_OUTPUT (file).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import pg from 'pg'
import { startGoogleEmulator } from '../emulators/google/app.ts'
import type { RunningGoogleEmulator } from '../emulators/google/app.ts'
import { DEFAULT_IOS_CLIENT, DEFAULT_USERS, DEFAULT_WEB_CLIENT } from '../emulators/google/seeds.ts'
import { GMAIL_READONLY } from '../emulators/google/state.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const QUICK = process.env.BENCH_QUICK === '1'

function knob (name: string, full: number, quick: number): number {
  const raw = process.env[name]
  if (raw == null || raw === '') return QUICK ? quick : full
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`)
  return value
}

const S = {
  rounds: knob('BENCH_ROUNDS', 5, 2),
  duration: knob('BENCH_DURATION', 8, 2),
  warmup: knob('BENCH_WARMUP', 3, 1),
  connections: knob('BENCH_CONNECTIONS', 50, 50),
  loginDuration: knob('BENCH_LOGIN_DURATION', 10, 3),
  coldRounds: knob('BENCH_COLD_ROUNDS', 3, 1),
  custodyRounds: knob('BENCH_CUSTODY_ROUNDS', 5, 2),
  output: path.resolve(ROOT, process.env.BENCH_OUTPUT ?? 'BENCHMARKS.md')
}

const PASSWORD = 'correct horse battery staple'
const STORM_USERS = 50
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`)

// ---------------------------------------------------------------------------------------------------------------
// Processes: everything started here is stopped here, also on failure or Ctrl-C.

const children = new Set<ChildProcess>()
const cleanups: Array<() => Promise<unknown>> = []
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`)
    void cleanup().finally(() => process.exit(130))
  })
}

async function cleanup (): Promise<void> {
  await Promise.allSettled([...children].map(async (c) => await stopChild(c)))
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
}

const hasTaskset = spawnSync('taskset', ['--version']).status === 0
const CPUS = os.cpus().length
const LOADGEN_CPU = 0
const SERVER_CPU = CPUS > 1 ? 1 : 0
const pinned = hasTaskset && CPUS > 1

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}

interface BenchServer {
  name: string
  pid: number
  url: string
  child: ChildProcess
  stop (): Promise<void>
}

/** Spawns bench/server.ts: `taskset -c CPU node --import tsx …` (taskset execs node, so the pid is the server's). */
function spawnServer (env: Record<string, string | undefined>, cpu: number): ChildProcess {
  const node = [process.execPath, '--import', 'tsx', path.join(ROOT, 'bench', 'server.ts')]
  const [cmd, ...args] = pinned ? ['taskset', '-c', String(cpu), ...node] : node
  const merged: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v != null) merged[k] = v
  const child = spawn(cmd!, args, { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

async function startServer (name: string, env: Record<string, string | undefined>, cpu = SERVER_CPU): Promise<BenchServer> {
  const child = spawnServer(env, cpu)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after 180 s\n${stderr}`)), 180_000)
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) { clearTimeout(timer); resolve(Number(line.slice(6))) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${String(code)}) before it was ready:\n${stderr}`)) })
  })
  return { name, pid: child.pid!, url: `http://127.0.0.1:${port}`, child, stop: async () => await stopChild(child) }
}

/** CPU time (user + system) a process (all its threads), or only its main thread, has used so far, in ms. */
function cpuMsOf (pid: number, mainThreadOnly = false): number {
  // Fields after the command name, which is in parentheses and may contain spaces: utime and stime are 14th and 15th.
  const fields = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** Pins a process and every thread of it to `cpus` (e.g. "0" or "0,1"). */
function pin (pid: number, cpus: string): void {
  if (pinned) execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' })
}

/**
 * PostgreSQL goes to the load generator's CPU, so that the server's CPU is the server's alone (in production the
 * database is another machine). Backends fork from the postmaster, so they inherit its affinity.
 */
function pinPostgres (cpu: number): boolean {
  const dataDir = process.env.PG_DATA_DIR
  if (!pinned || dataDir == null) return false
  try {
    const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const kids = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)
    for (const pid of [postmaster, ...kids]) pin(pid, String(cpu))
    return true
  } catch {
    return false
  }
}

/** VmRSS / VmHWM (peak RSS) of a process, in MiB. */
function memoryOf (pid: number): { rss: number, hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
}

/** The highest RSS seen in each phase, sampled every 100 ms. */
class RssSampler {
  readonly peaks = new Map<string, number>()
  #phase = 'setup'
  readonly #timer: NodeJS.Timeout
  constructor (readonly pid: number) {
    this.#timer = setInterval(() => this.sample(), 100)
  }

  phase (name: string): void {
    this.sample()
    this.#phase = name
    this.sample()
  }

  sample (): void {
    try {
      const { rss } = memoryOf(this.pid)
      this.peaks.set(this.#phase, Math.max(this.peaks.get(this.#phase) ?? 0, rss))
    } catch {}
  }

  stop (): void {
    clearInterval(this.#timer)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers

async function call<T = any> (base: string, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(base + url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`)
  return (text === '' ? undefined : JSON.parse(text)) as T
}

async function gql<T = any> (base: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const res = await call<{ data: T, errors?: Array<{ message: string }> }>(base, 'POST', '/graphql', { query, variables }, token != null ? { authorization: `Bearer ${token}` } : {})
  if (res.errors != null) throw new Error(`GraphQL: ${JSON.stringify(res.errors)}`)
  return res.data
}

/** The Prometheus text of /metrics as `name{labels}` → value (labels as printed). */
async function scrape (server: BenchServer): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line)
    if (m != null) values.set(m[1]!, Number(m[2]))
  }
  return values
}

/** Sum of a metric over the series whose labels include every `match` (e.g. `outcome="rotated"`). */
function sum (metrics: Map<string, number>, name: string, ...match: string[]): number {
  let total = 0
  for (const [key, value] of metrics) {
    if ((key === name || key.startsWith(`${name}{`)) && match.every((m) => key.includes(m))) total += value
  }
  return total
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics and formatting

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const fmt = (x: number, digits = 0) => Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a'
/** "median (min–max)" */
const mr = (xs: number[], digits = 0, unit = '') =>
  xs.length === 1 ? `${fmt(xs[0]!, digits)}${unit}` : `${fmt(median(xs), digits)}${unit} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`
const same = (xs: number[]) => xs.every((x) => x === xs[0]) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`
const verdict = (ok: boolean) => (ok ? '**met**' : '**missed**')
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

interface Load {
  /** Seconds actually measured. */
  duration: number
  /** Server CPU time per answered request (all its threads), in µs: far less sensitive to other load than req/s. */
  cpuUs: number
  /** The part of it on the main (event-loop) thread. */
  mainCpuUs: number
  rps: number
  p50: number
  p99: number
  total: number
  bad: number
}

/** One autocannon run; "bad" counts errors, timeouts, non-2xx answers and bodies other than the expected one. */
async function load (serverPid: number, options: autocannon.Options): Promise<Load> {
  const cpu0 = cpuMsOf(serverPid)
  const main0 = cpuMsOf(serverPid, true)
  const r = await autocannon({ connections: S.connections, pipelining: 1, timeout: 30, ...options })
  const cpuUs = (cpuMsOf(serverPid) - cpu0) * 1000 / Math.max(1, r.requests.total)
  const mainCpuUs = (cpuMsOf(serverPid, true) - main0) * 1000 / Math.max(1, r.requests.total)
  return { duration: r.duration, cpuUs, mainCpuUs, rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, bad: r.errors + r.timeouts + r.non2xx + r.mismatches }
}

// ---------------------------------------------------------------------------------------------------------------

const ME = 'query Me { me { id email name } }'
const GMAIL_STATUS = 'query GmailStatus { gmailStatus { state googleEmail grantedScopes accessTokenExpiresAt lastRefreshedAt } }'
const REFRESH = 'mutation Refresh($t: String) { refresh(refreshToken: $t, client: NATIVE) { accessToken refreshToken } }'
const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }'
const SIGN_UP = 'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }'
const CONNECT = 'mutation Connect($input: ConnectGmailInput!) { connectGmail(input: $input) { status { state } } }'

interface StormResult { label: string, perSecond: number[], p99Latency: number[], cpuMs: number[], mainCpuMs: number[], loopP99: number[], loopMax: number[], failures: number, bad: number }

interface Report {
  started: Date
  finished?: Date
  loadavg: { start: number[], end?: number[] }
  pgVersion: string
  pgPinned: boolean
  graphql?: {
    constant: number[],
    bare: number[],
    graphql: number[],
    gqlBare: number[],
    gqlConstant: number[],
    bareConstant: number[],
    cpuOverhead: number[],
    cpuRatio: number[]
    p99: { constant: number[], bare: number[], graphql: number[] },
    cpu: { constant: number[], bare: number[], graphql: number[] },
    bad: number
  }
  refresh?: { rps: number[], p99: number[], cpu: number[], rotated: number, reuse: number, graceReplay: number, failures: number, bad: number }
  gmailStatus?: { rps: number[], p99: number[], cpu: number[], vaultCalls: number, googleCallsMetrics: number, googleCallsEmulator: number, bad: number }
  custody?: {
    one: Array<{ google: number, writes: number, reads: number, tokens: number, errors: number, ms: number }>
    two: Array<{ google: number, writes: number, reads: number, readsA: number, readsB: number, tokens: number, errors: number, ms: number }>
    fresh: { sameProcess: { reads: number, calls: number, google: number, ms: number }, otherProcess: { reads: number, calls: number, google: number }, sequential: { reads: number, calls: number, ms: number } }
    refreshFlights: Record<string, number>
  }
  logins?: { variants: StormResult[], idleLoopP99: number }
  cold?: Record<'pglite' | 'postgresql', { fresh: number[], freshGraphql: number[], restart: number[], hwm: number[] }>
  rss?: { phases: Array<[string, number]>, hwm: number, hwmB?: number }
}

async function main (): Promise<void> {
  const PG_URL = process.env.PG_URL
  if (PG_URL == null || PG_URL === '') throw new Error('PG_URL is not set: run `npm run bench` (scripts/with-postgres.sh starts PostgreSQL 15)')
  if (pinned) execFileSync('taskset', ['-a', '-cp', String(LOADGEN_CPU), String(process.pid)], { stdio: 'ignore' })
  log(`${CPUS} CPUs; ${pinned ? `load generator on CPU ${LOADGEN_CPU}, server on CPU ${SERVER_CPU}` : 'not pinned (no taskset or one CPU)'}; ${QUICK ? 'QUICK mode' : 'full run'}`)

  const report: Report = { started: new Date(), loadavg: { start: os.loadavg() }, pgVersion: await postgresVersion(PG_URL), pgPinned: pinPostgres(LOADGEN_CPU) }

  const emulator: RunningGoogleEmulator = await startGoogleEmulator({ clients: [DEFAULT_WEB_CLIENT, DEFAULT_IOS_CLIENT], users: DEFAULT_USERS })
  cleanups.push(async () => await emulator.close())
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-bench-'))
  cleanups.push(async () => await rm(dataDir, { recursive: true, force: true }))
  const schema = `bench_${randomBytes(4).toString('hex')}`

  /** What both bench servers on the shared database run with (the same keys, vault directory and emulator). */
  const serverEnv: Record<string, string | undefined> = {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    DATABASE_URL: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    METRICS_ENABLED: 'true',
    METRICS_TOKEN: undefined,
    // A run lasts longer than the default 15 minutes; the cost of verifying a token does not depend on it.
    ACCESS_TOKEN_TTL_SECONDS: '86400',
    // The throttles still run (their database writes are part of a login's cost) but never refuse the bench.
    LOGIN_MAX_ATTEMPTS_PER_IP: '1000000000',
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '1000000000',
    SIGNUP_MAX_PER_IP: '1000000000',
    GOOGLE_CLIENT_ID: DEFAULT_WEB_CLIENT.id,
    GOOGLE_CLIENT_SECRET: DEFAULT_WEB_CLIENT.secret,
    GOOGLE_IOS_CLIENT_IDS: DEFAULT_IOS_CLIENT.id,
    GOOGLE_API_BASE_URL: emulator.baseUrl
  }

  log('starting the bench server (PostgreSQL)')
  const A = await startServer('server A', serverEnv)
  const rss = new RssSampler(A.pid)
  cleanups.push(async () => rss.stop())

  // A user with a session and a Gmail connection (alice@example.com at the emulator).
  const me = await gql(A.url, SIGN_UP, { input: { email: 'bench@bench.example', password: PASSWORD, name: 'Bench User', client: 'NATIVE' } })
  const token: string = me.signUp.accessToken
  const userId: string = me.signUp.user.id
  const g = emulator.state.nativeSignIn({ clientId: DEFAULT_IOS_CLIENT.id, user: 'alice@example.com', scopes: [GMAIL_READONLY] })
  const connected = await gql(A.url, CONNECT, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, token)
  if (connected.connectGmail.status.state !== 'ACTIVE') throw new Error('Gmail connection failed')

  // ---- 1. GraphQL overhead -----------------------------------------------------------------------------------
  rss.phase('1. me: constant / bare / GraphQL')
  const auth = { authorization: `Bearer ${token}` }
  const targets = {
    constant: { method: 'GET', url: `${A.url}/bench/constant` },
    bare: { method: 'GET', url: `${A.url}/bench/me`, headers: auth },
    graphql: { method: 'POST', url: `${A.url}/graphql`, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ query: ME }) }
  } satisfies Record<string, autocannon.Options>
  type Target = keyof typeof targets
  const expected: Record<string, string> = {}
  for (const [name, t] of Object.entries(targets)) {
    expected[name] = await (await fetch(t.url, { method: t.method, headers: 'headers' in t ? t.headers : {}, body: 'body' in t ? t.body : undefined })).text()
  }
  if (expected.bare !== expected.graphql) throw new Error(`bare and GraphQL me differ:\n${expected.bare}\n${expected.graphql}`)
  log('1. GraphQL overhead: warm-up')
  for (const name of Object.keys(targets) as Target[]) await load(A.pid, { ...targets[name], duration: S.warmup, expectBody: expected[name] })
  const g1: NonNullable<Report['graphql']> = {
    constant: [],
    bare: [],
    graphql: [],
    gqlBare: [],
    gqlConstant: [],
    bareConstant: [],
    cpuOverhead: [],
    cpuRatio: [],
    p99: { constant: [], bare: [], graphql: [] },
    cpu: { constant: [], bare: [], graphql: [] },
    bad: 0
  }
  for (let round = 0; round < S.rounds; round++) {
    // The order turns every round so that no target always runs first (or last) in a round.
    const order = (['constant', 'bare', 'graphql'] as Target[]).map((_, i, all) => all[(i + round) % all.length]!)
    const r = {} as Record<Target, Load>
    for (const name of order) {
      r[name] = await load(A.pid, { ...targets[name], duration: S.duration, expectBody: expected[name] })
      await sleep(300)
    }
    for (const name of order) { g1[name].push(r[name].rps); g1.p99[name].push(r[name].p99); g1.cpu[name].push(r[name].cpuUs); g1.bad += r[name].bad }
    g1.cpuOverhead.push(r.graphql.cpuUs - r.bare.cpuUs)
    g1.cpuRatio.push(r.bare.cpuUs / r.graphql.cpuUs)
    g1.gqlBare.push(r.graphql.rps / r.bare.rps)
    g1.gqlConstant.push(r.graphql.rps / r.constant.rps)
    g1.bareConstant.push(r.bare.rps / r.constant.rps)
    log(`1. round ${round + 1}/${S.rounds}: constant ${fmt(r.constant.rps)}, bare ${fmt(r.bare.rps)}, GraphQL ${fmt(r.graphql.rps)} req/s → ${fmt(r.graphql.rps / r.bare.rps, 3)}× bare; CPU ${fmt(r.constant.cpuUs)} / ${fmt(r.bare.cpuUs)} / ${fmt(r.graphql.cpuUs)} µs per request`)
  }
  report.graphql = g1

  // ---- 2. refresh rotation and gmailStatus ---------------------------------------------------------------------
  rss.phase('2. refresh rotation (50 sessions)')
  log('2. refresh rotation')
  const before2 = await scrape(A)
  const g2 = { rps: [] as number[], p99: [] as number[], cpu: [] as number[], failures: 0, bad: 0 }
  for (let round = -1; round < S.rounds; round++) {
    // One pool of session tokens per round: a request takes a token, its answer puts the successor back, so a
    // session is never in two requests at once (which would be a genuine reuse) and every in-flight request has
    // its own session. autocannon resets a connection's context after every request, hence the shared pool.
    const { tokens } = await call<{ tokens: string[] }>(A.url, 'POST', '/bench/sessions', { userId, count: S.connections * 3 })
    const pool = [...tokens]
    let failures = 0
    const r = await load(A.pid, {
      url: `${A.url}/graphql`,
      duration: round < 0 ? S.warmup : S.duration,
      requests: [{
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: REFRESH, variables: { t: pool.shift() } }) }),
        onResponse: (_status, body) => {
          try {
            const next = (JSON.parse(body) as { data?: { refresh?: { refreshToken?: string } } }).data?.refresh?.refreshToken
            if (next != null) pool.push(next)
            else failures++
          } catch { failures++ }
        }
      }]
    })
    if (round < 0) continue
    g2.rps.push(r.rps); g2.p99.push(r.p99); g2.cpu.push(r.cpuUs); g2.bad += r.bad; g2.failures += failures
    log(`2. refresh round ${round + 1}/${S.rounds}: ${fmt(r.rps)} req/s, p99 ${r.p99} ms, failures ${failures}`)
  }
  const after2 = await scrape(A)
  const delta2 = (outcome: string) => sum(after2, 'inboxgate_refresh_token_rotations_total', `outcome="${outcome}"`) - sum(before2, 'inboxgate_refresh_token_rotations_total', `outcome="${outcome}"`)
  report.refresh = { ...g2, rotated: delta2('rotated'), reuse: delta2('reuse_detected'), graceReplay: delta2('grace_replay') }

  rss.phase('2. gmailStatus')
  log('2. gmailStatus')
  const statusTarget = { method: 'POST', url: `${A.url}/graphql`, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ query: GMAIL_STATUS }) }
  const statusBody = await (await fetch(statusTarget.url, statusTarget)).text()
  if (!statusBody.includes('"state":"ACTIVE"')) throw new Error(`gmailStatus: ${statusBody}`)
  await load(A.pid, { ...statusTarget, duration: S.warmup, expectBody: statusBody })
  const before2s = await scrape(A)
  emulator.state.resetStats()
  const g2s = { rps: [] as number[], p99: [] as number[], cpu: [] as number[], bad: 0 }
  for (let round = 0; round < S.rounds; round++) {
    const r = await load(A.pid, { ...statusTarget, duration: S.duration, expectBody: statusBody })
    g2s.rps.push(r.rps); g2s.p99.push(r.p99); g2s.cpu.push(r.cpuUs); g2s.bad += r.bad
    log(`2. gmailStatus round ${round + 1}/${S.rounds}: ${fmt(r.rps)} req/s`)
  }
  const after2s = await scrape(A)
  const emulatorCalls = Object.values(emulator.state.stats().requests).reduce((a, b) => a + (b ?? 0), 0)
  report.gmailStatus = {
    ...g2s,
    vaultCalls: sum(after2s, 'inboxgate_vault_calls_total') - sum(before2s, 'inboxgate_vault_calls_total'),
    googleCallsMetrics: sum(after2s, 'inboxgate_google_calls_total') - sum(before2s, 'inboxgate_google_calls_total'),
    googleCallsEmulator: emulatorCalls
  }

  // ---- 3. Gmail token custody ----------------------------------------------------------------------------------
  rss.phase('3. Gmail token custody')
  log('3. Gmail token custody: a second server process on the same database and vault')
  const B = await startServer('server B', serverEnv, LOADGEN_CPU)
  cleanups.push(async () => await B.stop())
  const refreshGrants = () => emulator.state.stats().grantTypes.refresh_token ?? 0
  const age = async () => await call(A.url, 'POST', '/bench/gmail/age', { userId, inSeconds: 60 })
  type Burst = { calls: number, ms: number, tokens: string[], errors: string[], vault: { reads: number, writes: number } }
  const burst = async (s: BenchServer, callers: number, batches = 1, startAt?: number) =>
    await call<Burst>(s.url, 'POST', '/bench/gmail/tokens', { userId, callers, batches, startAt })
  const flightsBefore = [await scrape(A), await scrape(B)]
  const one: NonNullable<Report['custody']>['one'] = []
  const two: NonNullable<Report['custody']>['two'] = []
  for (let round = 0; round < S.custodyRounds; round++) {
    await age()
    emulator.state.resetStats()
    const r = await burst(A, 100)
    one.push({ google: refreshGrants(), writes: r.vault.writes, reads: r.vault.reads, tokens: r.tokens.length, errors: r.errors.length, ms: r.ms })

    await age()
    emulator.state.resetStats()
    const startAt = Date.now() + 250
    const [ra, rb] = await Promise.all([burst(A, 50, 1, startAt), burst(B, 50, 1, startAt)])
    two.push({
      google: refreshGrants(),
      writes: ra.vault.writes + rb.vault.writes,
      reads: ra.vault.reads + rb.vault.reads,
      readsA: ra.vault.reads,
      readsB: rb.vault.reads,
      tokens: new Set([...ra.tokens, ...rb.tokens]).size,
      errors: ra.errors.length + rb.errors.length,
      ms: Math.max(ra.ms, rb.ms)
    })
    log(`3. round ${round + 1}: one process ${one.at(-1)!.google} Google / ${one.at(-1)!.writes} writes; two processes ${two.at(-1)!.google} / ${two.at(-1)!.writes}`)
  }
  // Fresh tokens: 1,000 calls in 10 batches of 100 concurrent, in the process that refreshed and in another one.
  await age()
  await burst(A, 1) // A refreshes: its cache holds the new token, B's is now stale (vaultVersion moved)
  emulator.state.resetStats()
  const same = await burst(A, 100, 10)
  const sameGoogle = refreshGrants()
  const other = await burst(B, 100, 10)
  const otherGoogle = refreshGrants() - sameGoogle
  const sequential = await burst(A, 1, 1000)
  const fresh = {
    sameProcess: { reads: same.vault.reads, calls: same.calls, google: sameGoogle, ms: same.ms },
    otherProcess: { reads: other.vault.reads, calls: other.calls, google: otherGoogle },
    sequential: { reads: sequential.vault.reads, calls: sequential.calls, ms: sequential.ms }
  }
  const flightsAfter = [await scrape(A), await scrape(B)]
  const refreshFlights: Record<string, number> = {}
  for (const outcome of ['refreshed', 'already_fresh', 'invalid_grant', 'vault_secret_missing']) {
    refreshFlights[outcome] = [0, 1].reduce((n, i) =>
      n + sum(flightsAfter[i]!, 'inboxgate_gmail_token_refreshes_total', `outcome="${outcome}"`) - sum(flightsBefore[i]!, 'inboxgate_gmail_token_refreshes_total', `outcome="${outcome}"`), 0)
  }
  report.custody = { one, two, fresh, refreshFlights }
  const hwmB = memoryOf(B.pid).hwm
  await B.stop()

  // ---- 4. Login storm ------------------------------------------------------------------------------------------
  rss.phase('4. login storm')
  log(`4. login storm: signing up ${STORM_USERS} users`)
  const emails = Array.from({ length: STORM_USERS }, (_, i) => `storm${i}@bench.example`)
  for (let i = 0; i < emails.length; i += 5) {
    await Promise.all(emails.slice(i, i + 5).map(async (email) => await gql(A.url, SIGN_UP, { input: { email, password: PASSWORD, client: 'NATIVE' } })))
  }
  await call(A.url, 'POST', '/bench/event-loop/reset')
  await sleep(3000)
  const idle = await call<{ p99: number }>(A.url, 'GET', '/bench/event-loop')
  // The same server code in four placements, alternating within each round: the server alone on one CPU (as in a
  // one-CPU container) or free to use both, with the default PASSWORD_HASH_CONCURRENCY (CPUs available at start − 1,
  // at least 1: here 1) or with 4 (a second server process: as many hashes at once as libuv has threads, which is
  // what the server did before hashes were bounded).
  log('4. login storm: a second server process with PASSWORD_HASH_CONCURRENCY=4')
  const C = await startServer('server C', { ...serverEnv, PASSWORD_HASH_CONCURRENCY: '4' })
  cleanups.push(async () => await C.stop())
  const both = `${LOADGEN_CPU},${SERVER_CPU}`
  const variants: Array<{ server: BenchServer, cpus: string, result: StormResult }> = (pinned
    ? [[A, String(SERVER_CPU), '1 CPU, 1 hash at a time (default)'], [A, both, '2 CPUs, 1 hash at a time (default)'], [C, String(SERVER_CPU), '1 CPU, 4 hashes at once'], [C, both, '2 CPUs, 4 hashes at once']] as const
    : [[A, '', 'not pinned, default concurrency (default)'], [C, '', 'not pinned, 4 hashes at once']] as const
  ).map(([server, cpus, label]) => ({ server, cpus, result: { label, perSecond: [], p99Latency: [], cpuMs: [], mainCpuMs: [], loopP99: [], loopMax: [], failures: 0, bad: 0 } }))
  for (let round = -1; round < S.rounds; round++) {
    const order = variants.map((_, i, all) => all[(i + Math.max(0, round)) % all.length]!)
    for (const { server, cpus, result: v } of order) {
      if (cpus !== '') pin(server.pid, cpus)
      let next = 0
      let ok = 0
      let failures = 0
      await call(server.url, 'POST', '/bench/event-loop/reset')
      const r = await load(server.pid, {
        url: `${server.url}/graphql`,
        connections: STORM_USERS,
        duration: round < 0 ? S.warmup : S.loginDuration,
        requests: [{
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json' },
          // Round robin over the 50 accounts: concurrent logins are for different users, as in a real storm.
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: LOGIN, variables: { input: { email: emails[next++ % emails.length], password: PASSWORD, client: 'NATIVE' } } }) }),
          onResponse: (_status, body) => { if (body.includes('"accessToken"')) ok++; else failures++ }
        }]
      })
      const loop = await call<{ p99: number, max: number }>(server.url, 'GET', '/bench/event-loop')
      if (round < 0) continue
      v.perSecond.push(ok / r.duration)
      v.p99Latency.push(r.p99); v.cpuMs.push(r.cpuUs / 1000); v.mainCpuMs.push(r.mainCpuUs / 1000); v.loopP99.push(loop.p99); v.loopMax.push(loop.max); v.failures += failures; v.bad += r.bad
      log(`4. round ${round + 1}/${S.rounds}, ${v.label}: ${fmt(v.perSecond.at(-1)!, 1)} logins/s, event-loop p99 ${fmt(loop.p99, 1)} ms (max ${fmt(loop.max, 1)}), ${fmt(r.cpuUs / 1000, 1)} ms CPU per login`)
    }
  }
  pin(A.pid, String(SERVER_CPU))
  await C.stop()
  report.logins = { variants: variants.map((v) => v.result), idleLoopP99: idle.p99 }
  rss.phase('end')
  report.rss = { phases: [...rss.peaks].filter(([p]) => p !== 'end'), hwm: memoryOf(A.pid).hwm, hwmB }
  rss.stop()
  await A.stop()

  // ---- 5. Cold start ---------------------------------------------------------------------------------------------
  report.cold = { pglite: { fresh: [], freshGraphql: [], restart: [], hwm: [] }, postgresql: { fresh: [], freshGraphql: [], restart: [], hwm: [] } }
  for (let round = 0; round < S.coldRounds; round++) {
    for (const kind of ['pglite', 'postgresql'] as const) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-bench-cold-'))
      try {
        const env = {
          ...serverEnv,
          DATA_DIR: dir,
          DATABASE_URL: kind === 'pglite' ? undefined : `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=cold_${randomBytes(4).toString('hex')}`
        }
        const fresh = await coldStart(env)
        const restart = await coldStart(env)
        const c = report.cold[kind]
        c.fresh.push(fresh.health); c.freshGraphql.push(fresh.graphql); c.restart.push(restart.health); c.hwm.push(Math.max(fresh.hwm, restart.hwm))
        log(`5. ${kind} round ${round + 1}: fresh ${fmt(fresh.health)} ms (GraphQL ${fmt(fresh.graphql)} ms), restart ${fmt(restart.health)} ms`)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    }
  }

  report.finished = new Date()
  report.loadavg.end = os.loadavg()
  await writeFile(S.output, markdown(report))
  log(`written ${path.relative(ROOT, S.output)}`)
}

/** Spawn → first 200 on /health, then the first GraphQL answer; the peak RSS at that point. */
async function coldStart (env: Record<string, string | undefined>): Promise<{ health: number, graphql: number, hwm: number }> {
  const port = await freePort()
  const started = performance.now()
  const child = spawnServer({ ...env, PORT: String(port) }, SERVER_CPU)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  child.stdout!.resume()
  try {
    const base = `http://127.0.0.1:${port}`
    let health = NaN
    while (Number.isNaN(health)) {
      if (child.exitCode !== null) throw new Error(`cold start: the server exited (${child.exitCode}):\n${stderr}`)
      if (performance.now() - started > 180_000) throw new Error(`cold start: no answer after 180 s\n${stderr}`)
      try {
        if ((await fetch(`${base}/health`)).status === 200) health = performance.now() - started
      } catch {
        await sleep(5)
      }
    }
    const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) })
    if (res.status !== 200) throw new Error(`cold start: GraphQL answered ${res.status}`)
    await res.text()
    return { health, graphql: performance.now() - started, hwm: memoryOf(child.pid!).hwm }
  } finally {
    await stopChild(child)
  }
}

async function postgresVersion (url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return String((await client.query('SHOW server_version')).rows[0].server_version)
  } finally {
    await client.end()
  }
}

function versions (): Array<[string, string]> {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
  const names = ['fastify', 'mercurius', 'graphql', '@prisma/client', '@prisma/adapter-pg', 'pg', '@electric-sql/pglite', '@fastify/jwt', 'fast-jwt',
    '@node-rs/argon2', 'google-auth-library', 'prom-client', 'autocannon', 'tsx']
  return names.map((n) => [n, lock.packages[`node_modules/${n}`]?.version ?? '?'])
}

function markdown (r: Report): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const command = ['npm run bench', ...Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_')).map(([k, v]) => `${k}=${v ?? ''}`)]
  const lines: string[] = []
  const p = (...xs: string[]) => lines.push(...xs)
  const g = r.graphql!
  const rf = r.refresh!
  const gs = r.gmailStatus!
  const cu = r.custody!
  const lg = r.logins!
  const storms = lg.variants
  const byDefault = storms.filter((x) => x.label.includes('(default)'))
  const cold = r.cold!

  p('# Benchmarks', '',
    `Generated by \`${command.join(' ')}\` (bench/run.ts) on ${r.started.toISOString()} (${fmt((r.finished!.getTime() - r.started.getTime()) / 60_000, 1)} min). Do not edit by hand: run it again.`, '',
    '| | |', '|---|---|',
    `| machine | ${cpu}, ${CPUS} cores, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM, ${os.type()} ${os.release()} |`,
    `| load average (1/5/15 min) | ${r.loadavg.start.map((x) => x.toFixed(2)).join(' / ')} at start, ${r.loadavg.end!.map((x) => x.toFixed(2)).join(' / ')} at the end |`,
    `| Node.js | ${process.version} (the server runs the TypeScript sources through tsx, as \`npm run dev\` does) |`,
    `| PostgreSQL | ${r.pgVersion} (throwaway cluster from scripts/with-postgres.sh on the same machine, default settings, \`DB_POOL_MAX\` 10) |`,
    `| packages | ${versions().map(([n, v]) => `${n} ${v}`).join(', ')} |`,
    `| placement | ${pinned ? `server on CPU ${SERVER_CPU} (\`taskset -c ${SERVER_CPU}\`, all its threads); autocannon, the Google emulator and the orchestrator on CPU ${LOADGEN_CPU}${r.pgPinned ? ', and PostgreSQL too (`taskset` on the postmaster and its backends)' : '; PostgreSQL not pinned'}` : 'no CPU pinning (taskset missing or a single CPU)'} |`,
    `| settings | ${S.rounds} rounds × ${S.duration} s per measurement after ${S.warmup} s of warm-up per target; ${S.connections} connections, no pipelining; login storm ${S.rounds} × ${S.loginDuration} s; custody ${S.custodyRounds} rounds; cold start ${S.coldRounds} rounds${QUICK ? '; **BENCH_QUICK** (a sanity run, not a measurement)' : ''} |`,
    '')

  p('## How to read this', '',
    'This machine is shared (other jobs use its two cores during the run, see the load average above), so absolute',
    'requests per second drift from one minute to the next and from one run to the next. What is meant to be compared',
    'is the **ratios**, which are computed inside each round from measurements taken back to back on the same server',
    'process, and the **counts** (Google calls, vault calls), which do not depend on speed at all. Every figure is',
    '"median (min–max)" over the rounds. Latencies are autocannon\'s, measured from the load generator.', '')

  p('## 1. GraphQL overhead: `me` through Mercurius vs the same work in a bare Fastify route', '',
    'All three on the same server process, in the same round (the order rotates each round). "bare" is `GET /bench/me`:',
    'the same `accessTokens.verify` (fast-jwt HS256) and the same `users.requireActive` Prisma read as the `me`',
    'resolver, answering the same JSON. "constant" is `GET /bench/constant`, a constant JSON of the same size: the',
    'ceiling of this machine for any Fastify route.', '',
    '| | requests/s | p99 latency | server CPU per request |', '|---|---|---|---|',
    `| constant JSON (Fastify) | ${mr(g.constant)} | ${mr(g.p99.constant, 0, ' ms')} | ${mr(g.cpu.constant, 0, ' µs')} |`,
    `| bare \`me\` (Fastify + JWT + Prisma) | ${mr(g.bare)} | ${mr(g.p99.bare, 0, ' ms')} | ${mr(g.cpu.bare, 0, ' µs')} |`,
    `| GraphQL \`me\` (Mercurius, JIT) | ${mr(g.graphql)} | ${mr(g.p99.graphql, 0, ' ms')} | ${mr(g.cpu.graphql, 0, ' µs')} |`, '',
    '| ratio (same round) | value | target | |', '|---|---|---|---|',
    `| GraphQL \`me\` / bare \`me\`, requests/s | ${mr(g.gqlBare, 3, '×')} | ≥ 0.85× | ${verdict(median(g.gqlBare) >= 0.85)} |`,
    `| GraphQL \`me\` / constant JSON, requests/s | ${mr(g.gqlConstant, 3, '×')} | — | |`,
    `| bare \`me\` / constant JSON, requests/s | ${mr(g.bareConstant, 3, '×')} | — | |`,
    `| bare \`me\` / GraphQL \`me\`, server CPU per request (the CPU-bound ratio) | ${mr(g.cpuRatio, 3, '×')} | ≥ 0.85× | ${verdict(median(g.cpuRatio) >= 0.85)} |`,
    `| GraphQL's own CPU per request (GraphQL − bare) | ${mr(g.cpuOverhead, 0, ' µs')} | — | |`, '',
    `Per round, GraphQL/bare: ${g.gqlBare.map((x) => x.toFixed(3)).join(', ')}. Errors, non-2xx or unexpected bodies: ${g.bad}.`,
    '"Server CPU per request" is the server process\'s user + system CPU time (/proc/<pid>/stat, all threads) over the',
    'answers of the run: it does not count the time the server waits for PostgreSQL, and it moves far less than',
    'requests/s when other jobs take the CPU. On one saturated core, requests/s is the inverse of it, so the ratio of',
    'CPU costs is the throughput ratio the server would show without the neighbours\' noise.', '')

  const gsZero = gs.vaultCalls === 0 && gs.googleCallsMetrics === 0 && gs.googleCallsEmulator === 0
  p('## 2. Refresh rotation and gmailStatus (PostgreSQL)', '',
    `\`refresh\` (NATIVE, rotation on every call) at ${S.connections} connections, each request on its own session: a`,
    'session is never in two requests at once (a token goes back to the pool only as the successor the answer',
    'carried), so every call is a genuine rotation: a read, a compare-and-swap update and an insert in one transaction.', '',
    '| | value |', '|---|---|',
    `| refresh: requests/s | ${mr(rf.rps)} |`,
    `| refresh: p99 latency | ${mr(rf.p99, 0, ' ms')} |`,
    `| refresh: server CPU per request | ${mr(rf.cpu, 0, ' µs')} |`,
    `| rotations counted by /metrics (warm-up included) | ${rf.rotated} rotated, ${rf.graceReplay} grace replays, ${rf.reuse} reuse detections |`,
    `| failed refreshes / transport errors | ${rf.failures} / ${rf.bad} |`,
    `| gmailStatus: requests/s | ${mr(gs.rps)} |`,
    `| gmailStatus: p99 latency | ${mr(gs.p99, 0, ' ms')} |`,
    `| gmailStatus: server CPU per request | ${mr(gs.cpu, 0, ' µs')} |`,
    `| gmailStatus: vault calls during the run (target 0) | ${gs.vaultCalls} — ${verdict(gs.vaultCalls === 0)} |`,
    `| gmailStatus: Google calls during the run (target 0) | ${gs.googleCallsMetrics} counted by /metrics, ${gs.googleCallsEmulator} requests seen by the Google emulator — ${verdict(gsZero)} |`, '',
    '`gmailStatus` reads the `gmail_connections` row only; the vault is never touched to answer it.', '')

  const oneOk = cu.one.every((x) => x.google === 1 && x.writes === 1 && x.tokens === 1 && x.errors === 0)
  const twoOk = cu.two.every((x) => x.google === 1 && x.writes === 1 && x.tokens === 1 && x.errors === 0)
  const f = cu.fresh
  p('## 3. Gmail token custody', '',
    '100 concurrent `getGmailAccessToken` for one user whose stored token expires in 60 s (inside the 5-minute',
    'refresh margin). The servers date tokens on the wall clock, so, as in test/gmail/custody-faults.test.ts, the',
    'stored expiry (vault bundle and row) is moved 60 s ahead of now before each round, which also bumps the row\'s',
    'vault version so that every process\'s token cache misses, as after a refresh elsewhere. Google calls are the',
    '`refresh_token` grants the Google emulator received; vault calls are the vault\'s own counters (the local',
    'AES-GCM file vault in a directory both processes share; the AWS vault counts calls the same way).', '',
    '| | Google token calls | vault writes | vault reads | distinct tokens handed out | time | target | |', '|---|---|---|---|---|---|---|---|',
    `| one process, 100 callers | ${same(cu.one.map((x) => x.google))} | ${same(cu.one.map((x) => x.writes))} | ${same(cu.one.map((x) => x.reads))} | ${same(cu.one.map((x) => x.tokens))} | ${mr(cu.one.map((x) => x.ms), 0, ' ms')} | 1 and 1 | ${verdict(oneOk)} |`,
    `| two processes on one database, 50 + 50 callers | ${same(cu.two.map((x) => x.google))} | ${same(cu.two.map((x) => x.writes))} | ${same(cu.two.map((x) => x.reads))} (A ${same(cu.two.map((x) => x.readsA))}, B ${same(cu.two.map((x) => x.readsB))}) | ${same(cu.two.map((x) => x.tokens))} | ${mr(cu.two.map((x) => x.ms), 0, ' ms')} | 1 and 1 | ${verdict(twoOk)} |`, '',
    `Values over ${S.custodyRounds} rounds (a single value: the same in every round). Refresh flights counted by /metrics over`,
    `the section: ${Object.entries(cu.refreshFlights).map(([k, v]) => `${v} ${k}`).join(', ')} ("already_fresh": a flight that waited for`,
    'the row lock and found the token the other process had just stored).', '',
    'With a fresh token (1,000 calls: 10 batches of 100 concurrent, then 1,000 one after the other):', '',
    '| | vault reads per 1,000 calls | Google calls | time per call |', '|---|---|---|---|',
    `| in the process that refreshed (cache warm) | ${fmt(f.sameProcess.reads * 1000 / f.sameProcess.calls)} | ${f.sameProcess.google} | ${fmt(f.sameProcess.ms / f.sameProcess.calls, 3)} ms |`,
    `| in the other process (its cache was made stale by that refresh) | ${fmt(f.otherProcess.reads * 1000 / f.otherProcess.calls)} | ${f.otherProcess.google} | |`,
    `| sequential calls | ${fmt(f.sequential.reads * 1000 / f.sequential.calls)} | 0 | ${fmt(f.sequential.ms / f.sequential.calls, 3)} ms |`,
    '| without a cache (for comparison) | 1,000 | 0 | |', '',
    '**Caching choice.** Secrets Manager bills every API call ($0.05 per 10,000) and throttles per second, and a Gmail',
    'client may ask for a token many times a minute, so the vault must not be read per call. Each server process keeps',
    'a map user → {access token, expiry, version} (src/gmail/gmail-connections.ts). The version is the row\'s',
    '`vaultVersion@connectedAt`: every refresh or reconnect, in any process, writes the vault first and then bumps',
    '`vaultVersion`, and a row created again after a disconnect has a new `connectedAt`. So every call costs one indexed',
    'read of the `gmail_connections` row and no vault call while the cached version matches and the token has more',
    'than the refresh margin left; after another process refreshed, the first caller reads the vault once (concurrent',
    'callers share that read) and the cache is warm again. Only access tokens (an hour at most) are cached, never',
    'refresh tokens, which are read from the vault only to refresh, under the row lock. Near expiry, callers in one',
    'process share one refresh flight, and `SELECT … FOR UPDATE` on the row serialises processes; the second process',
    're-reads the vault under the lock and finds the fresh token ("already_fresh") instead of calling Google again.', '')

  p('## 4. Login storm', '',
    `${STORM_USERS} connections logging in continuously (${STORM_USERS} accounts, round robin; each login: throttle counters, a user read,`,
    'Argon2id verification (m = 19 MiB, t = 2, p = 1) on libuv\'s thread pool, a session insert, a security event).',
    'The event-loop delay is measured inside the server (`perf_hooks.monitorEventLoopDelay`, 1 ms resolution,',
    'reset before each round, so the values include the 1 ms sampling interval).', '',
    'The same server code in up to four placements, alternating within each round: the server and all its threads',
    'on **one CPU** (as in a one-CPU container) or free to use **two CPUs** (the other one is shared with the load',
    'generator, light here, and PostgreSQL); and the default `PASSWORD_HASH_CONCURRENCY` (CPUs available at start − 1,',
    'at least 1: **1 hash at a time** here) or **4 hashes at once** (`PASSWORD_HASH_CONCURRENCY=4` on a second server',
    'process: as many as libuv has threads, which is what the server did before hashes were bounded).', '',
    `| | ${storms.map((x) => x.label).join(' | ')} | target |`, `|---|${storms.map(() => '---|').join('')}---|`,
    `| logins/s | ${storms.map((x) => mr(x.perSecond, 1)).join(' | ')} | — |`,
    `| login p99 latency | ${storms.map((x) => mr(x.p99Latency, 0, ' ms')).join(' | ')} | — |`,
    `| server CPU per login (Argon2 included) | ${storms.map((x) => mr(x.cpuMs, 1, ' ms')).join(' | ')} | — |`,
    `| of which on the event-loop thread | ${storms.map((x) => mr(x.mainCpuMs, 1, ' ms')).join(' | ')} | — |`,
    `| **event-loop delay p99** | ${storms.map((x) => `${mr(x.loopP99, 1, ' ms')} ${verdict(median(x.loopP99) < 20)}`).join(' | ')} | < 20 ms |`,
    `| event-loop delay max | ${storms.map((x) => mr(x.loopMax, 1, ' ms')).join(' | ')} | — |`,
    `| failed logins / transport errors | ${storms.map((x) => `${x.failures} / ${x.bad}`).join(' | ')} | 0 |`, '',
    `Event-loop delay p99 at rest, 3 s before the storm: ${fmt(lg.idleLoopP99, 1)} ms. Target with the default configuration:`,
    `${verdict(byDefault.every((x) => median(x.loopP99) < 20))}. Argon2 (@node-rs/argon2, async) never runs on the event loop; what`,
    'the loop waits for is a CPU. Each login also costs the event-loop thread itself several milliseconds of CPU (GraphQL,',
    'about ten Prisma queries: the throttle counters, the user, the session, the security event), and with as many',
    'hashes running as cores or more, the scheduler shares every core between the loop and the hashes: so at most',
    'CPUs − 1 hashes run at once and the rest wait in a queue (src/users/password-hasher.ts).', '')

  p('## 5. Cold start and memory', '',
    'Cold start: from `spawn` of a new server process (node + tsx, the TypeScript sources) to its first 200 on',
    '`/health`; "first GraphQL" continues to the first answered `{ __typename }` (Mercurius compiles on first use).',
    '"fresh": an empty PGlite data directory (PostgreSQL\'s initdb in WASM, then the migrations) or an empty PostgreSQL',
    'schema (the migrations); "restart": the same server started again on the database it just created.', '',
    '| | fresh: first /health | fresh: first GraphQL | restart: first /health | peak RSS (VmHWM) |', '|---|---|---|---|---|',
    `| PGlite (embedded, DATA_DIR) | ${mr(cold.pglite.fresh, 0, ' ms')} | ${mr(cold.pglite.freshGraphql, 0, ' ms')} | ${mr(cold.pglite.restart, 0, ' ms')} | ${mr(cold.pglite.hwm, 0, ' MiB')} |`,
    `| PostgreSQL ${r.pgVersion} | ${mr(cold.postgresql.fresh, 0, ' ms')} | ${mr(cold.postgresql.freshGraphql, 0, ' ms')} | ${mr(cold.postgresql.restart, 0, ' ms')} | ${mr(cold.postgresql.hwm, 0, ' MiB')} |`, '',
    'Memory of the benchmarked server (PostgreSQL) under the loads above: the highest RSS sampled every 100 ms in each',
    'section, and the kernel\'s peak (VmHWM) at the end.', '',
    '| section | peak RSS |', '|---|---|',
    ...r.rss!.phases.map(([phase, mib]) => `| ${phase} | ${fmt(mib)} MiB |`),
    `| **whole run (VmHWM)** | **${fmt(r.rss!.hwm)} MiB** |`,
    `| second server process (section 3 only, VmHWM) | ${fmt(r.rss!.hwmB ?? NaN)} MiB |`, '')

  p('## Metrics', '',
    'The counters above are also what an operator can scrape: with `METRICS_ENABLED=true` (and optionally',
    '`METRICS_TOKEN`), `GET /metrics` serves `inboxgate_google_calls_total{operation,outcome}`,',
    '`inboxgate_vault_calls_total{operation}`, `inboxgate_vault_errors_total`, `inboxgate_refresh_token_rotations_total{outcome}`',
    '(`reuse_detected` among them), `inboxgate_logins_total{outcome}`, `inboxgate_gmail_token_refreshes_total{outcome}`, and',
    'prom-client\'s process metrics (`process_resident_memory_bytes`, `nodejs_eventloop_lag_p99_seconds`, …).', '')
  return lines.join('\n')
}

try {
  await main()
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
} finally {
  await cleanup()
}
// Any handle left open (a keep-alive socket of fetch, say) must not keep `npm run bench` waiting.
process.exit(process.exitCode ?? 0)
