/*
 * `npm run bench` (scripts/with-postgres.sh starts a throwaway PostgreSQL 15 and exports PG_URL): the benchmarks of
 * issues 5, 13 and 15, written to BENCHMARKS.md. This process is the load generator (autocannon, in-process) and
 * hosts the Google emulator. The server under test is the BUILT server, unmodified (`npm run build`, then
 * `node dist/src/server.js` as `npm start` runs it), once on each Node.js version; the lean reference (bench/lean/)
 * runs beside it as its own process. Both are pinned to one CPU, the load and PostgreSQL to the other.
 *
 * Setup goes through what a deployer has: the public GraphQL API (sign-up, connectGmail), `npm run admin` (service
 * clients), /metrics (counters, event-loop delay), and, for what would otherwise cost minutes of Argon2 or waiting
 * for a token to age, the database and the local vault directly (sessions with known refresh tokens; a stored
 * Gmail expiry moved forward). See BENCHMARKS.md, "How this is measured".
 *
 * Knobs: BENCH_QUICK=1 (a fast sanity run), BENCH_NODES (default "20,26"), BENCH_ROUNDS, BENCH_DURATION (s per
 * measurement), BENCH_WARMUP (s), BENCH_CONNECTIONS, BENCH_LOGIN_DURATION (s), BENCH_CUSTODY_ROUNDS,
 * BENCH_LOG_LEVEL (the server's LOG_LEVEL, default info as in production), BENCH_SKIP_BUILD=1, BENCH_OUTPUT (file),
 * BENCH_STARTUP_ROUNDS (cold starts per case and Node version, bench/startup.ts), BENCH_SOAK_SECONDS (the mixed soak
 * of bench/soak.ts, run once, on the last Node version: the current LTS line by default), BENCH_EVENTS_USERS,
 * BENCH_EVENTS_MESSAGES, BENCH_EVENTS_RATE, BENCH_EVENTS_BURST (bench/mailbox-events.ts, run once on the last Node
 * version). BENCH_ONLY=events runs only the mailbox-events section and replaces that section of BENCHMARKS.md
 * (BENCH_OUTPUT), leaving the rest of the file as it was.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { startGoogleEmulator } from '../emulators/google/app.ts'
import { DEFAULT_IOS_CLIENT, DEFAULT_USERS, DEFAULT_WEB_CLIENT } from '../emulators/google/seeds.ts'
import { fmt } from './load.ts'
import { renderMailboxEvents, runMailboxEvents } from './mailbox-events.ts'
import { markdown } from './report.ts'
import type { NodeReport, Report } from './report.ts'
import { buildLean, cleanup, CPUS, LOADGEN_CPU, log, nodeBinaries, onCleanup, pinned, pinPostgres, ROOT, runBench, SERVER_CPU } from './processes.ts'
import { runSections } from './sections.ts'
import { runSoak } from './soak.ts'
import { measureStartup } from './startup.ts'

const QUICK = process.env.BENCH_QUICK === '1'

function knob (name: string, full: number, quick: number): number {
  const raw = process.env[name]
  if (raw == null || raw === '') return QUICK ? quick : full
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`)
  return value
}

export const S = {
  quick: QUICK,
  rounds: knob('BENCH_ROUNDS', 5, 1),
  duration: knob('BENCH_DURATION', 6, 2),
  warmup: knob('BENCH_WARMUP', 2, 1),
  connections: knob('BENCH_CONNECTIONS', 50, 50),
  loginDuration: knob('BENCH_LOGIN_DURATION', 10, 3),
  custodyRounds: knob('BENCH_CUSTODY_ROUNDS', 3, 1),
  startupRounds: knob('BENCH_STARTUP_ROUNDS', 5, 1),
  soakSeconds: knob('BENCH_SOAK_SECONDS', 600, 60),
  eventsUsers: knob('BENCH_EVENTS_USERS', 100, 100),
  eventsMessages: knob('BENCH_EVENTS_MESSAGES', 600, 100),
  eventsRate: knob('BENCH_EVENTS_RATE', 20, 20),
  eventsBurst: knob('BENCH_EVENTS_BURST', 1000, 200),
  /** Only one section: `events` (the others take half an hour; this one a few minutes). */
  only: process.env.BENCH_ONLY,
  nodes: (process.env.BENCH_NODES ?? '20,26').split(',').map((s) => s.trim()).filter(Boolean),
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
  output: path.resolve(ROOT, process.env.BENCH_OUTPUT ?? 'BENCHMARKS.md')
}
export type Settings = typeof S

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`)
    void cleanup().finally(() => process.exit(130))
  })
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

async function main (): Promise<void> {
  const PG_URL = process.env.PG_URL
  if (PG_URL == null || PG_URL === '') throw new Error('PG_URL is not set: run `npm run bench` (scripts/with-postgres.sh starts PostgreSQL 15)')
  if (pinned) execFileSync('taskset', ['-a', '-cp', String(LOADGEN_CPU), String(process.pid)], { stdio: 'ignore' })
  log(`${CPUS} CPUs; ${pinned ? `load generator on CPU ${LOADGEN_CPU}, servers on CPU ${SERVER_CPU}` : 'not pinned (no taskset or one CPU)'}; ${QUICK ? 'QUICK mode' : 'full run'}`)

  if (process.env.BENCH_SKIP_BUILD !== '1') {
    log('npm run build (the server under test is dist/src/server.js)')
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  }
  const nodes = nodeBinaries(S.nodes)
  if (nodes.length === 0) throw new Error('no Node.js binary to run the server with')
  const events = async () => await runMailboxEvents({
    node: nodes.at(-1)!.bin, databaseUrl: PG_URL, users: S.eventsUsers, messages: S.eventsMessages, rate: S.eventsRate, burst: S.eventsBurst, log: (line) => log(`events: ${line}`)
  })
  if (S.only === 'events') {
    log(`=== mailbox events only, ${nodes.at(-1)!.label} ===`)
    pinPostgres(LOADGEN_CPU)
    const section = renderMailboxEvents(await events(), [...Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_')).map(([k, v]) => `${k}=${v ?? ''}`).sort(), 'npm run bench'].join(' '))
    const current = await readFile(S.output, 'utf8').catch(() => '# Benchmarks\n')
    // The section runs from its heading to the next level-2 heading (or the end of the file).
    const at = current.search(/^## Mailbox events/m)
    const end = at < 0 ? -1 : current.slice(at + 3).search(/^## /m)
    const updated = at < 0 ? `${current.trimEnd()}\n\n${section}` : `${current.slice(0, at)}${section}${end < 0 ? '' : '\n' + current.slice(at + 3 + end)}`
    await writeFile(S.output, updated)
    log(`section written into ${path.relative(ROOT, S.output)}`)
    return
  }
  if (S.only != null && S.only !== '') throw new Error(`BENCH_ONLY=${S.only}: only "events" can run alone (bench/startup.ts and bench/soak.ts run alone with tsx)`)
  const leanScript = await buildLean()

  const report: Report = {
    started: new Date(),
    loadavg: { start: os.loadavg() },
    pgVersion: await postgresVersion(PG_URL),
    pgPinned: pinPostgres(LOADGEN_CPU),
    settings: S,
    nodes: [],
    startup: []
  }
  const emulator = await startGoogleEmulator({ clients: [DEFAULT_WEB_CLIENT, DEFAULT_IOS_CLIENT], users: DEFAULT_USERS })
  onCleanup(async () => await emulator.close())

  for (const node of nodes) {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-bench-'))
    onCleanup(async () => await rm(dataDir, { recursive: true, force: true }))
    const schema = `bench_${randomBytes(4).toString('hex')}`
    const databaseUrl = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`
    /** What every process of this run gets: the same keys, database, vault directory and emulator. */
    const env: Record<string, string | undefined> = {
      HOST: '127.0.0.1',
      LOG_LEVEL: S.logLevel,
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      DB_POOL_MAX: '10',
      JWT_SECRET: randomBytes(32).toString('hex'),
      LOCAL_VAULT_KEY: randomBytes(32).toString('hex'),
      METRICS_ENABLED: 'true',
      METRICS_TOKEN: undefined,
      // A run lasts longer than the default 15 minutes; the cost of verifying a token does not depend on it.
      ACCESS_TOKEN_TTL_SECONDS: '86400',
      // The throttles still run (their database writes are part of the cost) but never refuse the bench.
      LOGIN_MAX_ATTEMPTS_PER_IP: '1000000000',
      LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '1000000000',
      SIGNUP_MAX_PER_IP: '1000000000',
      OAUTH_TOKEN_MAX_PER_CLIENT: '1000000000',
      GOOGLE_CLIENT_ID: DEFAULT_WEB_CLIENT.id,
      GOOGLE_CLIENT_SECRET: DEFAULT_WEB_CLIENT.secret,
      GOOGLE_IOS_CLIENT_IDS: DEFAULT_IOS_CLIENT.id,
      GOOGLE_API_BASE_URL: emulator.baseUrl
    }
    log(`=== ${node.label} (${node.version}) ===`)
    const result: NodeReport = await runSections({ node, env, leanScript, emulator, settings: S })
    report.nodes.push(result)
    // Backends of this run's pool are gone with the servers; new ones fork from the (pinned) postmaster.
    pinPostgres(LOADGEN_CPU)
  }

  // Start-up and the soak come after the load sections: each spawns its own servers (and the soak its own emulator).
  for (const node of nodes) {
    log(`=== start-up, ${node.label}: ${S.startupRounds} rounds ===`)
    report.startup!.push(await measureStartup({ node: node.bin, databaseUrl: PG_URL, rounds: S.startupRounds, log }))
  }
  log(`=== mailbox events, ${nodes.at(-1)!.label} ===`)
  report.events = await events()
  const soakNode = nodes.at(-1)!
  log(`=== soak, ${soakNode.label}: ${S.soakSeconds} s ===`)
  report.soak = await runSoak({ node: soakNode.bin, databaseUrl: PG_URL, seconds: S.soakSeconds, log })

  report.finished = new Date()
  report.loadavg.end = os.loadavg()
  await writeFile(S.output, markdown(report))
  log(`written ${path.relative(ROOT, S.output)} in ${fmt((report.finished.getTime() - report.started.getTime()) / 60_000, 1)} min`)
}

await runBench(main)
