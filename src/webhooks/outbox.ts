import type { Prisma } from '../generated/prisma/client.ts'

/**
 * The event types a webhook endpoint can receive. Lifecycle ones are written by database triggers (migration
 * `webhooks`) in the transaction of the change itself; mail ones by the mailbox sync (src/events/).
 */
export const WEBHOOK_EVENT_TYPES = [
  'gmail.message.added',
  'gmail.sync_required',
  'gmail.connected',
  'gmail.reconnect_required',
  'gmail.disconnected',
  'user.deleted',
  'service.authorization_revoked'
] as const

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

export interface OutboxEvent {
  type: WebhookEventType
  userId: string
  /** Ids and states only: never a token, never message content. */
  data: Record<string, string | number | boolean | null>
}

/** Writes events inside the caller's transaction: they exist exactly when the change that causes them does. */
export async function recordEvents (tx: Prisma.TransactionClient, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return
  await tx.webhookEvent.createMany({ data: events.map(e => ({ type: e.type, userId: e.userId, data: e.data })) })
}
