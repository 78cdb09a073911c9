import path from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { PGlite } from '@electric-sql/pglite'
import { PrismaPg } from '@prisma/adapter-pg'
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils'
import fp from 'fastify-plugin'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.ts'
import { CommittedWrites } from './committed-writes.ts'
import { applyMigrations } from './migrations.ts'
import { listenPglite, listenPostgres } from './notifications.ts'
import type { ListenLog, NotificationHandlers, Subscription } from './notifications.ts'
import { lockDataDir } from './data-dir-lock.ts'
import { initializeFreshDataDir } from './pglite-first-start.ts'
import { pgliteStartParams } from './pglite-settings.ts'
import type { FirstStartOptions } from './pglite-first-start.ts'

export type DatabaseKind = 'postgresql' | 'pglite'

export interface Database {
  kind: DatabaseKind
  adapter: SqlMigrationAwareDriverAdapterFactory
  /**
   * The factory migrations run through. On PostgreSQL it owns a one-connection pool that migrating ends:
   * the schema engine takes a session advisory lock and relies on its connection closing to release it,
   * so it must not run on a connection the app's pool keeps.
   */
  migrationAdapter (): SqlMigrationAwareDriverAdapterFactory
  /** LISTEN on `channel` (src/db/notifications.ts): on PostgreSQL through a connection of its own, outside the pool. */
  listen (channel: string, handlers: NotificationHandlers, log: ListenLog): Subscription
  close (): Promise<void>
}

/**
 * PostgreSQL when DATABASE_URL is a postgres URL (a `?schema=` parameter selects a schema, created if
 * missing: tests use one per app); otherwise PGlite — in DATA_DIR/pglite, or in memory for `memory://`.
 */
export async function openDatabase (
  databaseUrl: string | undefined, dataDir: string, poolMax = 10, firstStart: FirstStartOptions = {}
): Promise<Database> {
  if (databaseUrl?.startsWith('postgres') === true) {
    const url = new URL(databaseUrl)
    const schema = url.searchParams.get('schema') ?? undefined
    url.searchParams.delete('schema')
    if (schema != null) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('DATABASE_URL: schema must be a plain lower-case identifier')
      const client = new pg.Client({ connectionString: url.toString() })
      await client.connect()
      try { await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`) } finally { await client.end() }
    }
    const poolConfig = { connectionString: url.toString(), ...(schema != null ? { options: `-c search_path="${schema}"` } : {}) }
    const pgOptions = schema != null ? { schema } : undefined
    const pool = new pg.Pool({ ...poolConfig, max: poolMax })
    return {
      kind: 'postgresql',
      adapter: new PrismaPg(pool, pgOptions) as unknown as SqlMigrationAwareDriverAdapterFactory,
      migrationAdapter: () => new PrismaPg({ ...poolConfig, max: 1 }, pgOptions),
      listen: (channel, handlers, log) => listenPostgres(poolConfig, channel, handlers, log),
      close: async () => { await pool.end() }
    }
  }
  let dir: string | undefined
  let unlock = () => {}
  if (databaseUrl !== 'memory://') {
    dir = path.resolve(dataDir, 'pglite')
    await mkdir(dir, { recursive: true, mode: 0o700 })
    // Before PGlite touches the files: a second process (server or admin command) refuses here, nothing written.
    unlock = lockDataDir(dir)
  }
  try {
    // An empty directory is initialized (and migrated, when asked) in a child process first: initdb's memory
    // peak leaves with it instead of staying in this process (src/db/pglite-first-start.ts).
    if (dir != null) await initializeFreshDataDir(dir, firstStart)
    // PGlite (WASM PostgreSQL, ≈0.2 s to import) is loaded only when the embedded database is used.
    const { PGlite } = await import('@electric-sql/pglite')
    // One PGlite instance per data dir and process: migrations and queries share it.
    const db = await PGlite.create(dir, { startParams: pgliteStartParams(PGlite.defaultStartParams) })
    return await pgliteDatabase(db, unlock)
  } catch (err) {
    unlock()
    throw err
  }
}

export async function pgliteDatabase (db: PGlite, unlock = () => {}): Promise<Database> {
  const { PGliteAdapterFactory } = await import('./pglite-adapter.ts')
  const adapter = new PGliteAdapterFactory(db)
  return {
    kind: 'pglite',
    adapter,
    migrationAdapter: () => adapter,
    listen: (channel, handlers) => listenPglite(db, channel, handlers),
    close: async () => { try { await db.close() } finally { unlock() } }
  }
}

/** What the app sees of its database beside Prisma. */
export interface DatabaseAccess {
  kind: DatabaseKind
  listen: Database['listen']
  /** This process's committed writes to the given tables (src/db/committed-writes.ts). */
  committedWrites: Pick<CommittedWrites, 'watch'>
}

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
    database: DatabaseAccess
  }
}

export default fp(async (app, opts: { database?: Database }) => {
  const { DATABASE_URL, DATA_DIR, DB_MIGRATE_ON_START, DB_POOL_MAX } = app.config
  // A database opened by the caller (tests hand in a PGlite cloned from a migrated template) is closed here too.
  const logger = { info: (m: string) => app.log.info(m) }
  const database = opts.database ?? await openDatabase(DATABASE_URL, DATA_DIR, DB_POOL_MAX, { migrate: DB_MIGRATE_ON_START, logger })
  try {
    if (DB_MIGRATE_ON_START) {
      // After a first start migrated in its child process, one query finds the schema up to date.
      await applyMigrations(database.migrationAdapter(), { logger })
    }
  } catch (err) {
    await database.close()
    throw err
  }
  const committedWrites = new CommittedWrites()
  const prisma = new PrismaClient({ adapter: committedWrites.wrap(database.adapter) })
  app.decorate('prisma', prisma)
  app.decorate('database', { kind: database.kind, listen: database.listen, committedWrites })
  app.addHook('onClose', async () => {
    await prisma.$disconnect()
    await database.close()
  })
}, { name: 'prisma', dependencies: ['config'] })
