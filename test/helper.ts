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

async function testDatabase (): Promise<Database> {
  const [loadDataDir, shared] = await Promise.all([migratedTemplate(), pgliteAssets()])
  return pgliteDatabase(await PGlite.create({ loadDataDir, ...shared }))
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
