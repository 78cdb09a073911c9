import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import pg from 'pg'
import type { Test } from 'tap'
import { freePort } from '../../support/free-port.ts'
import { waitFor } from '../../support/wait-for.ts'
import type { ResultOf, VariablesOf } from '@graphql-typed-document-node/core'
import type { TypedDocument } from '../../helper.ts'

/*
 * Shared by the fault tests (test/faults/*.fault.ts, run by `npm run test:faults`): the PostgreSQL cluster that
 * scripts/with-postgres.sh (or .ci/run) started, the server as a child process that can be SIGKILLed, and a
 * GraphQL client over real HTTP.
 */

const run = promisify(execFile)
export const repoRoot = path.resolve(import.meta.dirname, '../../..')
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---- PostgreSQL ----

export interface PgCluster {
  url: string
  dataDir: string | null
  bin: string
  /** The command prefix that runs pg_ctl as the cluster's owner (`runuser -u postgres --` as root). */
  ctlAs: string[]
  /** Where the cluster's own log goes after a restart. */
  logFile: string | null
}

export const NO_PG = 'needs PG_URL (a PostgreSQL 15 cluster this test may use, and restart with PG_DATA_DIR/PG_BIN): ' +
  'run `npm run test:faults`, which starts a throwaway cluster (scripts/with-postgres.sh)'

export function postgresFromEnv (env = process.env): PgCluster | null {
  if (env.PG_URL == null || env.PG_URL === '') return null
  const dataDir = env.PG_DATA_DIR != null && env.PG_DATA_DIR !== '' ? env.PG_DATA_DIR : null
  return {
    url: env.PG_URL,
    dataDir,
    bin: env.PG_BIN ?? '/usr/lib/postgresql/15/bin',
    ctlAs: (env.PG_CTL_AS ?? '').split(/\s+/).filter(Boolean),
    logFile: env.PG_ROOT != null && env.PG_ROOT !== '' ? path.join(env.PG_ROOT, 'log') : dataDir != null ? path.join(dataDir, 'fault-restart.log') : null
  }
}

/** The cluster, or null after marking the whole file skipped with the reason (tap prints `# SKIP …`). */
export function requirePostgres (t: Test): PgCluster | null {
  const cluster = postgresFromEnv()
  if (cluster == null) t.plan(0, NO_PG)
  return cluster
}

