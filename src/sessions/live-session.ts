import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { AppError, ErrorCodes, unauthenticated } from '../errors.ts'
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'
import type { AccessClaims } from './access-tokens.ts'

/** The user columns a request may need. Never the password hash: it is read only where a password is checked. */
export const VIEWER_USER_SELECT = {
  id: true, email: true, name: true, emailVerified: true, googleSub: true, disabledAt: true, createdAt: true
} as const satisfies Prisma.UserSelect

export type ViewerUser = Prisma.UserGetPayload<{ select: typeof VIEWER_USER_SELECT }>

/** A user as resolvers hand it to GraphQL: a full row (after a write) or the viewer's columns (no hash). */
export type UserView = ViewerUser & { passwordHash?: string | null }

/** Who is asking: the verified claims, and the user as read with the session in the same query. */
export interface Viewer extends AccessClaims {
  user: ViewerUser
}

/** Why a signed, unexpired access token is refused. Stable strings in `extensions.reason`. */
export const LiveSessionReasons = {
  SESSION_REVOKED: 'SESSION_REVOKED',
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  USER_DISABLED: 'USER_DISABLED'
} as const

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const sessionRevoked = () => unauthenticated('Session has ended', { reason: LiveSessionReasons.SESSION_REVOKED })

/**
 * An access token is only as alive as its session. A signature check alone let a token stolen before a logout,
 * a password change or an account deletion act for up to its whole lifetime (15 minutes), long enough to link
 * an attacker's Google account and keep the account forever. So every authenticated operation reads the session
 * with its user in one query (primary key lookup plus a join on the user's primary key; the cost is measured in
 * the README) and refuses what has ended.
 */
export async function requireLiveSession (
  deps: { prisma: PrismaClient, clock: Clock, config: Pick<Config, 'REFRESH_TOKEN_IDLE_SECONDS'> },
  claims: AccessClaims
): Promise<Viewer> {
  if (!UUID.test(claims.sid)) throw sessionRevoked()
  const session = await deps.prisma.session.findUnique({
    where: { id: claims.sid },
    select: {
      userId: true,
      revokedAt: true,
      expiresAt: true,
      lastUsedAt: true,
      user: { select: { ...VIEWER_USER_SELECT, deletionRequestedAt: true } }
    }
  })
  // Gone (the account was deleted), or not this user's: the same answer as an ended session.
  if (session == null || session.userId !== claims.sub || session.user.deletionRequestedAt != null) throw sessionRevoked()
  const { deletionRequestedAt: _, ...user } = session.user
  if (user.disabledAt != null) {
    throw new AppError(ErrorCodes.FORBIDDEN, 'This account is disabled', { reason: LiveSessionReasons.USER_DISABLED })
  }
  if (session.revokedAt != null) throw sessionRevoked()
  const now = deps.clock.now().getTime()
  if (session.expiresAt.getTime() <= now || session.lastUsedAt.getTime() + deps.config.REFRESH_TOKEN_IDLE_SECONDS * 1000 <= now) {
    throw unauthenticated('Session has expired', { reason: LiveSessionReasons.SESSION_EXPIRED })
  }
  return { ...claims, user }
}
