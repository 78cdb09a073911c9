import fp from 'fastify-plugin'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Prisma } from '../generated/prisma/client.ts'

/** Every kind of event the security log records. Stable strings: dashboards and alerts match on them. */
export type SecurityEventType =
  | 'SIGN_UP'
  | 'LOGIN_SUCCEEDED'
  | 'LOGIN_FAILED'
  | 'LOGIN_RATE_LIMITED'
  | 'REFRESH_TOKEN_REUSE_DETECTED'
  | 'SESSION_EXPIRED'
  | 'LOGOUT'
  | 'LOGOUT_EVERYWHERE'
  | 'SESSION_REVOKED'
  | 'PASSWORD_CHANGED'
  | 'USER_DISABLED'
  | 'GMAIL_CONNECTED'
  | 'GMAIL_CONNECT_REFUSED'
  | 'GMAIL_ACCOUNT_SWITCHED'
  | 'GMAIL_RECONNECT_REQUIRED'
  | 'GMAIL_DISCONNECTED'
  | 'GOOGLE_LINKED'
  | 'GOOGLE_LINK_REFUSED'
  | 'GOOGLE_UNLINKED'
  | 'APPLE_LINKED'
  | 'APPLE_LINK_REFUSED'
  | 'APPLE_UNLINKED'
  /** A server-to-server notification Apple sent about the user's Apple ID; detail: { event, outcome }. */
  | 'APPLE_NOTIFICATION'
  | 'REAUTH_FAILED'
  | 'USER_ENABLED'
  | 'ACCOUNT_DELETION_REQUESTED'
  | 'ACCOUNT_DELETED'
  /** An event Google pushed about the user's Google account (Cross-Account Protection); detail: { event, outcome }. */
  | 'GOOGLE_RISC_EVENT'
  /** A Gmail access token was handed to a service client (detail: clientName, clientId, subject). */
  | 'GMAIL_TOKEN_ISSUED'

export interface SecurityEventInput {
  userId?: string | null
  sessionId?: string | null
  ip?: string | null
  userAgent?: string | null
  /** Never a token, a password or a secret: this table is read by people. */
  detail?: Prisma.InputJsonValue
}

export class SecurityEvents {
  readonly #prisma: PrismaClient
  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  async record (type: SecurityEventType, input: SecurityEventInput = {}): Promise<void> {
    await this.#prisma.securityEvent.create({
      data: {
        type,
        userId: input.userId ?? null,
        sessionId: input.sessionId ?? null,
        ip: input.ip ?? null,
        userAgent: input.userAgent?.slice(0, 512) ?? null,
        detail: input.detail
      }
    })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    securityEvents: SecurityEvents
  }
}

export default fp(async (app) => {
  app.decorate('securityEvents', new SecurityEvents(app.prisma))
}, { name: 'security-events', dependencies: ['prisma'] })
