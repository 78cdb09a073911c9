import { createHash, randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPg } from '@prisma/adapter-pg'
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils'
import pg from 'pg'
import { test } from 'tap'
import { PrismaClient } from '../../src/generated/prisma/client.ts'
import { applyMigrations, checkDrift, createMigration, migrationsUpToDate, schemaEngineStats } from '../../src/db/migrations.ts'
import { PGliteAdapterFactory } from '../../src/db/pglite-adapter.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const migrationsDir = path.join(root, 'prisma', 'migrations')
const schemaPath = path.join(root, 'prisma', 'schema.prisma')
const migrationNames = (await readdir(migrationsDir, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()

interface Teardown { teardown: (fn: () => unknown) => void }

async function memoryDb (t: Teardown): Promise<PGlite> {
  const db = await PGlite.create()
  t.teardown(() => db.close())
  return db
}

// The real migrations plus one whose second statement is invalid SQL.
async function brokenMigrationsDir (t: Teardown): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'inboxgate-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(migrationsDir, dir, { recursive: true })
  await mkdir(path.join(dir, '29991231235959_broken'))
  await writeFile(path.join(dir, '29991231235959_broken', 'migration.sql'),
    'CREATE TABLE "half_applied" ("id" INTEGER);\nCREATE TABLE "oops" (;\n')
  return dir
}

test('the repository has migrations', async (t) => {
  t.ok(migrationNames.length > 0)
  t.match(await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8'), /provider = "postgresql"/)
})

test('applies the migrations to a fresh PGlite, once, with Prisma-compatible checksums', async (t) => {
  const db = await memoryDb(t)
  const adapter = new PGliteAdapterFactory(db)
  t.same(await applyMigrations(adapter), migrationNames)
  t.same(await applyMigrations(adapter), [], 'a second run applies nothing')

  const { rows } = await db.query<{ migration_name: string, checksum: string, finished_at: Date | null }>(
    'SELECT migration_name, checksum, finished_at FROM _prisma_migrations ORDER BY migration_name')
  t.equal(rows.length, migrationNames.length)
  for (const row of rows) {
    const sql = await readFile(path.join(migrationsDir, row.migration_name, 'migration.sql'))
    t.equal(row.checksum, createHash('sha256').update(sql).digest('hex'), `checksum of ${row.migration_name}`)
    t.ok(row.finished_at, `${row.migration_name} finished`)
  }

  // The same factory serves runtime queries.
  const prisma = new PrismaClient({ adapter })
  t.teardown(() => prisma.$disconnect())
  const created = await prisma.user.create({ data: { email: 'ada@example.com' } })
  const found = await prisma.user.findUnique({ where: { email: 'ada@example.com' } })
  t.equal(found?.id, created.id)
  t.equal(found?.emailVerified, false)
})

// The real migrations plus a harmless one, to mark applied, pending, failed or rolled back.
async function extraMigrationDir (t: Teardown): Promise<{ dir: string, extraFile: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'inboxgate-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(migrationsDir, dir, { recursive: true })
  await mkdir(path.join(dir, '29991231235959_extra'))
  const extraFile = path.join(dir, '29991231235959_extra', 'migration.sql')
  await writeFile(extraFile, 'CREATE TABLE "extra" ("id" INTEGER);\n')
  return { dir, extraFile }
}

test('an up-to-date database is checked with one query: the schema engine starts only when migrate deploy has work or a word to say', async (t) => {
  const db = await memoryDb(t)
  const adapter = new PGliteAdapterFactory(db)
  const { dir, extraFile } = await extraMigrationDir(t)
  const opts = { migrationsDir: dir }
  const engineStarts = async (fn: () => Promise<unknown>): Promise<number> => {
    const before = schemaEngineStats.starts
    await fn()
    return schemaEngineStats.starts - before
  }
  const extraRow = "migration_name = '29991231235959_extra'"

  t.equal(await migrationsUpToDate(adapter, opts), false, 'no _prisma_migrations table yet')
  t.equal(await engineStarts(async () => t.same(await applyMigrations(adapter, opts), [...migrationNames, '29991231235959_extra'])), 1)
  t.equal(await migrationsUpToDate(adapter, opts), true)
  t.equal(await engineStarts(async () => t.same(await applyMigrations(adapter, opts), [])), 0, 'up to date: no engine')

  // Pending: a migration folder the table does not have.
  t.equal(await migrationsUpToDate(adapter), false, 'a row for a migration this code lacks goes to the engine')
  await db.query(`DELETE FROM _prisma_migrations WHERE ${extraRow}`)
  await db.query('DROP TABLE "extra"')
  t.equal(await migrationsUpToDate(adapter, opts), false, 'pending')
  t.equal(await engineStarts(async () => t.same(await applyMigrations(adapter, opts), ['29991231235959_extra'])), 1)

  // Rolled back (`prisma migrate resolve --rolled-back`): deploy applies it again.
  await db.query(`UPDATE _prisma_migrations SET rolled_back_at = now() WHERE ${extraRow}`)
  await db.query('DROP TABLE "extra"')
  t.equal(await migrationsUpToDate(adapter, opts), false, 'rolled back')
  t.equal(await engineStarts(async () => t.same(await applyMigrations(adapter, opts), ['29991231235959_extra'])), 1)
  t.equal(await migrationsUpToDate(adapter, opts), true, 'the re-applied row counts, the rolled-back one is history')

  // Edited after it was applied: the engine is the one to judge.
  await writeFile(extraFile, 'CREATE TABLE "extra" ("id" INTEGER); -- edited\n')
  t.equal(await migrationsUpToDate(adapter, opts), false, 'checksum differs')
  await writeFile(extraFile, 'CREATE TABLE "extra" ("id" INTEGER);\n')
  t.equal(await migrationsUpToDate(adapter, opts), true)

  // Failed (finished_at and rolled_back_at null): deploy refuses, and so does the start.
  await db.query(`UPDATE _prisma_migrations SET finished_at = NULL, rolled_back_at = NULL WHERE ${extraRow}`)
  t.equal(await migrationsUpToDate(adapter, opts), false, 'failed')
  t.equal(await engineStarts(() => t.rejects(applyMigrations(adapter, opts), /failed migrations/)), 1)
})

test('a failing migration rejects with the SQL error and is not recorded as applied', async (t) => {
  const db = await memoryDb(t)
  const dir = await brokenMigrationsDir(t)
  await t.rejects(applyMigrations(new PGliteAdapterFactory(db), { migrationsDir: dir }),
    /Migration 29991231235959_broken failed: .*syntax error at or near ";"/)

  const { rows } = await db.query<{ migration_name: string, finished_at: Date | null }>(
    'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name')
  t.same(rows.map((row) => row.migration_name), [...migrationNames, '29991231235959_broken'])
  t.equal(rows.at(-1)?.finished_at, null, 'recorded as failed, not applied')
  const partial = await db.query<{ table: string | null }>('SELECT to_regclass(\'half_applied\')::text AS table')
  t.equal(partial.rows[0]?.table, null, 'the script ran as one transaction')

  // Like `prisma migrate deploy`, the engine refuses to go on until the failure is resolved.
  await t.rejects(applyMigrations(new PGliteAdapterFactory(db), { migrationsDir: dir }), /failed migrations/)
})

test('an exception thrown by the adapter surfaces as itself, not as "External error id#N"', async (t) => {
  const unreachable = new Error('no route to the database')
  const failing: SqlMigrationAwareDriverAdapterFactory = {
    provider: 'postgres',
    adapterName: 'failing',
    connect: async () => { throw unreachable },
    connectToShadowDb: async () => { throw unreachable }
  }
  const error = await applyMigrations(failing).then(() => null, (error: Error) => error)
  t.match(error?.message, /no route to the database/)
  t.equal(error?.cause, unreachable)
})

test('the migrations match schema.prisma', async (t) => {
  t.equal(await checkDrift(), null, 'run `npm run migrate -- create <name>` after changing schema.prisma')
})

test('createMigration writes the next migration, then finds nothing to do', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inboxgate-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(migrationsDir, path.join(dir, 'migrations'), { recursive: true })
  const schema = path.join(dir, 'schema.prisma')
  await writeFile(schema, `${await readFile(schemaPath, 'utf8')}\nmodel Widget {\n  id Int @id\n\n  @@map("widgets")\n}\n`)
  const opts = { migrationsDir: path.join(dir, 'migrations'), schemaPath: schema }

  const file = await createMigration('add_widgets', opts)
  t.match(file, /[/\\]\d{14}_add_widgets[/\\]migration\.sql$/)
  t.match(await readFile(file!, 'utf8'), /CREATE TABLE "widgets"/)
  t.equal(await createMigration('again', opts), null)
})

const pgUrl = process.env.TEST_DATABASE_URL
test('applies the migrations to PostgreSQL (TEST_DATABASE_URL)', {
  skip: pgUrl === undefined || pgUrl === '' ? 'TEST_DATABASE_URL is not set: no PostgreSQL to migrate (CI sets it)' : false
}, async (t) => {
  const url = new URL(pgUrl!)
  url.searchParams.delete('schema')
  const connectionString = url.toString()
  // A throwaway schema per run; as with `?schema=`, the engine creates it.
  const schema = `mig_test_${randomBytes(6).toString('hex')}`
  const factory = (): PrismaPg => new PrismaPg({ connectionString, options: `-c search_path=${schema}` }, { schema })
  t.teardown(async () => {
    const client = new pg.Client({ connectionString })
    await client.connect()
    try { await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`) } finally { await client.end() }
  })

  t.equal(await migrationsUpToDate(factory()), false, 'no schema yet')
  t.same(await applyMigrations(factory()), migrationNames)
  t.equal(await migrationsUpToDate(factory()), true)
  const before = schemaEngineStats.starts
  t.same(await applyMigrations(factory()), [])
  t.equal(schemaEngineStats.starts, before, 'up to date: no engine')
  const prisma = new PrismaClient({ adapter: factory() })
  t.teardown(() => prisma.$disconnect())
  await prisma.user.create({ data: { email: 'grace@example.com' } })
  t.equal(await prisma.user.count(), 1)

  const { dir: extraDir } = await extraMigrationDir(t)
  t.equal(await migrationsUpToDate(factory(), { migrationsDir: extraDir }), false, 'pending')
  t.same(await applyMigrations(factory(), { migrationsDir: extraDir }), ['29991231235959_extra'])
  t.equal(await migrationsUpToDate(factory(), { migrationsDir: extraDir }), true)
  await prisma.$executeRawUnsafe('DROP TABLE "extra"')
  await prisma.$executeRawUnsafe('UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = \'29991231235959_extra\'')
  t.equal(await migrationsUpToDate(factory(), { migrationsDir: extraDir }), false, 'rolled back')
  t.same(await applyMigrations(factory(), { migrationsDir: extraDir }), ['29991231235959_extra'])
  await prisma.$executeRawUnsafe('DROP TABLE "extra"')
  await prisma.$executeRawUnsafe('DELETE FROM _prisma_migrations WHERE migration_name = \'29991231235959_extra\'')

  const dir = await brokenMigrationsDir(t)
  await t.rejects(applyMigrations(factory(), { migrationsDir: dir }), /syntax error at or near ";"/)
  const rows = await prisma.$queryRawUnsafe<Array<{ finished_at: Date | null, partial: string | null }>>(
    'SELECT finished_at, to_regclass(\'half_applied\')::text AS partial FROM _prisma_migrations WHERE migration_name = \'29991231235959_broken\'')
  t.same(rows, [{ finished_at: null, partial: null }], 'recorded as failed, nothing half-applied')
})
