import type { FastifyBaseLogger } from 'fastify'
import { advanceRiscOrder } from '../../account-protection/risc-event-order.ts'
import type { RiscFamily } from '../../account-protection/risc-event-order.ts'
import { HIJACKING } from '../../account-protection/google-account-blocks.ts'
import { isUniqueViolation } from '../../db/prisma-errors.ts'
import { Reasons } from '../../errors.ts'
import type { PrismaClient } from '../../generated/prisma/client.ts'
import type { GmailConnections } from '../../gmail/gmail-connections.ts'
import type { ServiceMetrics } from '../../metrics/metrics.ts'
import type { AuditLog } from '../../audit-log/audit-log.ts'
import type { SessionsService } from '../../sessions/sessions-service.ts'
import type { SecurityEventToken } from './risc-verifier.ts'

const RISC = 'https://schemas.openid.net/secevent/risc/event-type/'
const OAUTH = 'https://schemas.openid.net/secevent/oauth/event-type/'

/** The event types Google's Cross-Account Protection sends, by the short name metrics and the security log use. */
export const RiscEventTypes = {
  'sessions-revoked': `${RISC}sessions-revoked`,
  'tokens-revoked': `${OAUTH}tokens-revoked`,
  'token-revoked': `${OAUTH}token-revoked`,
  'account-disabled': `${RISC}account-disabled`,
  'account-enabled': `${RISC}account-enabled`,
  'account-credential-change-required': `${RISC}account-credential-change-required`,
  verification: `${RISC}verification`
} as const

export type RiscEventName = keyof typeof RiscEventTypes
const NAME_OF = new Map<string, RiscEventName>(Object.entries(RiscEventTypes).map(([name, uri]) => [uri, name as RiscEventName]))

/** Which events are ordered against each other, per Google account (issue 21 item 6; src/account-protection/). */
const FAMILY_OF: Partial<Record<RiscEventName, RiscFamily>> = {
  'sessions-revoked': 'sessions',
  'tokens-revoked': 'tokens',
  'account-disabled': 'account-status',
  'account-enabled': 'account-status',
  'account-credential-change-required': 'credential-change'
}

/** The Gmail connection's stateReason after Google revoked the grant (tokens-revoked / token-revoked). */
export const REVOKED_BY_GOOGLE = Reasons.REVOKED_BY_GOOGLE

/** What an event did, as counted in /metrics and written in the security log. Fixed words only. */
export type RiscOutcome =
  | 'grant_deleted' | 'no_grant' | 'sessions_ended' | 'sign_in_blocked' | 'sessions_ended_sign_in_blocked'
  | 'sign_in_unblocked' | 'recorded' | 'verified' | 'unknown_subject' | 'replayed' | 'ignored'
  /** Older (`iat`) than the last event of its family applied for that Google account: changed nothing. */
  | 'stale'

export type RiscDelivery = 'accepted' | 'replayed'

interface Deps {
  prisma: PrismaClient
  gmail: GmailConnections
  sessions: SessionsService
  auditLog: AuditLog
  metrics?: Pick<ServiceMetrics, 'riscEvent'> | undefined
  log: FastifyBaseLogger
}

type Body = Record<string, unknown>

/**
 * What a verified Security Event Token does to our state. Each `jti` takes effect once (Google delivers again when
 * it is not sure we got it): it is stored before the effects, and removed again if they fail, so that the retry
 * applies them. Grants are deleted through GmailConnections, the same lock and code path as an `invalid_grant`.
 */
export class RiscEventHandler {
  readonly #d: Deps

  constructor (deps: Deps) {
    this.#d = deps
  }

  async handle (set: SecurityEventToken): Promise<RiscDelivery> {
    const entries = Object.entries(set.events)
    try {
      await this.#d.prisma.receivedSecurityEvent.create({ data: { jti: set.jti, eventTypes: entries.map(([type]) => type.slice(0, 200)) } })
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
      for (const [type] of entries) this.#d.metrics?.riscEvent(NAME_OF.get(type) ?? 'other', 'replayed')
      return 'replayed'
    }
    try {
      for (const [type, body] of entries) await this.#apply(type, body, set)
    } catch (err) {
      await this.#d.prisma.receivedSecurityEvent.delete({ where: { jti: set.jti } }).catch(() => {})
      throw err
    }
    return 'accepted'
  }

