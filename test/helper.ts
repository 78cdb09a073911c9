import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { DocumentTypeDecoration, ResultOf, VariablesOf } from '@graphql-typed-document-node/core'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import app, { serverOptions } from '../src/app.ts'
import { pgliteStartParams } from '../src/db/pglite-settings.ts'
import { pgliteDatabase } from '../src/db/prisma.ts'
import type { Database } from '../src/db/prisma.ts'
import { applyMigrations } from '../src/db/migrations.ts'
import { PGliteAdapterFactory } from '../src/db/pglite-adapter.ts'
import type { Clock } from '../src/clock.ts'
import type { ClosableTokenVault } from '../src/vault/index.ts'
import { loadConfig } from '../src/config.ts'
import { SignUpDocument } from './support/generated/graphql.ts'
import type { ClientKind } from './support/generated/graphql.ts'

interface Teardown { teardown (fn: () => unknown): void }

/*
 * Creating a PGlite database runs initdb in WASM (5–8 s of CPU); loading a dump of one costs far less. So the
 * migrated database is made once, cached in the temp dir keyed by the migrations' content, and each test app gets
 * its own copy — still a real, separate PostgreSQL (PGlite) database.
 * Loading a copy is mostly writing its files into PGlite's in-memory file system, so the template is kept small:
 * 1 MiB WAL segments instead of 16 MiB, no template0/template1 databases (the app only ever uses `postgres`), an
 * uncompressed tar (15 MiB instead of 40 MiB unpacked): ≈ 0.9 s of CPU per test app instead of ≈ 2.2 s.
 * The WASM module and PGlite's file-system bundle are read and compiled once per process, not once per app.
 */
let template: Promise<Blob> | undefined
async function migratedTemplate (): Promise<Blob> {
  template ??= (async () => {
    const dir = path.join(repoRootForTests, 'prisma', 'migrations')
    const hash = createHash('sha256').update(process.version).update('slim-1')
    for (const name of (await readdir(dir)).sort()) {
      hash.update(name)
      if (!name.endsWith('.toml')) hash.update(await readFile(path.join(dir, name, 'migration.sql')))
    }
    const file = path.join(tmpdir(), `inboxgate-pglite-template-${hash.digest('hex').slice(0, 16)}.tar`)
    try {
      return new Blob([await readFile(file)])
    } catch {}
    const db = await PGlite.create({ ...await pgliteAssets(), initDbStartParams: ['--wal-segsize=1'] })
    await applyMigrations(new PGliteAdapterFactory(db))
    await db.exec("UPDATE pg_database SET datistemplate = false WHERE datname IN ('template0', 'template1')")
    await db.exec('DROP DATABASE template0')
    await db.exec('DROP DATABASE template1')
    await db.exec('CHECKPOINT')
    const dump = await db.dumpDataDir('none')
    await db.close()
    // Written under a unique name then renamed: parallel test processes may race to create it.
    const tmp = `${file}.${process.pid}`
    await writeFile(tmp, Buffer.from(await dump.arrayBuffer()))
    await rename(tmp, file)
    return dump
  })()
  return await template
}

let assets: Promise<{ pgliteWasmModule: WebAssembly.Module, fsBundle: Blob }> | undefined
async function pgliteAssets () {
  assets ??= (async () => {
    const dist = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
    const [wasm, data] = await Promise.all([readFile(path.join(dist, 'pglite.wasm')), readFile(path.join(dist, 'pglite.data'))])
    // (The project's TypeScript libs declare WebAssembly's types but not the global object.)
    const wasmApi = (globalThis as unknown as { WebAssembly: { compile: (bytes: Uint8Array) => Promise<WebAssembly.Module> } }).WebAssembly
    return { pgliteWasmModule: await wasmApi.compile(wasm), fsBundle: new Blob([data]) }
  })()
  return await assets
}

async function freshDatabase (): Promise<PGlite> {
  const [loadDataDir, shared] = await Promise.all([migratedTemplate(), pgliteAssets()])
  // Run as the server runs its embedded database (src/db/pglite-settings.ts): a 16 MB buffer pool, not 128 MB.
  return await PGlite.create({ loadDataDir, ...shared, startParams: pgliteStartParams(PGlite.defaultStartParams) })
}

