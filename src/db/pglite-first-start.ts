import { fork } from 'node:child_process'
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises'
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
 */

export interface FirstStartOptions {
  /** Apply the migrations in the child too (DB_MIGRATE_ON_START); otherwise only initdb. */
  migrate?: boolean
  /** Told `applied migration <name>` per migration, as an in-process start logs them. */
  logger?: MigrationLogger
}

export interface FirstStart {
  /** The child's process id (it has exited when this resolves). */
  pid: number
  applied: string[]
}

/** What the child reports over its IPC channel (src/db/pglite-initdb.ts). */
export type InitdbMessage = { applied: string[] } | { error: string }

/** Initializes `dir` in a child process when it is empty; null when it already holds a database (or anything). */
export async function initializeFreshDataDir (dir: string, opts: FirstStartOptions = {}): Promise<FirstStart | null> {
  if ((await readdir(dir)).length > 0) return null
  const staging = `${dir}.init`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { mode: 0o700 })
  const result = await runInitdb(staging, opts.migrate === true)
  for (const name of result.applied) opts.logger?.info(`applied migration ${name}`)
  // rename() replaces an empty directory on POSIX but not on Windows: remove it first.
  await rmdir(dir)
  await rename(staging, dir)
  return result
}

function runInitdb (dir: string, migrate: boolean): Promise<FirstStart> {
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
