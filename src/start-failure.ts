import { ConfigError } from './config.ts'
import { DataDirLockedError } from './db/data-dir-lock.ts'
import { isDatabaseUnavailable } from './db/prisma-errors.ts'

/**
 * The one line an operator needs when the server, an admin command or a migration cannot start for a reason of
 * theirs (bad configuration, the embedded database held by another process, the database unreachable), or null
 * for a bug, whose stack trace is then worth printing.
 */
export function startFailureMessage (err: unknown): string | null {
  if (err instanceof ConfigError || err instanceof DataDirLockedError) return err.message
  const message = err instanceof Error ? err.message : String(err)
  // The schema engine (migrations at start) words it as Prisma does (P1001); the pool as node-postgres does.
  if (isDatabaseUnavailable(err) || /Can't reach database server/.test(message)) {
    const first = message.split('\n')[0]!.replace(/^Schema engine failed: /, '')
    return `the database is unreachable (${first}): check DATABASE_URL and that PostgreSQL is running`
  }
  return null
}
