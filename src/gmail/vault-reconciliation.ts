import type { FastifyBaseLogger } from 'fastify'
import { googleTokenIdentifiers } from '../crypto/hashing.ts'
import { AppError, Errors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway } from '../google/google-gateway.ts'
import { GoogleInvalidGrantError, GoogleRejectedError } from '../google/google-gateway.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { TokenVault } from '../vault/index.ts'
import type { GmailConnections } from './gmail-connections.ts'
import { grantHashOf } from './grant-lock.ts'
import type { GrantLease } from './grant-lock.ts'

/** Why a secret was not the grant of a live connection. */
export type OrphanReason = 'NO_ROW' | 'USER_GONE' | 'USER_BEING_DELETED' | 'ROW_NOT_ACTIVE' | 'OTHER_GOOGLE_ACCOUNT'

export type ReconcileEntry =
  | { action: 'REVOKED_AND_DELETED', reason: OrphanReason, rowMarkedReconnectRequired: boolean }
  | { action: 'MARKED_RECONNECT_REQUIRED', reason: 'VAULT_SECRET_MISSING' }
  | { action: 'ROW_UPDATED', reason: 'GRANT_HASH_MISMATCH' }
  /** Nothing changed for this user; `reason` says why it was left (the secret or row the next run retries). */
  | { action: 'FAILED', reason: OrphanReason | 'VAULT_SECRET_MISSING' | 'GRANT_HASH_MISMATCH' | 'CHECK', error: string }

export interface ReconcileReport {
  secretsListed: number
  /** Records under the prefix that name no user (see TokenVault.list): left alone, counted for the operator. */
  unidentifiedSecrets: number
  activeRowsChecked: number
  counts: { revokedAndDeleted: number, markedReconnectRequired: number, rowsUpdated: number, failed: number, unchanged: number }
  /** Only the users something was done (or failed) for, by user id. Never a token. */
  users: Record<string, ReconcileEntry>
}

export interface VaultReconciliationDeps {
  prisma: PrismaClient
  vault: TokenVault
  google: GoogleGateway | null
  gmail: Pick<GmailConnections, 'withGrantLock'>
  auditLog: AuditLog
  log: FastifyBaseLogger
}

/**
 * `npm run admin -- reconcile-vault`: brings the vault and the `gmail_connections` rows back in step.
 * - A secret with no live connection (no row, the user gone or being deleted, a row not ACTIVE, or an ACTIVE row of
 *   another Google account) is a live refresh token nobody uses: revoked at Google, then deleted. If Google cannot
 *   revoke it now (down, timeout, an unexpected refusal) it is kept and reported FAILED, so the next run retries;
 *   Google saying the token is already invalid counts as revoked.
 * - An ACTIVE row with no secret cannot serve a token: RECONNECT_REQUIRED (VAULT_SECRET_MISSING), as a refresh would.
 * - An ACTIVE row and a secret of the same Google account whose grant hashes differ (a row write lost after the vault
 *   write, which comes first): the vault holds the grant, so the row is brought up to date instead of revoking it.
 * Safe while the server serves: the listing is only a list of candidates; each user's decision is taken again,
 * from fresh reads, inside that user's grant lease (the one connect, refresh, disconnect and deletion take), so a
 * connect that lands between the listing and the decision is seen, and kept.
 */
export async function reconcileVault (deps: VaultReconciliationDeps): Promise<ReconcileReport> {
  const listing = await deps.vault.list()
  const active = await deps.prisma.gmailConnection.findMany({ where: { state: 'ACTIVE' }, select: { userId: true } })
  const candidates = [...new Set([...listing.userIds, ...active.map((r) => r.userId)])].sort()
  const report: ReconcileReport = {
    secretsListed: listing.userIds.length,
    unidentifiedSecrets: listing.unidentified,
    activeRowsChecked: active.length,
    counts: { revokedAndDeleted: 0, markedReconnectRequired: 0, rowsUpdated: 0, failed: 0, unchanged: 0 },
    users: {}
  }
  // One user at a time: each holds only its own lease, and a slow Google for one user delays, not blocks, the rest.
  for (const userId of candidates) {
    const entry = await reconcileUser(deps, userId)
    if (entry == null) {
      report.counts.unchanged++
      continue
    }
    report.users[userId] = entry
    if (entry.action === 'REVOKED_AND_DELETED') report.counts.revokedAndDeleted++
    else if (entry.action === 'MARKED_RECONNECT_REQUIRED') report.counts.markedReconnectRequired++
    else if (entry.action === 'ROW_UPDATED') report.counts.rowsUpdated++
    else report.counts.failed++
  }
  return report
}

