import type { Clock } from '../clock.ts'
import { Errors, OAuthErrors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { AccessTokens, SignedAccessToken } from '../sessions/access-tokens.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'
import type { ServiceClient, ServiceClients } from './service-clients.ts'

export interface ServiceAuthorizationView {
  client: { id: string, name: string }
  createdAt: Date
  lastUsedAt: Date | null
}

/** How stale `lastUsedAt` may get: one write an hour per authorization at most, never one per exchange. */
const LAST_USED_RESOLUTION_MS = 3_600_000

/**
 * Which service clients a user lets act for them (issue 21 item 2). A client gets a user's Gmail token only for a
 * user who authorized it (or, an `--all-users` client, for everyone): a leaked worker secret no longer exposes
 * every inbox on the server. Revoking takes effect on the client's next exchange (nothing is cached).
 */
export class ServiceAuthorizations {
  readonly #prisma: PrismaClient
  readonly #clients: ServiceClients
  readonly #tokens: AccessTokens
  readonly #events: AuditLog
  readonly #clock: Clock

  constructor (deps: { prisma: PrismaClient, clients: ServiceClients, accessTokens: AccessTokens, auditLog: AuditLog, clock: Clock }) {
    this.#prisma = deps.prisma
    this.#clients = deps.clients
    this.#tokens = deps.accessTokens
    this.#events = deps.auditLog
    this.#clock = deps.clock
  }

  async #liveClient (clientId: string): Promise<ServiceClient> {
    const client = await this.#clients.findLive(clientId)
    if (client == null) throw Errors.serviceClientNotFound()
    return client
  }

  /** Idempotent: authorizing again keeps the first `createdAt`. The caller has done the step-up. */
  async authorize (userId: string, clientId: string, meta: RequestMeta): Promise<ServiceAuthorizationView> {
    const client = await this.#liveClient(clientId)
    const row = await this.#prisma.serviceAuthorization.upsert({
      where: { userId_clientId: { userId, clientId } },
      create: { userId, clientId, createdAt: this.#clock.now() },
      update: {}
    })
    await this.#events.record('SERVICE_AUTHORIZED', { userId, ...meta, detail: { clientName: client.name, clientId } })
    return { client: { id: client.clientId, name: client.name }, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt }
  }

  /** True when an authorization was removed. */
  async revoke (userId: string, clientId: string, meta: RequestMeta): Promise<boolean> {
    const removed = await this.#prisma.serviceAuthorization.deleteMany({ where: { userId, clientId } })
    if (removed.count === 0) return false
    const client = await this.#prisma.serviceClient.findUnique({ where: { id: clientId }, select: { name: true } })
    await this.#events.record('SERVICE_AUTHORIZATION_REVOKED', { userId, ...meta, detail: { clientName: client?.name ?? null, clientId } })
    return true
  }

  async list (userId: string): Promise<ServiceAuthorizationView[]> {
    const rows = await this.#prisma.serviceAuthorization.findMany({
      where: { userId, client: { revokedAt: null } },
      include: { client: { select: { id: true, name: true } } },
      orderBy: { createdAt: 'asc' }
    })
    return rows.map((r) => ({ client: r.client, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt }))
  }

  /** A service token for `clientId`, bound to the viewer's session: FORBIDDEN (SERVICE_NOT_AUTHORIZED) without consent. */
  async serviceToken (viewer: { sub: string, sid: string }, clientId: string): Promise<SignedAccessToken & { client: { id: string, name: string } }> {
    const client = await this.#liveClient(clientId)
    if (!client.allUsers && (await this.#find(viewer.sub, client.clientId)) == null) throw Errors.serviceNotAuthorized()
    return { ...this.#tokens.signService({ id: viewer.sub }, viewer.sid, client.clientId, this.#clock.now()), client: { id: client.clientId, name: client.name } }
  }

  /** At each exchange: the client may act for this user (invalid_grant otherwise); notes the use at most hourly. */
  async requireForExchange (client: ServiceClient, userId: string): Promise<void> {
    if (client.allUsers) return
    const row = await this.#find(userId, client.clientId)
    if (row == null) throw OAuthErrors.serviceNotAuthorized()
    const now = this.#clock.now()
    if (row.lastUsedAt == null || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
      await this.#prisma.serviceAuthorization.updateMany({ where: { userId, clientId: client.clientId }, data: { lastUsedAt: now } })
    }
  }

  async #find (userId: string, clientId: string) {
    return await this.#prisma.serviceAuthorization.findUnique({ where: { userId_clientId: { userId, clientId } }, select: { lastUsedAt: true } })
  }
}
