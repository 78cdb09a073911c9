import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { AppError, Errors, Reasons } from '../errors.ts'
import type { Reason } from '../errors.ts'
import type { ClientKind, PrismaClient, Session, User } from '../generated/prisma/client.ts'
import { liveSessionWhere, revocation, sessionExpired, userStanding, VIEWER_USER_COLUMNS, viewerUserOf } from './live-session.ts'
import type { RevokeReason, UserView, ViewerUser, ViewerUserColumns } from './live-session.ts'
import type { RefreshOutcome, ServiceMetrics } from '../metrics/metrics.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { AccessTokens } from './access-tokens.ts'
import {
  hashRefreshToken, looksLikeRefreshToken, newRefreshToken, openSuccessor, sameHash, sealSuccessor
} from './refresh-tokens.ts'

/** Who is asking: recorded on sessions and security events. */
export interface RequestMeta {
  ip?: string | null
  userAgent?: string | null
}

/** What a login, sign-up or refresh hands back. The GraphQL layer decides where the refresh token travels. */
export interface IssuedTokens {
  accessToken: string
  accessTokenExpiresAt: Date
  refreshToken: string
  clientKind: ClientKind
  /** The full row after a login or sign-up; the viewer's columns (never the password hash) after a refresh. */
  user: UserView
  session: Session
  /** After a password login: the device token that lets this device past strangers' lockouts (src/users/device-tokens.ts). */
  deviceToken?: string
}

/** A session and its user's columns, as the rotation reads them in one statement. */
type SessionUser = ViewerUser & { deletionRequestedAt: Date | null }
type SessionWithUser = Session & { user: SessionUser }

export type { RevokeReason }

type SessionsConfig = Pick<Config, 'REFRESH_TOKEN_TTL_SECONDS' | 'REFRESH_TOKEN_IDLE_SECONDS' | 'REFRESH_REUSE_GRACE_SECONDS'>

/** A failed refresh, for the metrics, by the reason its error carries. */
const FAILED_REFRESH: ReadonlyMap<Reason | undefined, RefreshOutcome> = new Map([
  [Reasons.REFRESH_TOKEN_REUSED, 'reuse_detected'], [Reasons.REFRESH_TOKEN_INVALID, 'invalid'], [Reasons.SESSION_REVOKED, 'session_ended'], [Reasons.SESSION_EXPIRED, 'session_ended']
])

export class SessionsService {
  readonly #prisma: PrismaClient
  readonly #accessTokens: AccessTokens
  readonly #events: AuditLog
  readonly #clock: Clock
  readonly #config: SessionsConfig
  readonly #metrics: Pick<ServiceMetrics, 'refresh'> | undefined

  constructor (deps: { prisma: PrismaClient, accessTokens: AccessTokens, auditLog: AuditLog, clock: Clock, config: SessionsConfig, metrics?: Pick<ServiceMetrics, 'refresh'> }) {
    this.#prisma = deps.prisma
    this.#accessTokens = deps.accessTokens
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#config = deps.config
    this.#metrics = deps.metrics
  }