/** Null when the user's secret and row agree (or nothing is left to do). */
async function reconcileUser (deps: VaultReconciliationDeps, userId: string): Promise<ReconcileEntry | null> {
  let reason: OrphanReason | 'VAULT_SECRET_MISSING' | 'GRANT_HASH_MISMATCH' | 'CHECK' = 'CHECK'
  let outcome: { entry: ReconcileEntry | null, notify: boolean }
  try {
    outcome = await deps.gmail.withGrantLock(userId, null, async (lease) => {
      const decision = await decide(deps, userId)
      if (decision.kind !== 'keep') reason = decision.reason
      return await act(deps, lease, userId, decision)
    })
  } catch (err) {
    deps.log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, userId }, 'reconcile-vault: left for the next run')
    return { action: 'FAILED', reason, error: errorCode(err) }
  }
  if (outcome.notify) {
    await deps.auditLog.record('GMAIL_RECONNECT_REQUIRED', { userId, detail: { reason: 'VAULT_SECRET_MISSING', by: 'reconcile-vault' } })
  }
  return outcome.entry
}

type Decision =
  | { kind: 'keep' }
  | { kind: 'orphan', reason: OrphanReason, refreshToken: string, markRow: boolean, userLive: boolean }
  | { kind: 'missing', reason: 'VAULT_SECRET_MISSING', userLive: boolean }
  | { kind: 'rehash', reason: 'GRANT_HASH_MISMATCH', refreshToken: string, expiryDate: number }

// Fresh reads under the lease: whatever the listing said is only why this user is looked at.
async function decide (deps: VaultReconciliationDeps, userId: string): Promise<Decision> {
  const user = await deps.prisma.user.findUnique({ where: { id: userId }, select: { deletionRequestedAt: true } })
  const row = await deps.prisma.gmailConnection.findUnique({ where: { userId } })
  const bundle = await deps.vault.get(userId)
  const userLive = user != null && user.deletionRequestedAt == null
  if (bundle == null) {
    return row?.state === 'ACTIVE' ? { kind: 'missing', reason: 'VAULT_SECRET_MISSING', userLive } : { kind: 'keep' }
  }
  const orphan = (reason: OrphanReason): Decision => ({ kind: 'orphan', reason, refreshToken: bundle.refreshToken, markRow: row?.state === 'ACTIVE', userLive })
  if (user == null) return orphan('USER_GONE')
  if (user.deletionRequestedAt != null) return orphan('USER_BEING_DELETED')
  if (row == null) return orphan('NO_ROW')
  if (row.state !== 'ACTIVE') return orphan('ROW_NOT_ACTIVE')
  if (row.googleSub !== bundle.googleSub) return orphan('OTHER_GOOGLE_ACCOUNT')
  // Rows from before grant hashes were kept have none: nothing to compare, the next refresh sets it.
  if (row.grantHash != null && row.grantHash !== grantHashOf(bundle.refreshToken)) {
    return { kind: 'rehash', reason: 'GRANT_HASH_MISMATCH', refreshToken: bundle.refreshToken, expiryDate: bundle.expiryDate }
  }
  return { kind: 'keep' }
}

const RECONNECT_REQUIRED = { state: 'RECONNECT_REQUIRED', stateReason: 'VAULT_SECRET_MISSING', accessTokenExpiresAt: null, refreshTokenPrefix: null, refreshTokenHash: null } as const

async function act (deps: VaultReconciliationDeps, lease: GrantLease, userId: string, d: Decision): Promise<{ entry: ReconcileEntry | null, notify: boolean }> {
  switch (d.kind) {
    case 'keep':
      return { entry: null, notify: false }
    case 'missing':
      await lease.write(async (tx) => await tx.gmailConnection.update({ where: { userId }, data: RECONNECT_REQUIRED }))
      return { entry: { action: 'MARKED_RECONNECT_REQUIRED', reason: d.reason }, notify: d.userLive }
    case 'rehash':
      await lease.write(async (tx) => await tx.gmailConnection.update({
        where: { userId },
        data: { grantHash: grantHashOf(d.refreshToken), ...googleTokenIdentifiers(d.refreshToken), accessTokenExpiresAt: new Date(d.expiryDate), vaultVersion: { increment: 1 } }
      }))
      return { entry: { action: 'ROW_UPDATED', reason: d.reason }, notify: false }
    case 'orphan':
      // Revoked first: a secret is deleted only once Google no longer honours it (or never did). A throw here
      // writes nothing and keeps the secret for the next run.
      await revokeAtGoogle(deps.google, d.refreshToken)
      await lease.renew()
      await deps.vault.delete(userId)
      if (d.markRow) await lease.write(async (tx) => await tx.gmailConnection.update({ where: { userId }, data: RECONNECT_REQUIRED }))
      return { entry: { action: 'REVOKED_AND_DELETED', reason: d.reason, rowMarkedReconnectRequired: d.markRow }, notify: d.markRow && d.userLive }
  }
}

async function revokeAtGoogle (google: GoogleGateway | null, refreshToken: string): Promise<void> {
  if (google == null) throw Errors.googleNotConfigured()
  try {
    await google.revoke(refreshToken) // `invalid_token` (already revoked or expired) is success there
  } catch (err) {
    // Dead already: what revoking was for.
    if (err instanceof GoogleInvalidGrantError) return
    throw err
  }
}

function errorCode (err: unknown): string {
  if (err instanceof AppError) return err.code
  if (err instanceof GoogleRejectedError) return 'GOOGLE_REJECTED'
  return 'INTERNAL'
}