/*
 * Even from the slim template, a new PGlite costs ≈ 0.9–1.4 s of CPU per test app (writing the data directory into
 * PGlite's in-memory file system, starting PostgreSQL in WASM), and the suite builds ≈ 160 apps. So a test process
 * keeps the PGlite instances its apps have closed, and hands one to its next app once it is as a fresh copy of the
 * template would be:
 * - the session is reset (ROLLBACK of anything left open, DISCARD ALL: settings, prepared statements, temporary
 *   tables, advisory locks, LISTENs);
 * - every table but `_prisma_migrations` is emptied (TRUNCATE … RESTART IDENTITY: sequences restart);
 * - the schema (tables, columns, constraints, indexes, triggers, functions, types, the applied migrations) must
 *   fingerprint as the template's: a test that altered it (renaming a table to make a query fail, say) and did not
 *   put it back exactly leaves an instance that is closed, not reused.
 * The migrations insert no rows (checked on the first instance: if one ever does, every app gets a fresh copy again,
 * as before, until the reset restores those rows). Apps that run at the same time each hold their own instance;
 * tests that need a database of their own (migrations, first start) open their own PGlite, not this pool.
 * An open PGlite keeps its process alive: after a query PostgreSQL arms its idle statistics flush (a 10 s timer, an
 * itimer that Emscripten maps to a referenced setTimeout) and rearms it when it fires, so the event loop never
 * empties, `beforeExit` never comes and a test process holding idle instances hung until tap's timeout. The idle
 * instances are therefore closed in a teardown of tap's root test, which ends the root when its last subtest is done
 * (tap's documented way out for tests that hold servers), as the files that start moto already do.
 */
const POOL_IDLE_MAX = 2
const idle: PGlite[] = []
const poolCounts = { created: 0, reused: 0, discarded: 0 }
/** How this process's test apps got their PGlite: a fresh copy of the template, a reset one, or one that was closed. */
export function testDatabasePoolCounts () { return { ...poolCounts } }
let templateState: Promise<{ fingerprint: string, userTables: string[], seeded: boolean }> | undefined

const FINGERPRINT_SQL = `
  WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'),
  parts AS (
    SELECT 'ns:' || nspname AS part FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
    UNION ALL SELECT 'rel:' || c.oid::regclass || ':' || c.relkind::text FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'col:' || a.attrelid::regclass || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':'
      || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relnamespace IN (SELECT oid FROM ns) AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL SELECT 'con:' || conrelid::regclass || ':' || conname || ':' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'idx:' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'trg:' || tgrelid::regclass || ':' || tgname || ':' || tgenabled::text || ':' || pg_get_triggerdef(oid)
      FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'fn:' || p.oid::regprocedure || ':' || md5(coalesce(p.prosrc, '')) FROM pg_proc p
      WHERE p.pronamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'type:' || t.oid::regtype || ':' || coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
      FROM pg_enum WHERE enumtypid = t.oid), '') FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'mig:' || migration_name || ':' || checksum || ':' || coalesce(finished_at::text, '') || ':'
      || coalesce(rolled_back_at::text, '') FROM _prisma_migrations
  )
  SELECT md5(string_agg(part, E'\\n' ORDER BY part)) AS fingerprint FROM parts`

const USER_TABLES_SQL = `
  SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
  WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> '_prisma_migrations' ORDER BY 1`

async function fingerprint (db: PGlite): Promise<string> {
  const [row] = (await db.query<{ fingerprint: string }>(FINGERPRINT_SQL)).rows
  if (row == null) throw new Error('no schema fingerprint')
  return row.fingerprint
}

/** The template's schema fingerprint and tables, taken from an instance no app has used yet. */
async function inspectTemplate (db: PGlite) {
  templateState ??= (async () => {
    const userTables = (await db.query<{ name: string }>(USER_TABLES_SQL)).rows.map((r) => r.name)
    let seeded = false
    for (const table of userTables) {
      if ((await db.query(`SELECT 1 FROM ${table} LIMIT 1`)).rows.length > 0) seeded = true
    }
    return { fingerprint: await fingerprint(db), userTables, seeded }
  })()
  return await templateState
}