  /** Starts a new session (a new refresh-token family): every login gets fresh tokens (ASVS 7.2.4). */
  async start (user: User, clientKind: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    const now = this.#clock.now()
    const refreshToken = newRefreshToken()
    const session = await this.#prisma.session.create({
      data: {
        userId: user.id,
        clientKind,
        currentTokenHash: hashRefreshToken(refreshToken),
        userAgent: meta.userAgent?.slice(0, 512) ?? null,
        ip: meta.ip ?? null,
        createdAt: now,
        lastUsedAt: now,
        authTime: now,
        expiresAt: new Date(now.getTime() + this.#config.REFRESH_TOKEN_TTL_SECONDS * 1000)
      }
    })
    return this.#issue(user, session, refreshToken, now)
  }

  /**
   * Rotates a refresh token. The token presented must be the session's current one, or its previous one
   * within the grace window (then the caller gets the same successor as the request that rotated it).
   * Any older token of the family is reuse: the whole family is revoked and the event recorded.
   */
  async refresh (token: string, clientKind: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    return await this.#rotate(token, clientKind, meta).catch((err: unknown) => {
      this.#metrics?.refresh((err instanceof AppError ? FAILED_REFRESH.get(err.reason) : undefined) ?? 'error')
      throw err
    })
  }

  /**
   * The live session a refresh token belongs to, judged exactly as `refresh` judges it (revoked, channel, user
   * disabled or being deleted, absolute and idle expiry, reuse of a rotated token outside the grace window, with
   * the same revocations and security events), but without rotating it or counting it as use. For a request that
   * only needs to know who the browser is (GET /auth/google?intent=connect_gmail): it hands out no token, so
   * there is nothing to rotate; rotating would also mean a new cookie on a redirect to Google while another tab
   * may be refreshing with the old one.
   */
  async inspect (token: string, clientKind: ClientKind, meta: RequestMeta): Promise<{ user: SessionUser, session: Session }> {
    const now = this.#clock.now()
    const { user, row, current } = await this.#find(token, clientKind, meta, now)
    if (!current && this.#graceSuccessor(row, token, now) == null) return await this.#rejectReuse(row.id, row.userId, meta)
    return { user, session: row }
  }

  /** The successor of `previousToken` when it was rotated within the grace window (concurrent tabs), else null. */
  #graceSuccessor (row: Session, previousToken: string, now: Date): string | null {
    const withinGrace = row.rotatedAt != null &&
      now.getTime() - row.rotatedAt.getTime() <= this.#config.REFRESH_REUSE_GRACE_SECONDS * 1000
    return withinGrace && row.successorSealed != null ? openSuccessor(row.successorSealed, previousToken, row.id) : null
  }

  /** Finds the token's session and refuses what a refresh refuses; `current` is false for the previous token. */
  async #find (token: string, clientKind: ClientKind, meta: RequestMeta, now: Date): Promise<{ user: SessionUser, row: Session, current: boolean, hash: string }> {
    if (!looksLikeRefreshToken(token)) throw Errors.refreshTokenInvalid()
    const hash = hashRefreshToken(token)
    const session = await this.#findByTokenHash(hash)
    if (session == null) return await this.#rejectUnknown(hash, meta)

    const { user, ...row } = session
    if (row.revokedAt != null) throw Errors.sessionRevoked()
    // A WEB token lives in an HttpOnly cookie and a NATIVE one in an app's keychain: one showing up
    // through the other channel was taken out of its place.
    if (row.clientKind !== clientKind) throw Errors.refreshTokenInvalid()
    if (userStanding(user) !== 'ACTIVE') {
      await this.revoke(row.id, 'USER_DISABLED')
      throw Errors.sessionRevoked()
    }
    if (sessionExpired(row, now, this.#config)) {
      await this.revoke(row.id, 'EXPIRED')
      await this.#events.record('SESSION_EXPIRED', { userId: row.userId, sessionId: row.id, ...meta })
      throw Errors.sessionExpired()
    }
    return { user, row, current: sameHash(hash, row.currentTokenHash), hash }
  }

  async #rotate (token: string, clientKind: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    const now = this.#clock.now()

    // Two passes at most: a lost compare-and-swap means another request rotated this token just now,
    // and the second pass finds it as the previous token, inside the grace window.
    for (let attempt = 0; attempt < 2; attempt++) {
      const { user, row, current, hash } = await this.#find(token, clientKind, meta, now)

      if (current) {
        const successor = newRefreshToken()
        const successorHash = hashRefreshToken(successor)
        const sealed = sealSuccessor(successor, token, row.id)
        // One statement, atomic on its own: the compare-and-swap update and, only if it won, the insert of the hash
        // that drops out of the grace slot (remembered so that its reuse is still caught). Through Prisma's
        // $transaction([...]) the same work was four round trips (BEGIN, UPDATE, INSERT, COMMIT) holding a pooled
        // connection, and about half of the rotation's CPU (see BENCHMARKS.md).
        const [rotated] = await this.#prisma.$queryRaw<Array<{ n: number }>>`
          WITH rotated AS (
            UPDATE sessions
               SET current_token_hash = ${successorHash}, previous_token_hash = ${hash}, successor_sealed = ${sealed},
                   rotated_at = ${now}, last_used_at = ${now}, generation = generation + 1
             WHERE id = ${row.id}::uuid AND current_token_hash = ${hash} AND revoked_at IS NULL
            RETURNING id
          ), retired AS (
            INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at)
            SELECT ${row.previousTokenHash}::text, id, ${now}::timestamptz FROM rotated WHERE ${row.previousTokenHash}::text IS NOT NULL
            ON CONFLICT DO NOTHING
          )
          SELECT count(*)::int AS n FROM rotated`
        if (rotated?.n === 1) {
          const fresh = { ...row, currentTokenHash: successorHash, previousTokenHash: hash, successorSealed: sealed, rotatedAt: now, lastUsedAt: now, generation: row.generation + 1 }
          this.#metrics?.refresh('rotated')
          return this.#issue(user, fresh, successor, now)
        }
        continue
      }

      // The presented token is the previous one.
      const successor = this.#graceSuccessor(row, token, now)
      if (successor != null) {
        this.#metrics?.refresh('grace_replay')
        return this.#issue(user, row, successor, now)
      }
      return await this.#rejectReuse(row.id, row.userId, meta)
    }
    throw Errors.refreshTokenInvalid()
  }

  /**
   * The session whose current or previous token has this hash, with its user's columns (never the password hash),
   * in one statement. Prisma's findFirst with `include` made it two queries, with every user column.
   */
  async #findByTokenHash (hash: string): Promise<SessionWithUser | null> {
    const rows = await this.#prisma.$queryRaw<Array<Session & ViewerUserColumns>>`
      SELECT s.id, s.user_id AS "userId", s.client_kind::text AS "clientKind", s.current_token_hash AS "currentTokenHash",
             s.previous_token_hash AS "previousTokenHash", s.successor_sealed AS "successorSealed", s.rotated_at AS "rotatedAt",
             s.generation, s.user_agent AS "userAgent", s.ip, s.created_at AS "createdAt", s.last_used_at AS "lastUsedAt",
             s.auth_time AS "authTime", s.expires_at AS "expiresAt", s.revoked_at AS "revokedAt", s.revoked_reason::text AS "revokedReason",
             ${VIEWER_USER_COLUMNS}
        FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.current_token_hash = ${hash} OR s.previous_token_hash = ${hash}
       LIMIT 1`
    const r = rows[0]
    if (r == null) return null
    const { uId, uEmail, uName, uEmailVerified, uGoogleSub, uDisabledAt, uCreatedAt, uDeletionRequestedAt, ...session } = r
    return { ...session, user: { ...viewerUserOf(r), deletionRequestedAt: uDeletionRequestedAt } }
  }

  async #rejectUnknown (hash: string, meta: RequestMeta): Promise<never> {
    const retired = await this.#prisma.retiredRefreshToken.findUnique({ where: { tokenHash: hash }, include: { session: true } })
    if (retired != null) await this.#rejectReuse(retired.sessionId, retired.session.userId, meta)
    throw Errors.refreshTokenInvalid()
  }

  /** Reuse of a rotated token means it was copied: whoever holds the family now may be an attacker. */
  async #rejectReuse (sessionId: string, userId: string, meta: RequestMeta): Promise<never> {
    const revoked = await this.revoke(sessionId, 'REFRESH_TOKEN_REUSE')
    await this.#events.record('REFRESH_TOKEN_REUSE_DETECTED', {
      userId, sessionId, ...meta, detail: { familyRevoked: revoked }
    })
    throw Errors.refreshTokenReused()
  }

  #issue (user: UserView, session: Session, refreshToken: string, now: Date): IssuedTokens {
    const access = this.#accessTokens.sign(user, session.id, now, session.authTime)
    return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, clientKind: session.clientKind, user, session }
  }

  /** Ends one session. Returns false when it had already ended; its access tokens fail at once (live-session check). */
  async revoke (sessionId: string, reason: RevokeReason, userId?: string): Promise<boolean> {
    const { count } = await this.#prisma.session.updateMany({
      where: { id: sessionId, revokedAt: null, ...(userId != null ? { userId } : {}) },
      data: revocation(this.#clock.now(), reason)
    })
    return count === 1
  }

  /**
   * The viewer logs out of this session, or of every session (`everywhere`), with its audit event, like login's.
   * Idempotent: logging out of an ended session records the event and changes nothing.
   */
  async logout (userId: string, sessionId: string, everywhere: boolean, meta: RequestMeta): Promise<void> {
    if (everywhere) {
      const count = await this.revokeAll(userId, 'LOGOUT_EVERYWHERE')
      await this.#events.record('LOGOUT_EVERYWHERE', { userId, sessionId, ...meta, detail: { sessionsRevoked: count } })
    } else {
      await this.revoke(sessionId, 'LOGOUT', userId)
      await this.#events.record('LOGOUT', { userId, sessionId, ...meta })
    }
  }

  /** The viewer ends one of their other sessions (devices list). False when it is not theirs or already ended. */
  async revokeByUser (userId: string, sessionId: string, meta: RequestMeta): Promise<boolean> {
    if (!(await this.revoke(sessionId, 'REVOKED_BY_USER', userId))) return false
    await this.#events.record('SESSION_REVOKED', { userId, sessionId, ...meta })
    return true
  }

  /** Ends every session of a user (log out everywhere, password change, account disabled). */
  async revokeAll (userId: string, reason: RevokeReason): Promise<number> {
    const { count } = await this.#prisma.session.updateMany({
      where: { userId, revokedAt: null },
      data: revocation(this.#clock.now(), reason)
    })
    return count
  }

  async listActive (userId: string, first: number): Promise<Session[]> {
    const now = this.#clock.now()
    return await this.#prisma.session.findMany({
      where: { userId, ...liveSessionWhere(now, this.#config) },
      orderBy: { lastUsedAt: 'desc' },
      take: Math.min(Math.max(first, 1), 100)
    })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    sessionsService: SessionsService
  }
}

export default fp(async (app) => {
  app.decorate('sessionsService', new SessionsService({
    prisma: app.prisma,
    accessTokens: app.accessTokens,
    auditLog: app.auditLog,
    clock: app.clock,
    config: app.config,
    metrics: app.metrics
  }))
}, { name: 'sessions', dependencies: ['prisma', 'access-tokens', 'audit-log', 'metrics'] })