export async function withClient<T> (url: string, fn: (c: pg.Client) => Promise<T>, schema?: string): Promise<T> {
  const client = new pg.Client({ connectionString: url, ...(schema != null ? { options: `-c search_path="${schema}"` } : {}) })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

export interface TestSchema {
  name: string
  /** DATABASE_URL for the server: the schema, and an application_name to count its connections by. */
  databaseUrl: string
  applicationName: string
  query<R extends pg.QueryResultRow = any> (sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>
  /** The same, outside the schema (pg_stat_activity, …). */
  admin<R extends pg.QueryResultRow = any> (sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>
  /** The server's pooled connections to PostgreSQL right now (pg_stat_activity rows with our application_name). */
  serverConnections (): Promise<number>
  /** Its live-session listening connections (`<application_name>-listen <pid>`, src/db/notifications.ts). */
  listenerConnections (): Promise<number>
}

/** A fresh schema for one test, dropped in teardown (the server creates its tables by migrating at start). */
export async function testSchema (t: Test, cluster: PgCluster, label: string): Promise<TestSchema> {
  const name = `fault_${label}_${randomBytes(4).toString('hex')}`
  const applicationName = `inboxgate_${name}`
  const url = new URL(cluster.url)
  url.searchParams.set('schema', name)
  url.searchParams.set('application_name', applicationName)
  const query = async (sql: string, params: unknown[] = []) => await withClient(cluster.url, async (c) => await c.query(sql, params), name)
  const admin = async (sql: string, params: unknown[] = []) => await withClient(cluster.url, async (c) => await c.query(sql, params))
  t.teardown(async () => {
    await ensurePostgresRunning(cluster)
    await withClient(cluster.url, async (c) => { await c.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`) })
  })
  return {
    name,
    databaseUrl: url.toString(),
    applicationName,
    query: query as TestSchema['query'],
    admin: admin as TestSchema['admin'],
    serverConnections: async () =>
      Number((await admin('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName])).rows[0].n),
    listenerConnections: async () =>
      Number((await admin('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1', [`${applicationName}-listen %`])).rows[0].n)
  }
}

async function pgCtl (cluster: PgCluster, args: string[]): Promise<string> {
  const [command, ...prefix] = [...cluster.ctlAs, path.join(cluster.bin, 'pg_ctl')]
  const { stdout } = await run(command, [...prefix, ...args], { timeout: 90_000 })
  return stdout
}

/** pg_ctl start with the options the cluster was started with (postmaster.opts holds its command line). */
async function startPostgres (cluster: PgCluster): Promise<void> {
  const dataDir = cluster.dataDir!
  const opts = [...(await readFile(path.join(dataDir, 'postmaster.opts'), 'utf8')).matchAll(/"([^"]*)"/g)].map((m) => m[1]!)
  const dIndex = opts.indexOf('-D')
  if (dIndex >= 0) opts.splice(dIndex, 2)
  await pgCtl(cluster, ['start', '-w', '-D', dataDir, ...(cluster.logFile != null ? ['-l', cluster.logFile] : []), '-o', opts.map((o) => `"${o}"`).join(' ')])
}

export async function postgresIsRunning (cluster: PgCluster): Promise<boolean> {
  try {
    await pgCtl(cluster, ['status', '-D', cluster.dataDir!])
    return true
  } catch {
    return false
  }
}

/**
 * Stops PostgreSQL the way an operator's restart does (`-m fast`: sessions are terminated, in-flight transactions
 * rolled back), keeps it down for `downMs`, and starts it again with the same options.
 */
export async function restartPostgres (cluster: PgCluster, downMs: number): Promise<void> {
  if (cluster.dataDir == null) throw new Error('restarting PostgreSQL needs PG_DATA_DIR')
  await pgCtl(cluster, ['stop', '-w', '-m', 'fast', '-D', cluster.dataDir])
  await sleep(downMs)
  await startPostgres(cluster)
}

/** Whatever a test did, the cluster it was given is left running (CI goes on using it). */
export async function ensurePostgresRunning (cluster: PgCluster): Promise<void> {
  if (cluster.dataDir == null || await postgresIsRunning(cluster)) return
  await startPostgres(cluster)
}

/**
 * A trigger that holds every UPDATE of `table` in the schema for a minute (pg_sleep), so a test can SIGKILL the
 * server at exactly that point of a transaction. client_connection_check_interval lets the backend notice its
 * client died while it sleeps, as a real backend stuck in a slow statement would when checking is on.
 */
export async function installHangOnUpdate (schema: TestSchema, table: string): Promise<() => Promise<void>> {
  await schema.query(`
    CREATE OR REPLACE FUNCTION fault_hang() RETURNS trigger LANGUAGE plpgsql
      SET client_connection_check_interval = '100ms'
    AS $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$`)
  await schema.query(`CREATE TRIGGER fault_hang BEFORE UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION fault_hang()`)
  return async () => { await schema.query(`DROP TRIGGER IF EXISTS fault_hang ON "${table}"`) }
}

/** Waits until one of the server's backends sits in the hang trigger's pg_sleep. */
export async function waitForHungUpdate (schema: TestSchema): Promise<void> {
  await waitFor(async () => Number((await schema.admin(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'PgSleep'", [schema.applicationName])).rows[0].n) > 0,
  'a server backend held in the hang trigger', 30_000)
}

/** After a SIGKILL, the backends the server left (normally gone within 100 ms), terminated if they linger. */
export async function reapServerBackends (schema: TestSchema): Promise<void> {
  const deadline = Date.now() + 5000
  while (await schema.serverConnections() > 0) {
    if (Date.now() > deadline) {
      await schema.admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [schema.applicationName])
      break
    }
    await sleep(100)
  }
}

// ---- the server process ----

export interface ServerProcess {
  pid: number
  port: number
  origin: string
  /** The server's log lines (pino JSON at LOG_LEVEL) and stderr, most recent last. */
  output (): string
  /** Error log lines other than "database unavailable" (the first 100). */
  unexpectedErrors (): string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  kill (signal?: NodeJS.Signals): void
  /** SIGTERM, and wait for a graceful close. */
  stop (): Promise<void>
  /** /proc/<pid>/status VmRSS, in bytes. */
  rss (): number
}

export interface ServerOptions {
  databaseUrl: string
  /** Fixed across restarts so clients keep their URL; a free one is picked when omitted. */
  port?: number
  jwtSecret: string
  dataDir: string
  env?: Record<string, string>
  nodeArgs?: string[]
}

/** Scratch space for one test's server processes: DATA_DIR, and a JWT key that survives restarts. */
export async function serverFixture (t: Test): Promise<{ dataDir: string, jwtSecret: string, port: number }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'inboxgate-fault-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  return { dataDir, jwtSecret: randomBytes(32).toString('base64url'), port: await freePort() }
}

/** Starts test/faults/support/server.ts (the real app, as src/server.ts starts it) and waits for READY. */
export async function startServer (t: Test, opts: ServerOptions): Promise<ServerProcess> {
  const port = opts.port ?? await freePort()
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', path.join(import.meta.dirname, 'server.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: opts.dataDir,
      DATABASE_URL: opts.databaseUrl,
      JWT_SECRET: opts.jwtSecret,
      LOG_LEVEL: 'warn',
      PUBLIC_ORIGINS: `http://127.0.0.1:${port}`,
      // Load from one address: the per-IP sign-up, login and Google-operation limits would otherwise be the first
      // thing a soak meets (16 virtual users reconnecting Gmail are ~230 connectGmail a minute from 127.0.0.1).
      SIGNUP_MAX_PER_IP: '1000000',
      LOGIN_MAX_ATTEMPTS_PER_IP: '1000000',
      GOOGLE_OPS_PER_IP_PER_MINUTE: '1000000',
      GOOGLE_OPS_PER_USER_PER_MINUTE: '1000000',
      // Argon2 at its cheapest (as test/helper.ts): the faults are in the database, Google and the vault.
      PASSWORD_HASH_MEMORY_KIB: '1024',
      PASSWORD_HASH_TIME_COST: '1',
      ...opts.env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  // Outages log an error per failed request: the tail can lose the one line that matters, so unexpected errors
  // (pino level 50 except the expected "database unavailable") are also kept apart.
  const unexpected: string[] = []
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-200_000)
    for (const line of chunk.split('\n')) {
      if (line.includes('"level":50') && !line.includes('"msg":"database unavailable"') && unexpected.length < 100) unexpected.push(line)
    }
  }
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', keep)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve()
      else keep(line + '\n')
    })
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${String(code ?? signal)}) before READY:\n${output.slice(-4000)}`)))
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  try {
    await ready
  } finally {
    clearTimeout(timer)
  }
  const pid = child.pid!
  return {
    pid,
    port,
    origin: `http://127.0.0.1:${port}`,
    output: () => output,
    unexpectedErrors: () => [...unexpected],
    exited,
    kill: (signal = 'SIGKILL') => { child.kill(signal) },
    stop: async () => {
      child.kill('SIGTERM')
      const { code } = await exited
      if (code !== 0) throw new Error(`server did not close cleanly (exit ${String(code)}):\n${output.slice(-4000)}`)
    },
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
  }
}

// ---- talking to it ----

export interface HttpResult<T = any> {
  /** 0 when no HTTP answer came (connection refused or reset, timeout). */
  status: number
  body?: { data?: T | null, errors?: Array<{ message: string, extensions?: { code?: string, [k: string]: unknown } }> }
  /** The raw text when it was not JSON. */
  text?: string
  networkError?: string
}

/**
 * One GraphQL request over HTTP, as an app sends it: the text of a typed document of schema/operations/, its
 * variables and `data` typed by it. Never throws: network failures come back as status 0.
 */
export async function gqlHttp<D extends TypedDocument> (origin: string, document: D, variables: VariablesOf<D>, token?: string, timeoutMs = 30_000): Promise<HttpResult<ResultOf<D>>> {
  return await postJson<ResultOf<D>>(`${origin}/graphql`, { query: String(document), variables }, token, timeoutMs)
}

export async function postJson<T = any> (url: string, payload: unknown, token?: string, timeoutMs = 30_000): Promise<HttpResult<T>> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token != null ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await res.text()
    try {
      return { status: res.status, body: JSON.parse(text) }
    } catch {
      return { status: res.status, text }
    }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string, message?: string } }
    return { status: 0, networkError: e.cause?.code ?? e.cause?.message ?? e.name }
  }
}

export const errorCodes = (r: HttpResult): string[] => (r.body?.errors ?? []).map((e) => String(e.extensions?.code))

/** A failure a client can act on: an HTTP answer under 500, every GraphQL error coded, no stack trace or SQL. */
export function isClearError (r: HttpResult): boolean {
  if (r.status === 0 || r.status >= 500 || r.body == null) return false
  const errors = r.body.errors ?? []
  return errors.length > 0 && errors.every((e) => typeof e.extensions?.code === 'string') &&
    !/\n\s+at |prisma|SELECT |INSERT |UPDATE |ECONN|terminating connection/i.test(JSON.stringify(r.body))
}
