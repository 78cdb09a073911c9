import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { sha256Hex } from '../crypto/hashing.ts'
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

export type GrantTx = Prisma.TransactionClient

/** The vault's own bound on one write (AWS SDK: 3 tries × 3 s, with backoff), with room. */
const VAULT_WRITE_MS = 30_000

/**
 * How long one holder may keep a user's grant lease: a refresh holds it across Google's token endpoint (up to 4
 * tries of `googleTimeoutMs`) and the vault (AWS SDK: 3 tries × 3 s, read and write).
 */
export const grantLockHoldMs = (googleTimeoutMs: number): number => googleTimeoutMs * 4 + VAULT_WRITE_MS

/**
 * How long a lease outlives its last heartbeat. A live holder renews it every third of this, so a holder that
 * died (SIGKILL, OOM, a lost host) blocks its user's grant for at most this long, not for a whole hold period.
 */
const LEASE_TTL_MS = 15_000

/**
 * The identity of a grant as the database may know it: SHA-256 of its refresh token. The token itself stays in
 * the vault; a hash of a high-entropy token cannot be replayed at Google.
 */
export const grantHashOf = (refreshToken: string): string => sha256Hex(refreshToken)

/** The lease was taken over (it expired while its holder worked): the holder must stop writing. */
export class GrantLeaseLostError extends Error {
  constructor () {
    super('the Gmail grant lease expired and was taken over')
    this.name = 'GrantLeaseLostError'
  }
}

/** Another holder kept the lease for longer than one holder's worth: given up rather than waited on forever. */
export class GrantLeaseBusyError extends Error {
  constructor () {
    super('the Gmail grant lease stayed held')
    this.name = 'GrantLeaseBusyError'
  }
}

/** What a holder of a user's grant lease may do with it. */
export interface GrantLease {
  /**
   * Runs `write` in one short transaction that first checks, row-locked, that this lease is still held: a holder
   * whose lease expired and was taken over writes nothing (fencing by the lease token). Keep Google and the vault
   * out of `write`.
   */
  write: <T>(write: (tx: GrantTx) => Promise<T>) => Promise<T>
  /**
   * Before a write outside the database (the vault, which cannot be fenced): checks the lease is still held and
   * extends it by a whole hold period, so the write that follows (bounded by the vault's own timeouts, well under
   * that period) ends before anyone else can take the lease. Throws GrantLeaseLostError otherwise.
   */
  renew: () => Promise<void>
}

// Short statements only; each takes a pooled connection for milliseconds.
const WRITE_TX = { maxWait: 15_000, timeout: 15_000 }
const FIRST_POLL_MS = 5
const MAX_POLL_MS = 100

/**
 * Runs `work` as the only writer of one user's Gmail grant, across every process on the database: connect (both
 * paths), refresh, disconnect, the invalid_grant and RISC cleanups, account deletion and vault reconciliation all
 * come through here.
 *
 * A lease (a `gmail_grant_leases` row: holder token and expiry, taken by compare-and-set), not a lock held on a
 * connection: the holder calls Google and the vault, which may take tens of seconds, and a transaction or an
 * advisory lock kept open meanwhile would hold a pooled connection (ten slow refreshes exhausted DB_POOL_MAX=10)
 * and, on PGlite's single connection, stall every other request. Keyed by user, not by the `gmail_connections`
 * row: the row does not exist before a first connect, is gone after a disconnect or a deletion, and reconciliation
 * works on vault secrets whose row is missing. No foreign key to users for the same reason.
 *
 * - Waiting: polled with backoff (5 ms doubling to 100 ms), for at most `holdMs` (one other holder's worth), then
 *   GrantLeaseBusyError.
 * - Heartbeat: the lease is taken for LEASE_TTL_MS (or `holdMs` if shorter) and extended by a heartbeat every
 *   third of that while `work` runs, up to `holdMs` in all; then it is left to expire.
 * - Crash: a lease whose holder died is taken over once it expires: within LEASE_TTL_MS of its last heartbeat
 *   (VAULT_WRITE_MS if it died during a vault write), so a restarted server serves the user again at once.
 * - Expiry while working: every database write goes through `lease.write`, which refuses once the lease is no
 *   longer this holder's; vault writes are preceded by `lease.renew`.
 */
