import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { isUuid } from '../db/uuid.ts'
import { Errors } from '../errors.ts'
import { Prisma } from '../generated/prisma/client.ts'
import type { PrismaClient, RevokeReason } from '../generated/prisma/client.ts'
import type { AccessClaims } from './access-tokens.ts'
import type { LiveSessionCache } from './live-session-cache.ts'

// The one home of the rules that say whether a session is alive: the access-token check below, the refresh rotation
// (sessions-service.ts), the session listing, the admin CLI's counts and account deletion all use these.

export type { RevokeReason }

type IdleConfig = Pick<Config, 'REFRESH_TOKEN_IDLE_SECONDS'>

/** Ended by time: past its absolute end, or unused for longer than the idle limit. */
export function sessionExpired (session: { expiresAt: Date, lastUsedAt: Date }, now: Date, config: IdleConfig): boolean {
  const t = now.getTime()
  return session.expiresAt.getTime() <= t || session.lastUsedAt.getTime() + config.REFRESH_TOKEN_IDLE_SECONDS * 1000 <= t
}

/** `sessionExpired`'s negation as a query filter, with not revoked: the sessions a user still has. */
export function liveSessionWhere (now: Date, config: IdleConfig): Prisma.SessionWhereInput {
  return { revokedAt: null, expiresAt: { gt: now }, lastUsedAt: { gt: new Date(now.getTime() - config.REFRESH_TOKEN_IDLE_SECONDS * 1000) } }
}

/** What ending a session writes: when, why, and the sealed successor dropped (no grace replay after an end). */
export function revocation (now: Date, reason: RevokeReason) {
  return { revokedAt: now, revokedReason: reason, successorSealed: null } satisfies Prisma.SessionUpdateManyMutationInput
}

/** Where a user stands: account deletion disables the user too, and both columns are read so neither can be missed. */
export type UserStanding = 'ACTIVE' | 'DISABLED' | 'DELETION_PENDING'

export function userStanding (user: { disabledAt: Date | null, deletionRequestedAt: Date | null }): UserStanding {
  return user.deletionRequestedAt != null ? 'DELETION_PENDING' : user.disabledAt != null ? 'DISABLED' : 'ACTIVE'
}

/** The user columns a request may need. Never the password hash: it is read only where a password is checked. */
export const VIEWER_USER_SELECT = {
  id: true, email: true, name: true, emailVerified: true, googleSub: true, appleSub: true, disabledAt: true, createdAt: true
} as const satisfies Prisma.UserSelect

export type ViewerUser = Prisma.UserGetPayload<{ select: typeof VIEWER_USER_SELECT }>

/** A user as resolvers hand it to GraphQL: a full row (after a write) or the viewer's columns (no hash). */
export type UserView = ViewerUser & { passwordHash?: string | null }

/**
 * The viewer's columns (and whether a deletion is pending) for a raw query that joins `users u`, aliased with a `u`
 * prefix so they never collide with the session's own columns; `viewerUserOf` turns them back into a ViewerUser.
 * Shared by the live-session check below and the refresh rotation's lookup (sessions-service.ts).
 */
export const VIEWER_USER_COLUMNS = Prisma.sql`u.id AS "uId", u.email AS "uEmail", u.name AS "uName", u.email_verified AS "uEmailVerified",
  u.google_sub AS "uGoogleSub", u.apple_sub AS "uAppleSub", u.disabled_at AS "uDisabledAt", u.created_at AS "uCreatedAt", u.deletion_requested_at AS "uDeletionRequestedAt"`

export interface ViewerUserColumns {
  uId: string
  uEmail: string
  uName: string | null
  uEmailVerified: boolean
  uGoogleSub: string | null
  uAppleSub: string | null
  uDisabledAt: Date | null
  uCreatedAt: Date
  uDeletionRequestedAt: Date | null
}

export function viewerUserOf (r: ViewerUserColumns): ViewerUser {
  return { id: r.uId, email: r.uEmail, name: r.uName, emailVerified: r.uEmailVerified, googleSub: r.uGoogleSub, appleSub: r.uAppleSub, disabledAt: r.uDisabledAt, createdAt: r.uCreatedAt }
}

/** Who is asking: the verified claims, and the user as read with the session in the same query. */
export interface Viewer extends AccessClaims {
  user: ViewerUser
}

export interface LiveRow extends ViewerUserColumns {
  userId: string
  revokedAt: Date | null
  expiresAt: Date
  lastUsedAt: Date
}

/**
 * An access token is only as alive as its session. A signature check alone let a token stolen before a logout,
 * a password change or an account deletion act for up to its whole lifetime (15 minutes), long enough to link
 * an attacker's Google account and keep the account forever. So every authenticated operation reads the session
 * with its user in one statement (primary key lookup joined on the user's primary key; cost measured in the
 * README) and refuses what has ended; the row may come from this process's cache (live-session-cache.ts), which
 * PostgreSQL's notifications keep as current as that read.
 */
export async function requireLiveSession<C extends Pick<AccessClaims, 'sid' | 'sub'>> (
  deps: { prisma: PrismaClient, clock: Clock, config: Pick<Config, 'REFRESH_TOKEN_IDLE_SECONDS'>, liveSessionCache?: LiveSessionCache<LiveRow> | undefined },
  claims: C
): Promise<C & { user: ViewerUser }> {
  if (!isUuid(claims.sid)) throw Errors.sessionRevoked()
  const row = deps.liveSessionCache?.get(claims.sid) ?? await readLiveRow(deps, claims.sid)
  // Gone, or not this user's: the same answer as an ended session.
  if (row == null || row.userId !== claims.sub) throw Errors.sessionRevoked()
  const standing = userStanding({ disabledAt: row.uDisabledAt, deletionRequestedAt: row.uDeletionRequestedAt })
  if (standing === 'DELETION_PENDING') throw Errors.sessionRevoked()
  if (standing === 'DISABLED') throw Errors.userDisabledSession()
  if (row.revokedAt != null) throw Errors.sessionRevoked()
  if (sessionExpired(row, deps.clock.now(), deps.config)) throw Errors.sessionExpired()
  return { ...claims, user: viewerUserOf(row) }
}

/** The session and its user from the database, kept in this process's cache (live-session-cache.ts) when it is on. */
async function readLiveRow (deps: { prisma: PrismaClient, liveSessionCache?: LiveSessionCache<LiveRow> | undefined }, sessionId: string): Promise<LiveRow | undefined> {
  const generation = deps.liveSessionCache?.generation
  // One statement, one round trip: Prisma without the relationJoins preview would load `include`d relations
  // with a second query (measured per call: 2.1–3.3 ms that way, 0.8–1.0 ms for this join on PGlite; 1.2–2.5 ms and 0.4–0.6 ms on PostgreSQL 15). Only the columns used.
  const rows = await deps.prisma.$queryRaw<LiveRow[]>`
    SELECT s.user_id AS "userId", s.revoked_at AS "revokedAt", s.expires_at AS "expiresAt", s.last_used_at AS "lastUsedAt",
           ${VIEWER_USER_COLUMNS}
      FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = ${sessionId}::uuid`
  const row = rows[0]
  if (row != null && generation != null) deps.liveSessionCache?.remember(sessionId, row, generation)
  return row
}
