import { existsSync } from 'node:fs'
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import tap, { test, type Test } from 'tap'
import { migrationsUpToDate } from '../../src/db/migrations.ts'
import { initializeFreshDataDir, makeTemplate } from '../../src/db/pglite-first-start.ts'
import { openDatabase } from '../../src/db/prisma.ts'

// Issue 20, item 5: on a fresh data directory, initdb grew PGlite's WASM memory to ≈ 840 MiB and the server kept
// it for good. The first initialization now runs in a child process that has exited before the server opens the
// directory (the figures are in BENCHMARKS.md; this test holds the mechanism, not the memory).
// Issue 26: the built program copies a migrated template made by `npm run build` instead (test/build.test.ts runs
// that on the build); here the template is made in a test directory and passed explicitly.

const isGone = (pid: number | undefined) => {
  if (pid == null) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

const migrationsDir = path.resolve(import.meta.dirname, '../../prisma/migrations')

async function upToDateWith16MBuffers (t: Test, dataDir: string, dir: string): Promise<void> {
  const db = await openDatabase(undefined, dataDir, 1, { migrate: true })
  try {
    t.ok(await migrationsUpToDate(db.migrationAdapter()), 'opened in this process: the schema is up to date, no engine needed')
    // The buffer pool lives in PGlite's WebAssembly memory, which never shrinks (src/db/pglite-settings.ts).
    const conn = await db.adapter.connect()
    const shown = await conn.queryRaw({ sql: 'SHOW shared_buffers', args: [], argTypes: [] })
    t.same(shown.rows, [['16MB']], "the server's PGlite runs with a 16 MB buffer pool, not PostgreSQL's 128 MB")
    t.notMatch(await readFile(path.join(dir, 'postgresql.conf'), 'utf8'), /^\s*shared_buffers\s*=\s*16MB/m, 'a start parameter: the data directory is not rewritten')
  } finally {
    await db.close()
  }
}

// The file's own testdir: it outlives each test (a test's is removed when that test ends).
const template = path.join(tap.testdir({}), 'template')
let templateMade = false

test('a migrated template is copied into an empty data directory: no child, the same migrations, the same database', async (t) => {
  const migrations = (await readdir(migrationsDir)).filter((n) => !n.endsWith('.toml')).sort()
  t.equal(await makeTemplate(template), 'made')
  templateMade = true
  t.same(JSON.parse(await readFile(path.join(template, 'manifest.json'), 'utf8')).applied, migrations)
  t.notOk(existsSync(`${template}.init`), 'made beside and renamed into place')
  t.equal(await makeTemplate(template), 'current', 'a current template is kept (a rebuild does not remake it)')

  const dataDir = t.testdir({ pglite: {} })
  const dir = path.join(dataDir, 'pglite')
  const lines: string[] = []
  const first = await initializeFreshDataDir(dir, { migrate: true, template, logger: { info: (m) => lines.push(m) } })
  t.equal(first?.pid, undefined, 'no child process')
  t.equal(first?.template, template)
  t.same(first?.applied, migrations)
  t.same(lines, [`embedded database copied from the build's template ${template}`, ...migrations.map((name) => `applied migration ${name}`)])
  t.ok(existsSync(path.join(template, 'data', 'PG_VERSION')), 'copied, not moved: the template serves the next first start')
  t.notOk(existsSync(`${dir}.init`), 'no staging directory left')
  await upToDateWith16MBuffers(t, dataDir, dir)
})

test('an empty data directory is initialized and migrated by a child process that exits when the template is not for these migrations; the server then opens it migrated', async (t) => {
  if (!templateMade) throw new Error('the first test made no template')
  const migrations = (await readdir(migrationsDir)).filter((n) => !n.endsWith('.toml')).sort()
  // A template from another set of migrations (an older build's): same layout, another stamp.
  const dataDir = t.testdir({})
  const dir = path.join(dataDir, 'pglite')
  const stale = path.join(dataDir, 'stale')
  await cp(template, stale, { recursive: true })
  const manifest = JSON.parse(await readFile(path.join(stale, 'manifest.json'), 'utf8')) as { stamp: string }
  await writeFile(path.join(stale, 'manifest.json'), JSON.stringify({ ...manifest, stamp: manifest.stamp.replace(/^./, (c) => c === '0' ? '1' : '0') }))
  await mkdir(dir)
  const lines: string[] = []
  const first = await initializeFreshDataDir(dir, { migrate: true, template: stale, logger: { info: (m) => lines.push(m) } })
  if (first == null) throw new Error('an empty directory was not initialized')
  t.not(first.pid, process.pid, 'initdb ran in another process')
  t.ok(isGone(first.pid), 'that process has exited')
  t.same(first.applied, migrations)
  t.same(lines, migrations.map((name) => `applied migration ${name}`), 'the applied migrations are logged by the parent')
  t.ok(existsSync(path.join(dir, 'PG_VERSION')), 'the database is in place')
  t.notOk(existsSync(`${dir}.init`), 'no staging directory left')
  t.equal(await initializeFreshDataDir(dir, { migrate: true, template }), null, 'a directory with a database is left alone')
  await upToDateWith16MBuffers(t, dataDir, dir)
})

test('a staging directory left by an interrupted first start is discarded; without migrate the template is not used', async (t) => {
  const dir = path.join(t.testdir({ pglite: {}, 'pglite.init': { 'half-written': 'x' } }), 'pglite')
  const first = await initializeFreshDataDir(dir, { template })
  t.ok(first != null && isGone(first.pid), 'initdb in a child that exited (DB_MIGRATE_ON_START=false gets an empty database, not a migrated copy)')
  t.same(first?.applied, [], 'without migrate: initdb only')
  t.notOk(existsSync(path.join(dir, 'half-written')), 'the stale staging content is gone')
  t.ok(existsSync(path.join(dir, 'PG_VERSION')))
})
