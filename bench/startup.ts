/*
 * Cold start of the BUILT server (`node dist/src/server.js`, what `npm start` runs): from spawn to its first
 * GraphQL answer (`{ __typename }` → 200), in three cases — PostgreSQL with the schema up to date (a restart),
 * PGlite restart (data dir already initialised and migrated), PGlite on a fresh data dir (initdb + migrations) —
 * and, as the floor of a PGlite restart, PGlite's own start on that directory in a bare node process.
 * Also the RSS at that moment and its high-water mark.
 *
 *   npm run build && scripts/with-postgres.sh tsx bench/startup.ts
 *
 * Knobs: STARTUP_ROUNDS (default 5), STARTUP_NODE (a node binary; default this one), DATABASE_URL (else PG_URL;
 * without either the PostgreSQL case is skipped), STARTUP_COMPILE_CACHE=off (the server runs with
 * NODE_DISABLE_COMPILE_CACHE=1: Node ≥ 22's on-disk compile cache, which src/server.ts enables, is not used; Node 20
 * has none either way).
 */
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { assertBuilt, cpuMsOf, median, memoryOf, sleep, spawnBuiltServer } from './built-server.ts'
import { pinned, ROOT, SERVER_CPU } from './processes.ts'
import { PGLITE_SETTINGS } from '../src/db/pglite-settings.ts'

export type StartupCase = 'postgresql' | 'pgliteRestart' | 'pgliteFresh' | 'pgliteAlone'

export interface StartupSample {
  /** Spawn → first 200 from POST /graphql, ms. */
  ms: number
  /** CPU time of the server process until then, ms (10 ms ticks). */
  cpu: number
  /** RSS at that moment and its high-water mark since spawn, MiB. */
  rss: number
  hwm: number
}

export interface StartupResult {
  node: string
  nodeVersion: string
  rounds: number
  /** Whether the server could use Node's on-disk compile cache (Node ≥ 22; NODE_DISABLE_COMPILE_CACHE unset). */
  compileCache: boolean
  cases: Partial<Record<StartupCase, StartupSample[]>>
}

export interface StartupOptions {
  /** Path of the node binary running the server. */
  node: string
  /** A PostgreSQL URL; each run uses its own `?schema=`. Undefined skips the PostgreSQL case. */
  databaseUrl?: string
  rounds?: number
  /** Extra server environment. */
  env?: Record<string, string | undefined>
  log?: (line: string) => void
}

const LABELS: Record<StartupCase, string> = {
  postgresql: 'PostgreSQL, schema up to date',
  pgliteRestart: 'PGlite (embedded), restart',
  pgliteFresh: 'PGlite (embedded), fresh data dir',
  pgliteAlone: 'PGlite alone on that directory (the floor of a restart)'
}
// Issue 26's goals.
const GOALS: Record<Exclude<StartupCase, 'pgliteAlone'>, number> = { postgresql: 400, pgliteRestart: 1000, pgliteFresh: 2500 }

// A bare node process: import PGlite, PGlite.create(dir) on an existing data directory with the server's settings
// (src/db/pglite-settings.ts, given as argv[2]), one query (cwd: the checkout, so the package resolves). Timed from the
// process's own start (process.uptime), as a server is from its spawn.
const PGLITE_ALONE = `const { PGlite } = await import('@electric-sql/pglite')
const db = await PGlite.create(process.argv[1], { startParams: [...PGlite.defaultStartParams, ...JSON.parse(process.argv[2])] })
await db.query('select 1')
const ms = process.uptime() * 1000
const cpu = process.cpuUsage()
const rss = process.memoryUsage().rss / 2 ** 20
process.stdout.write(JSON.stringify({ ms, cpu: (cpu.user + cpu.system) / 1000, rss, hwm: rss }))
await db.close()`

/** PGlite's own start on `dir` (a server's DATA_DIR after it stopped), pinned as the server is. */
function pgliteAlone (node: string, dir: string): StartupSample {
  const argv = [node, '--input-type=module', '-e', PGLITE_ALONE, path.join(dir, 'pglite'), JSON.stringify(PGLITE_SETTINGS)]
  const [cmd, ...args] = pinned ? ['taskset', '-c', String(SERVER_CPU), ...argv] : argv
  return JSON.parse(execFileSync(cmd!, args, { cwd: ROOT, encoding: 'utf8' })) as StartupSample
}

// Google configured (the gateway and the Gmail client are part of a real start) against an address never
// called during start-up.
const BASE_ENV = {
  LOG_LEVEL: 'warn',
  GOOGLE_CLIENT_ID: 'startup-bench.apps.googleusercontent.com',
  GOOGLE_CLIENT_SECRET: 'startup-bench-secret',
  GOOGLE_API_BASE_URL: 'http://127.0.0.1:9'
}

