import { readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import path from 'node:path'

/**
 * One process at a time on an embedded (PGlite) database directory. PGlite is PostgreSQL in WASM without a
 * postmaster: a second process opening the same files keeps its own buffers, so its writes are lost or the
 * directory corrupted (an admin command beside `npm start` printed DISABLED and nothing happened). The holder
 * writes `<dir>.lock` with its PID; a newcomer refuses while that PID lives.
 *
 * Robust to SIGKILL: a lock whose process is gone is stale and taken over. Robust to PID reuse (a container's
 * server is often PID 1 after every restart): the lock records the holder's start time from /proc, and a live
 * PID that started at another time is not the holder; our own PID without our own lock is not either.
 * What stays: two processes that both find the same stale lock at the same instant may both take it over
 * (unlink then create is not one step); a start after a crash is rarely that crowded.
 */

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

interface LockContent { pid: number, startTime: string | null, command: string, since: string, token: string }

/** The lock files this process holds, with their token (a second open in the same process is refused too). */
const held = new Map<string, string>()

/** The process's start time in clock ticks since boot (Linux /proc); null elsewhere or when unreadable. */
function startTimeOf (pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) may contain spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The live holder of a lock file's content, or null when the lock is stale. */
function liveHolder (file: string, content: LockContent | null): LockContent | null {
  if (content == null || !Number.isInteger(content.pid) || content.pid <= 0) return null
  if (content.pid === process.pid) return held.get(file) === content.token ? content : null
  if (!isAlive(content.pid)) return null
  if (content.startTime != null) {
    const now = startTimeOf(content.pid)
    if (now != null && now !== content.startTime) return null
  }
  return content
}

function readLock (file: string): LockContent | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockContent
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err
    // Half-written or foreign content: its writer died mid-write, or it is not ours to honour.
    return null
  }
}

function describe (dir: string, holder: LockContent): string {
  return `The embedded database ${dir} is in use by another process (PID ${holder.pid}, ${holder.command}, since ${holder.since}). ` +
    'PGlite admits one process at a time: stop that process first (a server: run admin and migrate commands while it is stopped), ' +
    'or use PostgreSQL (DATABASE_URL), where servers and admin commands run side by side.'
}

/**
 * Takes `<dir>.lock` for this process or throws DataDirLockedError naming the holder. Returns the release
 * function (also run at process exit, so a process.exit() does not leave a lock behind).
 */
export function lockDataDir (dir: string): () => void {
  const file = `${path.resolve(dir)}.lock`
  const content: LockContent = {
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    command: path.basename(process.argv[1] ?? process.argv0),
    since: new Date().toISOString(),
    token: randomUUID()
  }
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(content) + '\n', { flag: 'wx', mode: 0o600 })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err
    }
    let existing: LockContent | null
    try {
      existing = readLock(file)
    } catch {
      continue // released meanwhile: try again
    }
    const holder = liveHolder(file, existing)
    if (holder != null) throw new DataDirLockedError(describe(dir, holder))
    try { unlinkSync(file) } catch {}
  }
  held.set(file, content.token)
  const release = () => {
    if (held.get(file) !== content.token) return
    held.delete(file)
    process.removeListener('exit', release)
    try {
      // Only our own lock: never one a newcomer took over after deciding ours was stale.
      if (readLock(file)?.token === content.token) unlinkSync(file)
    } catch {}
  }
  process.on('exit', release)
  return release
}