export async function withGrantLock<T> (prisma: PrismaClient, userId: string, holdMs: number, work: (lease: GrantLease) => Promise<T>, leaseTtlMs = LEASE_TTL_MS): Promise<T> {
  const holder = randomUUID()
  const ttlMs = Math.min(holdMs, leaseTtlMs)
  await acquire(prisma, userId, holder, ttlMs, holdMs)
  const stopHeartbeat = heartbeat(prisma, userId, holder, ttlMs, holdMs)
  const lease: GrantLease = {
    write: async (write) => await prisma.$transaction(async (tx) => {
      // FOR UPDATE: a taker's compare-and-set waits for this transaction, so the check holds until COMMIT.
      const held = await tx.$queryRaw<unknown[]>`SELECT 1 FROM gmail_grant_leases WHERE user_id = ${userId} AND holder = ${holder} AND expires_at > clock_timestamp() FOR UPDATE`
      if (held.length !== 1) throw new GrantLeaseLostError()
      return await write(tx)
    }, WRITE_TX),
    renew: async () => {
      const renewMs = Math.min(holdMs, VAULT_WRITE_MS)
      const renewed = await prisma.$executeRaw`UPDATE gmail_grant_leases SET expires_at = GREATEST(expires_at, clock_timestamp() + ${renewMs}::int * interval '1 millisecond') WHERE user_id = ${userId} AND holder = ${holder} AND expires_at > clock_timestamp()`
      if (renewed !== 1) throw new GrantLeaseLostError()
    }
  }
  try {
    return await work(lease)
  } finally {
    stopHeartbeat()
    // A failed release (database gone) only delays the next holder until the lease expires.
    await prisma.$executeRaw`DELETE FROM gmail_grant_leases WHERE user_id = ${userId} AND holder = ${holder}`.catch(() => {})
  }
}

/**
 * Extends the lease every third of its TTL while the holder works, for `holdMs` in all; returns the stop. A
 * failed beat (database away, lease lost) is not an error here: the holder's next `write` or `renew` finds out.
 */
function heartbeat (prisma: PrismaClient, userId: string, holder: string, ttlMs: number, holdMs: number): () => void {
  const until = Date.now() + holdMs - ttlMs
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const beat = async (): Promise<void> => {
    if (stopped || Date.now() > until) return
    await prisma.$executeRaw`UPDATE gmail_grant_leases SET expires_at = GREATEST(expires_at, clock_timestamp() + ${ttlMs}::int * interval '1 millisecond') WHERE user_id = ${userId} AND holder = ${holder} AND expires_at > clock_timestamp()`.catch(() => {})
    schedule()
  }
  const schedule = (): void => {
    if (stopped || Date.now() + ttlMs / 3 > until) return
    timer = setTimeout(() => { void beat() }, ttlMs / 3)
    timer.unref()
  }
  schedule()
  return () => { stopped = true; clearTimeout(timer) }
}

async function acquire (prisma: PrismaClient, userId: string, holder: string, ttlMs: number, holdMs: number): Promise<void> {
  const deadline = Date.now() + holdMs
  let pause = FIRST_POLL_MS
  for (;;) {
    // Inserted, or an expired lease taken over; 0 rows while someone else's lease runs.
    const taken = await prisma.$executeRaw`
      INSERT INTO gmail_grant_leases (user_id, holder, expires_at)
      VALUES (${userId}, ${holder}, clock_timestamp() + ${ttlMs}::int * interval '1 millisecond')
      ON CONFLICT (user_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
      WHERE gmail_grant_leases.expires_at <= clock_timestamp()`
    if (taken === 1) return
    if (Date.now() + pause > deadline) throw new GrantLeaseBusyError()
    await sleep(pause)
    pause = Math.min(pause * 2, MAX_POLL_MS)
  }
}
