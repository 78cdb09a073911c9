import { Prisma } from '../generated/prisma/client.ts'

// Prisma error codes this code tells apart (https://www.prisma.io/docs/orm/reference/error-reference).
const UNIQUE_VIOLATION = 'P2002'
const RECORD_MISSING = 'P2025'

/** A unique constraint refused the write (Prisma P2002): someone else holds that email, Google sub, … */
export function isUniqueViolation (err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === UNIQUE_VIOLATION
}

/** The row an update or delete needed was not there (Prisma P2025). */
export function isRecordMissing (err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === RECORD_MISSING
}

// Prisma's codes for an unreachable database: not reachable, timed out, connection closed, pool timeout, too many connections.
const PRISMA_UNAVAILABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037'])
const ADAPTER_UNAVAILABLE = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])
// PostgreSQL SQLSTATEs: class 08 (connection exception), 57P01–57P03 (shutting down, cannot connect now), 53300 (too many connections).
const SQLSTATE_UNAVAILABLE = /^(08\w{3}|57P0[1-3]|53300)$/
const SOCKET_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'])
const PG_UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/

/**
 * Whether an error (from Prisma, its PostgreSQL adapter or `pg`) means the database could not be reached rather
 * than that the query was wrong: such errors are answered DATABASE_UNAVAILABLE (retryable), not INTERNAL.
 */
export function isDatabaseUnavailable (err: unknown): boolean {
  const seen = new Set<unknown>()
  const stack = [err]
  while (stack.length > 0) {
    const e = stack.pop() as { name?: unknown, code?: unknown, kind?: unknown, originalCode?: unknown, message?: unknown, cause?: unknown, meta?: { driverAdapterError?: unknown } } | null
    if (e == null || typeof e !== 'object' || seen.has(e)) continue
    seen.add(e)
    if (e.name === 'PrismaClientInitializationError') return true
    if (typeof e.code === 'string' && (PRISMA_UNAVAILABLE.has(e.code) || SQLSTATE_UNAVAILABLE.test(e.code) || SOCKET_UNAVAILABLE.has(e.code))) return true
    if (typeof e.kind === 'string' && ADAPTER_UNAVAILABLE.has(e.kind)) return true
    if (typeof e.originalCode === 'string' && SQLSTATE_UNAVAILABLE.test(e.originalCode)) return true
    // node-postgres' own wording when the server goes away mid-query, when a transaction's next statement (COMMIT,
    // ROLLBACK) meets a client whose connection broke meanwhile, or when the pool cannot connect in time.
    if (typeof e.message === 'string' && PG_UNAVAILABLE_MESSAGE.test(e.message)) return true
    stack.push(e.cause, e.meta?.driverAdapterError)
  }
  return false
}