  async #apply (type: string, body: Body, set: SecurityEventToken): Promise<void> {
    const name = NAME_OF.get(type)
    if (name == null) {
      // Google may add event types: acknowledge them (202) rather than make it retry something we ignore.
      this.#d.metrics?.riscEvent('other', 'ignored')
      this.#d.log.info({ riscEvent: type.slice(0, 200) }, 'ignored a Google RISC event of an unknown type')
      return
    }
    const { outcome, userIds, googleSub } = await this.#effect(name, body, set)
    this.#d.metrics?.riscEvent(name, outcome)
    const reason = typeof body.reason === 'string' ? body.reason.slice(0, 64) : undefined
    const detail = { event: name, outcome, ...(reason != null ? { reason } : {}), ...(googleSub != null ? { googleSub } : {}) }
    if (userIds.length === 0 && name !== 'verification') await this.#d.auditLog.record('GOOGLE_RISC_EVENT', { detail })
    for (const userId of userIds) await this.#d.auditLog.record('GOOGLE_RISC_EVENT', { userId, detail })
  }

  async #effect (name: RiscEventName, body: Body, set: SecurityEventToken): Promise<{ outcome: RiscOutcome, userIds: string[], googleSub?: string }> {
    const { prisma, gmail, sessions } = this.#d
    if (name === 'verification') {
      this.#d.log.info({ state: typeof body.state === 'string' ? body.state.slice(0, 200) : null }, 'Google RISC verification event received')
      return { outcome: 'verified', userIds: [] }
    }
    if (name === 'token-revoked') return await this.#tokenRevoked(body)

    const googleSub = subjectSub(body)
    if (googleSub == null) return { outcome: 'unknown_subject', userIds: [] }
    const linked = await prisma.user.findUnique({ where: { googleSub }, select: { id: true } })
    const connection = await prisma.gmailConnection.findUnique({ where: { googleSub }, select: { userId: true } })
    const userIds = [...new Set([linked?.id, connection?.userId].filter((id): id is string => id != null))]
    // Event order (issue 21 item 6): Google retries, so an old event may arrive after a newer one of its family.
    // The verifier guarantees a numeric iat. account-status events decide the block in the same transaction as the
    // compare-and-set below; the other families only ever revoke, so a check before their effect is enough.
    const order = { googleSub, family: FAMILY_OF[name]!, iat: new Date(set.iat * 1000), jti: set.jti }
    if (name === 'account-disabled' || name === 'account-enabled') {
      const reason = name === 'account-disabled' && body.reason === HIJACKING ? HIJACKING : null
      const applied = await prisma.$transaction(async (tx) => {
        if (!await advanceRiscOrder(tx, order)) return false
        // Blocked by Google account, not by user: it holds also for an account nobody has linked yet.
        if (name === 'account-disabled') await tx.googleAccountBlock.upsert({ where: { googleSub }, create: { googleSub, reason }, update: { reason } })
        else await tx.googleAccountBlock.deleteMany({ where: { googleSub } })
        return true
      })
      if (!applied) return { outcome: 'stale', userIds, googleSub }
      if (name === 'account-enabled') return { outcome: 'sign_in_unblocked', userIds, googleSub }
      if (reason === HIJACKING && linked != null) {
        await sessions.revokeAll(linked.id, 'GOOGLE_ACCOUNT_HIJACKED')
        return { outcome: 'sessions_ended_sign_in_blocked', userIds, googleSub }
      }
      return { outcome: 'sign_in_blocked', userIds, googleSub }
    }
    if (!await advanceRiscOrder(prisma, order)) return { outcome: 'stale', userIds, googleSub }

    switch (name) {
      case 'tokens-revoked': {
        if (connection == null) return { outcome: userIds.length === 0 ? 'unknown_subject' : 'no_grant', userIds, googleSub }
        const deleted = await gmail.revokedByGoogle(connection.userId, REVOKED_BY_GOOGLE, { googleSub })
        return { outcome: deleted ? 'grant_deleted' : 'no_grant', userIds, googleSub }
      }
      case 'sessions-revoked':
        if (linked == null) return { outcome: userIds.length === 0 ? 'unknown_subject' : 'recorded', userIds, googleSub }
        await sessions.revokeAll(linked.id, 'GOOGLE_SESSIONS_REVOKED')
        return { outcome: 'sessions_ended', userIds, googleSub }
      case 'account-credential-change-required':
        return { outcome: userIds.length === 0 ? 'unknown_subject' : 'recorded', userIds, googleSub }
    }
  }

  async #tokenRevoked (body: Body): Promise<{ outcome: RiscOutcome, userIds: string[] }> {
    const subject = body.subject as Body | undefined
    const token = subject?.token
    if (subject?.subject_type !== 'oauth_token' || typeof token !== 'string' || token === '') return { outcome: 'unknown_subject', userIds: [] }
    const where = subject.token_identifier_alg === 'prefix'
      ? { refreshTokenPrefix: token }
      : subject.token_identifier_alg === 'hash_base64_sha512_sha512' ? { refreshTokenHash: token } : null
    if (where == null) return { outcome: 'unknown_subject', userIds: [] }
    // A 16-character prefix could match more than one grant: each is then deleted (a needless reconnect at worst,
    // never a revoked grant kept).
    const rows = await this.#d.prisma.gmailConnection.findMany({ where, select: { userId: true } })
    if (rows.length === 0) return { outcome: 'unknown_subject', userIds: [] }
    let deleted = false
    for (const { userId } of rows) deleted = (await this.#d.gmail.revokedByGoogle(userId, REVOKED_BY_GOOGLE, where)) || deleted
    return { outcome: deleted ? 'grant_deleted' : 'no_grant', userIds: rows.map((r) => r.userId) }
  }
}

/** The Google account an event is about (`iss-sub` subject), or null. */
function subjectSub (body: Body): string | null {
  const subject = body.subject as Body | undefined
  if (subject?.subject_type !== 'iss-sub' || typeof subject.sub !== 'string' || subject.sub === '' || subject.sub.length > 255) return null
  return subject.sub
}