/** Back to the template's state, or false when this instance cannot be (then it is closed, not reused). */
async function reset (db: PGlite): Promise<boolean> {
  const { fingerprint: expected, userTables, seeded } = await inspectTemplate(db)
  if (seeded || db.closed) return false
  try {
    await db.exec('ROLLBACK')
    await db.exec('DISCARD ALL')
    if (await fingerprint(db) !== expected) return false
    if (userTables.length > 0) await db.exec(`TRUNCATE ${userTables.join(', ')} RESTART IDENTITY CASCADE`)
    return true
  } catch {
    return false
  }
}

async function release (db: PGlite): Promise<void> {
  if (!poolClosed && idle.length < POOL_IDLE_MAX && await reset(db)) {
    idle.push(db)
    return
  }
  poolCounts.discarded++
  if (!db.closed) await db.close()
}

let poolOpen: Promise<void> | undefined
async function openPool (): Promise<void> {
  poolOpen ??= (async () => {
    // tap is imported here, not at the top: processes that are not tests (test/gmail/token-worker.ts, on
    // PostgreSQL) import this file too, and tap's root writes TAP to the stdout they talk through.
    const { default: tap } = await import('tap')
    tap.teardown(async () => {
      poolClosed = true
      await Promise.all(idle.splice(0).map(async (db) => await db.close()))
    })
  })()
  await poolOpen
}
let poolClosed = false

async function testDatabase (): Promise<Database> {
  await openPool()
  let db = idle.pop()
  if (db != null) poolCounts.reused++
  else {
    db = await freshDatabase()
    poolCounts.created++
  }
  // Taken before any app writes to it: the first instance of the process is a copy of the template, untouched.
  await inspectTemplate(db)
  const database = await pgliteDatabase(db)
  // Once: a second close of the same app (a test closing it, then this file's teardown) must not pool it twice.
  let released = false
  return { ...database, close: async () => { if (!released) { released = true; await release(db) } } }
}

const repoRootForTests = path.resolve(import.meta.dirname, '..')

/** The configuration's default Argon2 cost, for the tests of hashing itself (the suite hashes at 1 MiB × 1). */
export const DEFAULT_HASH_COST = { PASSWORD_HASH_MEMORY_KIB: '19456', PASSWORD_HASH_TIME_COST: '2' }

export interface TestApp {
  app: FastifyInstance
  /** Every log line the app wrote (JSON strings): tests assert that no token ever appears in them. */
  logs: string[]
}

/**
 * Builds the real application for one test: PGlite in memory by default, or a fresh schema in the
 * PostgreSQL at TEST_DATABASE_URL (CI runs the suite on both). Closed, and the schema dropped, in teardown.
 */
export interface BuildOptions {
  env?: Record<string, string>
  clock?: Clock
  vault?: ClosableTokenVault
  /** On PostgreSQL: join the schema of another test app (two server instances on one database). */
  pgSchema?: string
  /** false: as an admin command's app, no background job runs (workers are driven by the test). */
  backgroundJobs?: boolean
}

export async function buildTestApp (t: Teardown, opts: BuildOptions = {}): Promise<TestApp & { pgSchema: string }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'inboxgate-test-'))
  const pgUrl = process.env.TEST_DATABASE_URL
  const schema = opts.pgSchema ?? `test_${randomBytes(6).toString('hex')}`
  const config = await loadConfig({
    DATA_DIR: dataDir,
    DATABASE_URL: pgUrl != null && pgUrl !== '' ? `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}schema=${schema}` : 'memory://',
    // Apps that share a PostgreSQL schema (two server processes on one database) share the secret too, as a
    // deployment's servers do: the access-token signing keys in the database are sealed under it.
    JWT_SECRET: createHash('sha256').update(`inboxgate-test-jwt:${schema}:${pgUrl ?? dataDir}`).digest('base64url'),
    LOG_LEVEL: 'debug',
    // Argon2 at its cheapest sensible cost: tests sign up and log in thousands of times, and what they check does not
    // depend on the cost (test/users/ checks hashing at the default cost: DEFAULT_HASH_COST). PRODUCTION=true refuses
    // a cost below OWASP's minimum: apps built as production keep the default.
    ...(opts.env?.PRODUCTION === 'true' ? {} : { PASSWORD_HASH_MEMORY_KIB: '1024', PASSWORD_HASH_TIME_COST: '1' }),
    ...opts.env
  })
  const logs: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { logs.push(String(chunk)); cb() } })
  const server = Fastify(serverOptions(config, { level: 'debug', stream }))
  const usePg = pgUrl != null && pgUrl !== ''
  await server.register(app, { config, clock: opts.clock, vault: opts.vault, backgroundJobs: opts.backgroundJobs, database: usePg ? undefined : await testDatabase() })
  await server.ready()
  t.teardown(async () => {
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
    if (pgUrl != null && pgUrl !== '' && opts.pgSchema == null) {
      const client = new pg.Client({ connectionString: pgUrl })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    }
  })
  return { app: server, logs, pgSchema: schema }
}