/** One start: spawn → first GraphQL answer. */
async function coldStart (node: string, env: Record<string, string | undefined>): Promise<StartupSample> {
  const started = performance.now()
  const server = await spawnBuiltServer(node, env)
  try {
    for (;;) {
      if (server.child.exitCode !== null) throw new Error(`the server exited (${server.child.exitCode}):\n${server.stderr()}`)
      if (performance.now() - started > 180_000) throw new Error(`no answer after 180 s\n${server.stderr()}`)
      try {
        const res = await fetch(`${server.url}/graphql`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}'
        })
        await res.text()
        if (res.status === 200) break
      } catch {
        await sleep(5)
      }
    }
    const ms = performance.now() - started
    return { ms, cpu: cpuMsOf(server.child.pid!), ...memoryOf(server.child.pid!) }
  } finally {
    await server.stop()
  }
}

export async function measureStartup (opts: StartupOptions): Promise<StartupResult> {
  assertBuilt()
  const rounds = opts.rounds ?? 5
  const log = opts.log ?? (() => {})
  const nodeVersion = execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim()
  const cases: StartupResult['cases'] = { pgliteFresh: [], pgliteRestart: [], pgliteAlone: [] }
  if (opts.databaseUrl !== undefined) cases.postgresql = []
  const base = { ...BASE_ENV, JWT_SECRET: randomBytes(32).toString('base64url'), ...opts.env }
  for (let round = 0; round < rounds; round++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-startup-'))
    try {
      const pglite = { ...base, DATA_DIR: dir, DATABASE_URL: undefined }
      const fresh = await coldStart(opts.node, pglite)
      const restart = await coldStart(opts.node, pglite)
      cases.pgliteFresh!.push(fresh)
      cases.pgliteRestart!.push(restart)
      const alone = pgliteAlone(opts.node, dir)
      cases.pgliteAlone!.push(alone)
      let line = `round ${round + 1}: PGlite fresh ${fresh.ms.toFixed(0)} ms, restart ${restart.ms.toFixed(0)} ms (PGlite alone ${alone.ms.toFixed(0)} ms)`
      if (opts.databaseUrl !== undefined) {
        const url = `${opts.databaseUrl}${opts.databaseUrl.includes('?') ? '&' : '?'}schema=startup_${randomBytes(4).toString('hex')}`
        const pgEnv = { ...base, DATA_DIR: dir, DATABASE_URL: url }
        // The first start creates the schema and applies the migrations; the measured one finds it up to date.
        const first = await coldStart(opts.node, pgEnv)
        const upToDate = await coldStart(opts.node, pgEnv)
        cases.postgresql!.push(upToDate)
        line += `, PostgreSQL up to date ${upToDate.ms.toFixed(0)} ms (migrating start ${first.ms.toFixed(0)} ms)`
      }
      log(line)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  const compileCache = opts.env?.NODE_DISABLE_COMPILE_CACHE == null && Number(/^v(\d+)/.exec(nodeVersion)?.[1]) >= 22
  return { node: opts.node, nodeVersion, rounds, compileCache, cases }
}

const f0 = (x: number) => x.toFixed(0)
const spread = (xs: number[], unit: string) =>
  xs.length === 0 ? '–' : `**${f0(median(xs))}${unit}** (${f0(Math.min(...xs))}–${f0(Math.max(...xs))})`

/** A markdown section: one table per Node version measured. */
export function renderStartup (results: StartupResult[]): string {
  const lines = [
    '## Cold start of the built server', '',
    'From `spawn` of `node dist/src/server.js` (what `npm start` runs; Google configured, logger at `warn`) to its first',
    '200 from `POST /graphql` `{ __typename }`: median (min–max) over the rounds. The server\'s CPU time (user + system,',
    'from /proc) says how much of that is work rather than waiting for a busy machine. RSS is read from /proc when that',
    'answer arrives; HWM is the peak RSS since spawn.', ''
  ]
  for (const r of results) {
    lines.push(`### ${r.nodeVersion}, ${r.compileCache ? 'compile cache on' : 'no compile cache'} (${r.rounds} rounds)`, '', '| case | to first GraphQL answer | goal | server CPU time until then | RSS then | peak RSS (HWM) |', '|---|---|---|---|---|---|')
    for (const c of ['postgresql', 'pgliteRestart', 'pgliteAlone', 'pgliteFresh'] as const) {
      const samples = r.cases[c]
      if (samples === undefined) continue
      const ms = samples.map((s) => s.ms)
      const goal = c === 'pgliteAlone' ? 'the floor' : `≤ ${GOALS[c]} ms (${median(ms) <= GOALS[c] ? 'met' : 'not met'})`
      lines.push(`| ${LABELS[c]} | ${spread(ms, ' ms')} | ${goal} | ${spread(samples.map((s) => s.cpu), ' ms')} | ${spread(samples.map((s) => s.rss), ' MiB')} | ${spread(samples.map((s) => s.hwm), ' MiB')} |`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

if (process.argv[1] === import.meta.filename) {
  const rounds = Number(process.env.STARTUP_ROUNDS ?? 5)
  const result = await measureStartup({
    node: process.env.STARTUP_NODE ?? process.execPath,
    databaseUrl: process.env.DATABASE_URL ?? process.env.PG_URL,
    rounds,
    env: process.env.STARTUP_COMPILE_CACHE === 'off' ? { NODE_DISABLE_COMPILE_CACHE: '1' } : {},
    log: (line) => process.stderr.write(`[startup] ${line}\n`)
  })
  process.stdout.write(renderStartup([result]) + '\n')
}
