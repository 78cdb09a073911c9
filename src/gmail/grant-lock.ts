import { sha256Hex } from '../crypto/hashing.ts'
import { runInTransaction } from '../db/current-transaction.ts'
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

export type GrantTx = Prisma.TransactionClient

/**
 * How long one holder may keep a user's grant lock: a refresh holds it across Google's token endpoint (up to 4
 * tries of `googleTimeoutMs`) and the vault (AWS SDK: 3 tries × 3 s, read and write).
 */
export const grantLockHoldMs = (googleTimeoutMs: number): number => googleTimeoutMs * 4 + 30_000

/**
 * The identity of a grant as the database may know it: SHA-256 of its refresh token. The token itself stays in
 * the vault; a hash of a high-entropy token cannot be replayed at Google.
 */
export const grantHashOf = (refreshToken: string): string => sha256Hex(refreshToken)

/**
 * Runs `work` as the only writer of one user's Gmail grant, across every process on the database: connect (both
 * paths), refresh, disconnect, the invalid_grant cleanup, and whatever else deletes or replaces a grant (account
 * deletion, vault reconciliation) must come through here.
 *
 * A transaction-scoped advisory lock keyed by user, rather than the `gmail_connections` row lock the refresh used
 * to take: the row does not exist before a first connect, is gone after a disconnect or an account deletion, and
 * reconciliation works on vault secrets whose row is missing; a row lock protects none of those. Transaction-
 * scoped, so a pooled connection never keeps it by mistake (it ends with COMMIT/ROLLBACK), and it touches no other
 * row lock (a lock on the users row would block the foreign-key checks of every login meanwhile). The key is a
 * 64-bit hash: a collision only makes two users wait for each other.
 *
 * Every query inside `work` must use `tx`: on PGlite (one connection) a query outside would wait for this very
 * transaction to end. Security events and Google calls that need no lock belong before or after.
 *
 * `holdMs` bounds both the wait for the lock (`lock_timeout`: at most one other holder's worth) and this holder's
 * own work, so the transaction may live twice that long.
 */
export async function withGrantLock<T> (prisma: PrismaClient, userId: string, holdMs: number, work: (tx: GrantTx) => Promise<T>): Promise<T> {
  const timeout = holdMs * 2
  return await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT set_config('lock_timeout', ${`${holdMs}ms`}, true)`
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`gmail-grant:${userId}`}, 0))`
    // The KMS vault's rows are written through this transaction too (src/db/current-transaction.ts).
    return await runInTransaction(tx, async () => await work(tx))
  }, { timeout, maxWait: timeout })
}
