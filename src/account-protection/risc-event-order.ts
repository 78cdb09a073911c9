import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

/**
 * The families Google's RISC events fall into for ordering (docs/production.md, "Google's security events"). Events
 * of one family overwrite each other's effect, so only the newest may stand: `account-disabled` and
 * `account-enabled` share one. `token-revoked` names a refresh token, not an account, and only ever deletes: it is
 * not ordered; neither is `verification`.
 */
export type RiscFamily = 'sessions' | 'tokens' | 'account-status' | 'credential-change'

type Db = PrismaClient | Prisma.TransactionClient

/**
 * Compare-and-set on `risc_event_order`: records (sub, family, iat) as the last applied event and answers true,
 * or answers false when an event of that family with a later `iat` was applied already (this one is stale).
 * One statement, so two processes delivering at once agree; the row lock it takes is held until the caller's
 * transaction ends, which serializes events of one family for one account. An equal `iat` applies (Google's `iat`
 * has second precision: two events in the same second keep delivery order, as before this check).
 */
export async function advanceRiscOrder (db: Db, event: { googleSub: string, family: RiscFamily, iat: Date, jti: string }): Promise<boolean> {
  const changed = await db.$executeRaw`
    INSERT INTO risc_event_order (google_sub, family, last_iat, last_jti, updated_at)
    VALUES (${event.googleSub}, ${event.family}, ${event.iat}, ${event.jti}, now())
    ON CONFLICT (google_sub, family) DO UPDATE
      SET last_iat = EXCLUDED.last_iat, last_jti = EXCLUDED.last_jti, updated_at = EXCLUDED.updated_at
      WHERE risc_event_order.last_iat <= EXCLUDED.last_iat`
  return changed > 0
}
