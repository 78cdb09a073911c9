import { randomBytes } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { randomToken } from '../crypto/secrets.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { checkEndpointUrl } from './endpoint-url.ts'
import { WEBHOOK_EVENT_TYPES } from './outbox.ts'

/** A rotated-out secret keeps signing beside the new one this long, so receivers can switch without a gap. */
export const SECRET_OVERLAP_MS = 24 * 3_600_000

export interface WebhookEndpointView {
  id: string
  clientId: string
  url: string
  eventTypes: string[]
  /** ACTIVE, FAILING (deliveries failing since `failingSince`) or DISABLED (failed for too long). */
  status: 'ACTIVE' | 'FAILING' | 'DISABLED'
  failingSince: Date | null
  disabledAt: Date | null
  createdAt: Date
}

export class WebhookEndpointError extends Error {
  override name = 'WebhookEndpointError'
}

/** Standard Webhooks' secret format: `whsec_` + base64 of the key (32 random bytes). */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

/** The operators' side of webhooks (npm run admin): endpoints of service clients, their secrets, their deliveries. */
export class WebhookEndpoints {
  readonly #prisma: PrismaClient
  readonly #clock: Clock
  readonly #production: boolean

  constructor (deps: { prisma: PrismaClient, clock: Clock, production: boolean }) {
    this.#prisma = deps.prisma
    this.#clock = deps.clock
    this.#production = deps.production
  }

  /** The secret is printed once, here; deliveries are signed with it. */
  async create (clientId: string, url: string, eventTypes: string[]): Promise<{ id: string, secret: string }> {
    const checked = checkEndpointUrl(url, this.#production)
    const unknown = eventTypes.filter(t => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t))
    if (unknown.length > 0) throw new WebhookEndpointError(`unknown event type(s): ${unknown.join(', ')} (known: ${WEBHOOK_EVENT_TYPES.join(', ')})`)
    const client = await this.#prisma.serviceClient.findUnique({ where: { id: clientId } })
    if (client == null || client.revokedAt != null) throw new WebhookEndpointError(`no active service client ${clientId}`)
    const id = `wh_${randomToken(12)}`
    const secret = newSecret()
    await this.#prisma.webhookEndpoint.create({ data: { id, clientId, url: checked.href, eventTypes: [...new Set(eventTypes)], secret, createdAt: this.#clock.now() } })
    return { id, secret }
  }

  async list (): Promise<WebhookEndpointView[]> {
    const rows = await this.#prisma.webhookEndpoint.findMany({ orderBy: { createdAt: 'asc' } })
    return rows.map(r => ({
      id: r.id,
      clientId: r.clientId,
      url: r.url,
      eventTypes: r.eventTypes,
      status: r.disabledAt != null ? 'DISABLED' : r.failingSince != null ? 'FAILING' : 'ACTIVE',
      failingSince: r.failingSince,
      disabledAt: r.disabledAt,
      createdAt: r.createdAt
    }))
  }

  async delete (id: string): Promise<boolean> {
    return (await this.#prisma.webhookEndpoint.deleteMany({ where: { id } })).count === 1
  }

  /** A new secret signs from now on; the old one keeps signing beside it for 24 h (receivers switch without a gap). */
  async rotateSecret (id: string): Promise<{ id: string, secret: string, previousSecretValidUntil: Date }> {
    const row = await this.#prisma.webhookEndpoint.findUnique({ where: { id } })
    if (row == null) throw new WebhookEndpointError(`no webhook ${id}`)
    const secret = newSecret()
    const until = new Date(this.#clock.now().getTime() + SECRET_OVERLAP_MS)
    await this.#prisma.webhookEndpoint.update({ where: { id }, data: { secret, previousSecret: row.secret, previousSecretUntil: until } })
    return { id, secret, previousSecretValidUntil: until }
  }

  async deliveries (id: string, failedOnly: boolean, limit = 100) {
    const rows = await this.#prisma.webhookDelivery.findMany({
      where: { endpointId: id, ...(failedOnly ? { state: 'FAILED' as const } : {}) },
      include: { event: { select: { type: true, createdAt: true } } },
      orderBy: { createdAt: 'desc' },
      take: limit
    })
    return rows.map(r => ({
      id: r.id,
      type: r.event.type,
      state: r.state,
      attempts: r.attempts,
      lastStatus: r.lastStatus,
      lastError: r.lastError,
      nextAttemptAt: r.state === 'PENDING' ? r.nextAttemptAt : null,
      deliveredAt: r.deliveredAt,
      createdAt: r.createdAt
    }))
  }

  /** Sends deliveries again (same webhook-id): one by id, or every one of `endpointId` since `since`. */
  async replay (target: { deliveryId: string } | { endpointId?: string, since: Date }): Promise<number> {
    const now = this.#clock.now()
    const data = { state: 'PENDING' as const, nextAttemptAt: now, leaseUntil: null, lastError: null }
    if ('deliveryId' in target) return (await this.#prisma.webhookDelivery.updateMany({ where: { id: target.deliveryId }, data })).count
    return (await this.#prisma.webhookDelivery.updateMany({ where: { createdAt: { gte: target.since }, ...(target.endpointId != null ? { endpointId: target.endpointId } : {}) }, data })).count
  }

  /** Delivers to a disabled endpoint again (its failed deliveries can then be replayed). */
  async enable (id: string): Promise<boolean> {
    return (await this.#prisma.webhookEndpoint.updateMany({ where: { id }, data: { disabledAt: null, failingSince: null } })).count === 1
  }
}
