/**
 * The one error catalogue. Every error a client can see is an AppError with a stable `code`
 * (a contract with the web and iOS clients: add codes, never rename them). Anything else that
 * escapes a resolver is masked as INTERNAL by the GraphQL error formatter.
 */
export const ErrorCodes = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
  CONFLICT: 'CONFLICT',
  INTERNAL: 'INTERNAL',
  /** The request is not valid GraphQL (syntax). */
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  /** The request does not validate against the schema or our limits (depth, aliases, …). */
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  /** Google could not be reached or answered 5xx/timeout: retry later, nothing was deleted. */
  GOOGLE_UNAVAILABLE: 'GOOGLE_UNAVAILABLE',
  /** The token vault (AWS Secrets Manager) could not be reached: retry later, nothing was deleted. */
  VAULT_UNAVAILABLE: 'VAULT_UNAVAILABLE',
  /** The database could not be reached (restart, failover, pool exhausted): retry later, nothing was changed. */
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  /** The user must connect Gmail again (grant revoked or expired at Google). */
  RECONNECT_REQUIRED: 'RECONNECT_REQUIRED',
  /** Google did not grant a scope we need (granular consent). */
  SCOPE_MISSING: 'SCOPE_MISSING',
  /** Gmail is not connected for this user. */
  GMAIL_NOT_CONNECTED: 'GMAIL_NOT_CONNECTED',
  /** The server has no Google OAuth client configured (GOOGLE_CLIENT_ID). */
  GOOGLE_NOT_CONFIGURED: 'GOOGLE_NOT_CONFIGURED',
  /** The operation needs a recent sign-in (step-up): sign in again, or send the current password. */
  REAUTH_REQUIRED: 'REAUTH_REQUIRED'
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export class AppError extends Error {
  readonly code: ErrorCode
  /** Extra, non-secret fields copied into `extensions` (e.g. `retryAfterSeconds`). */
  readonly details: Record<string, unknown>

  constructor (code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AppError'
    this.code = code
    this.details = details
  }
}

export const unauthenticated = (message = 'Authentication required', details?: Record<string, unknown>) =>
  new AppError(ErrorCodes.UNAUTHENTICATED, message, details)
export const badUserInput = (message: string, details?: Record<string, unknown>) =>
  new AppError(ErrorCodes.BAD_USER_INPUT, message, details)
export const forbidden = (message = 'Not allowed') => new AppError(ErrorCodes.FORBIDDEN, message)
export const notFound = (message = 'Not found') => new AppError(ErrorCodes.NOT_FOUND, message)
export const conflict = (message: string) => new AppError(ErrorCodes.CONFLICT, message)
export const rateLimited = (retryAfterSeconds: number) =>
  new AppError(ErrorCodes.RATE_LIMITED, 'Too many attempts, try again later', { retryAfterSeconds })

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