export interface GqlOptions {
  token?: string
  headers?: Record<string, string>
  cookies?: Record<string, string>
}

export interface GqlResult<T = any> {
  status: number
  data: T
  errors?: Array<{ message: string, extensions: { code: string, [k: string]: unknown }, path?: string[] }>
  response: LightMyRequestResponse
}

/** A generated document (`TypedDocumentString`: the operation's text, typed with its result and variables). */
export type TypedDocument = DocumentTypeDecoration<any, any> & { toString: () => string }

/** Variables are optional for an operation that declares none. */
type GqlArgs<V> = Record<string, never> extends V ? [variables?: V, opts?: GqlOptions] : [variables: V, opts?: GqlOptions]

/**
 * Sends a GraphQL request. Tests send the typed documents of `schema/operations/` (test/support/generated/), as a
 * client would: variables and `data` are typed from the document (`data` is null when the operation failed).
 * A plain string is for what no client of ours sends (hostile or malformed queries, aliases, depth, introspection,
 * bad input): `data` is then `any`.
 */
export async function gql<T = any> (app: FastifyInstance, query: string, variables?: Record<string, unknown>, opts?: GqlOptions): Promise<GqlResult<T>>
export async function gql<D extends TypedDocument> (app: FastifyInstance, document: D, ...args: GqlArgs<VariablesOf<D>>): Promise<GqlResult<ResultOf<D> | null>>
export async function gql (app: FastifyInstance, query: string | TypedDocument, ...args: any[]): Promise<GqlResult<any>> {
  const [variables = {}, opts = {}] = args as [object?, GqlOptions?]
  const response = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: {
      'content-type': 'application/json',
      ...(opts.token != null ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers
    },
    cookies: opts.cookies,
    payload: JSON.stringify({ query: String(query), variables })
  })
  const body = response.json()
  return { status: response.statusCode, data: body.data, errors: body.errors, response }
}

/** A typed operation that must succeed (a test's set-up steps): its `data`, or a throw with the errors. */
export async function gqlData<D extends TypedDocument> (app: FastifyInstance, document: D, ...args: GqlArgs<VariablesOf<D>>): Promise<ResultOf<D>> {
  const res = await gql(app, document, ...args)
  if (res.errors != null || res.data == null) throw new Error(`operation failed: ${JSON.stringify(res.errors)}`)
  return res.data
}

/** Headers a browser page of ours sends with a cookie-authenticated request. */
export const browserHeaders = { origin: 'http://localhost:4000', 'x-mercurius-operation-name': 'Refresh' }

export const COOKIE = '__Host-inboxgate_rt'

export function refreshCookie (response: LightMyRequestResponse) {
  return response.cookies.find((c) => c.name === COOKIE)
}

export const PASSWORD = 'correct horse battery staple'

let counter = 0
export function uniqueEmail (): string {
  return `user${Date.now()}_${counter++}@example.com`
}

/** Signs a new user up; a NATIVE client gets its refresh token in the body, a WEB one only in the cookie. */
export async function signUp<C extends ClientKind = 'NATIVE'> (app: FastifyInstance, client: C = 'NATIVE' as C, email = uniqueEmail()) {
  const res = await gql(app, SignUpDocument, { input: { email, password: PASSWORD, name: 'Test User', client } })
  if (res.errors != null || res.data == null) throw new Error(`signUp failed: ${JSON.stringify(res.errors)}`)
  const { refreshToken, ...rest } = res.data.signUp
  if ((refreshToken == null) !== (client === 'WEB')) throw new Error(`signUp: unexpected refreshToken for a ${client} client`)
  return { ...rest, refreshToken: refreshToken as C extends 'NATIVE' ? string : null, email, response: res.response }
}
