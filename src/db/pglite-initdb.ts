// The child process of src/db/pglite-first-start.ts: `initdb` in a fresh directory (argv[2]) and, with --migrate,
// the migrations; reports over IPC and exits, taking PGlite's grown WASM memory with it.
// `pglite-initdb --template <dir>`: `npm run build` (scripts/build.mjs) makes the built program's migrated template.
import { PGlite } from '@electric-sql/pglite'
import { makeTemplate } from './pglite-first-start.ts'
import { applyMigrations } from './migrations.ts'
import { PGliteAdapterFactory } from './pglite-adapter.ts'
import { pgliteStartParams } from './pglite-settings.ts'
import type { InitdbMessage } from './pglite-first-start.ts'

const [dir, flag] = process.argv.slice(2)

function report (message: InitdbMessage): Promise<void> {
  return new Promise((resolve) => process.send?.(message, undefined, {}, () => resolve()) ?? resolve())
}

if (dir === '--template' && flag != null) {
  const made = await makeTemplate(flag)
  process.stdout.write(`build: embedded-database template in ${flag} (${made === 'made' ? 'made' : 'already current'})\n`)
  process.exit()
}

try {
  if (dir == null) throw new Error('usage: pglite-initdb <dir> [--migrate] | pglite-initdb --template <dir>')
  const db = await PGlite.create(dir, { startParams: pgliteStartParams(PGlite.defaultStartParams) })
  try {
    const applied = flag === '--migrate' ? await applyMigrations(new PGliteAdapterFactory(db)) : []
    // A checkpoint on close: the parent opens a cleanly shut-down database (no WAL replay at its start).
    await db.close()
    await report({ applied })
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
} catch (err) {
  await report({ error: (err as Error).message.split('\n')[0] ?? 'unknown error' })
  process.exitCode = 1
}
// Exit now, the report delivered: PostgreSQL's idle statistics timer (10 s, which Emscripten maps to a referenced
// setTimeout) outlives db.close(), and waiting for the event loop to empty kept every first start waiting ≈ 10 s more.
process.exit()
