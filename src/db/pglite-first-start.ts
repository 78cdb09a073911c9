import { fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { repoRoot } from '../paths.ts'
import type { MigrationLogger } from './migrations.ts'

/**
 * The first start on an empty embedded-database directory: `initdb` (and the migrations) run in a short-lived child
 * process that exits before this process opens the directory. PGlite's WASM memory grows to its peak during initdb
 * and a WebAssembly memory never shrinks: done in the server's own process, a first start kept ≈ 840 MiB of RSS for
 * as long as it ran, against ≈ 420 MiB after a restart on the same directory (BENCHMARKS.md, "Start-up and memory").
 *
 * The child writes into `<dir>.init`, renamed onto the empty `<dir>` only once it has finished, so an interrupted
 * first start leaves no half-made database behind (the next start discards the staging directory and begins again).
 * The caller holds the data-dir lock (`<dir>.lock`, src/db/data-dir-lock.ts) throughout: the child works for it, on
 * a directory no other process may open, and takes no lock of its own.
 *
 * The built program does better when it may migrate: `npm run build` leaves a migrated database in
 * `dist/pglite-template/` (made by that same child), and a first start copies it into the staging directory instead
 * — initdb in WASM alone is ≈ 2.3 s of CPU, a copy a few tens of milliseconds (BENCHMARKS.md, "Start-up and memory").
 * Only a template stamped with this PGlite's version and these exact migrations is used; anything else (no build,
 * an older one, DB_MIGRATE_ON_START=false) goes to the child as before.
 */

export interface FirstStartOptions {
  /** Apply the migrations in the child too (DB_MIGRATE_ON_START); otherwise only initdb. */
  migrate?: boolean
  /** Told `applied migration <name>` per migration, as an in-process start logs them. */
  logger?: MigrationLogger
  /** A template made by makeTemplate(), used when `migrate` is set; defaults to the build's, in the built program. */
  template?: string
}

export interface FirstStart {
  /** The child's process id (it has exited when this resolves); undefined when the template was copied. */
  pid?: number
  applied: string[]
  /** The template it was copied from, if it was. */
  template?: string
}

/** What the child reports over its IPC channel (src/db/pglite-initdb.ts). */
export type InitdbMessage = { applied: string[] } | { error: string }

/** Initializes `dir` in a child process when it is empty; null when it already holds a database (or anything). */
export async function initializeFreshDataDir (dir: string, opts: FirstStartOptions = {}): Promise<FirstStart | null> {
  if ((await readdir(dir)).length > 0) return null
  const staging = `${dir}.init`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { mode: 0o700 })
  const template = opts.migrate === true ? await currentTemplate(opts.template ?? builtTemplate()) : null
  let result: FirstStart
  if (template != null) {
    await cp(path.join(template.base, 'data'), staging, { recursive: true })
    opts.logger?.info(`embedded database copied from the build's template ${template.base}`)
    result = { applied: template.applied, template: template.base }
  } else {
    result = await runInitdb(staging, opts.migrate === true)
  }
  for (const name of result.applied) opts.logger?.info(`applied migration ${name}`)
  // rename() replaces an empty directory on POSIX but not on Windows: remove it first.
  await rmdir(dir)
  await rename(staging, dir)
  return result
}

/** The template `npm run build` makes, for the built program; none for the TypeScript sources (no build to trust). */
function builtTemplate (): string | undefined {
  return fileURLToPath(import.meta.url).endsWith('.ts') ? undefined : path.join(repoRoot, 'dist', 'pglite-template')
}

interface TemplateManifest { stamp: string, applied: string[] }

/**
 * What a template depends on: PGlite's version (its PostgreSQL and on-disk format) and every migration's name and
 * content. A template with another stamp is never copied.
 */
async function templateStamp (): Promise<string> {
  const migrationsDir = path.join(repoRoot, 'prisma', 'migrations')
  const require = createRequire(import.meta.url)
  let pkgDir = path.dirname(require.resolve('@electric-sql/pglite'))
  while (path.basename(pkgDir) !== 'pglite' && path.dirname(pkgDir) !== pkgDir) pkgDir = path.dirname(pkgDir)
  const { version } = JSON.parse(await readFile(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }
  const hash = createHash('sha256').update(`pglite ${version}\n`)
  const entries = await readdir(migrationsDir, { withFileTypes: true })
  for (const name of entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    const sql = await readFile(path.join(migrationsDir, name, 'migration.sql'))
    hash.update(`${name} ${createHash('sha256').update(sql).digest('hex')}\n`)
  }
  return hash.digest('hex')
}

async function readManifest (base: string): Promise<TemplateManifest | null> {
  try {
    return JSON.parse(await readFile(path.join(base, 'manifest.json'), 'utf8')) as TemplateManifest
  } catch {
    return null
  }
}

async function currentTemplate (base: string | undefined): Promise<(TemplateManifest & { base: string }) | null> {
  if (base == null) return null
  const manifest = await readManifest(base)
  return manifest != null && manifest.stamp === await templateStamp() ? { ...manifest, base } : null
}

/**
 * Makes the migrated template at `base` (`<base>/data` and `<base>/manifest.json`) with the child below, unless one
 * with the current stamp is there already. Written beside and renamed into place: a half-made one is never used.
 */
export async function makeTemplate (base: string): Promise<'made' | 'current'> {
  if (await currentTemplate(base) != null) return 'current'
  const staging = `${base}.init`
  await rm(staging, { recursive: true, force: true })
  await mkdir(path.join(staging, 'data'), { recursive: true, mode: 0o700 })
  const { applied } = await runInitdb(path.join(staging, 'data'), true)
  const manifest: TemplateManifest = { stamp: await templateStamp(), applied }
  await writeFile(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  await rm(base, { recursive: true, force: true })
  await rename(staging, base)
  return 'made'
}

function runInitdb (dir: string, migrate: boolean): Promise<FirstStart & { pid: number }> {
  const here = fileURLToPath(import.meta.url)
  // The TypeScript source beside this one through tsx in a checkout; the built program (scripts/build.mjs: this code
  // is then in a bundle's chunk, not beside it) in dist/.
  const entry = here.endsWith('.ts') ? path.join(path.dirname(here), 'pglite-initdb.ts') : path.join(repoRoot, 'dist', 'src', 'db', 'pglite-initdb.js')
  const execArgv = entry.endsWith('.ts') ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : []
  return new Promise((resolve, reject) => {
    const child = fork(entry, [dir, ...(migrate ? ['--migrate'] : [])], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    let message: InitdbMessage | undefined
    child.on('message', (m: InitdbMessage) => { message = m })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (message != null && 'applied' in message && code === 0) resolve({ pid: child.pid ?? 0, applied: message.applied })
      else if (message != null && 'error' in message) reject(new Error(`initializing the embedded database: ${message.error}`))
      else reject(new Error(`initializing the embedded database: the child process ended with ${signal ?? `exit code ${code}`}`))
    })
  })
}
