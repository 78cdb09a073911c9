import type { PrismaClient } from '../generated/prisma/client.ts'

/** What a user sees of their own security log: of `detail`, written for operators, only the client's name. */
export interface SecurityEventView {
  type: string
  createdAt: Date
  ip: string | null
  userAgent: string | null
  clientName: string | null
  count: number
}

export const SECURITY_EVENTS_MAX = 100

/** The user's own events, newest first; the user id comes from the access token, never from an argument. */
export async function ownSecurityEvents (prisma: PrismaClient, userId: string, first: number): Promise<SecurityEventView[]> {
  const rows = await prisma.securityEvent.findMany({
    where: { userId },
    select: { type: true, createdAt: true, ip: true, userAgent: true, detail: true, count: true },
    // Served by the (user_id, created_at) index; id breaks ties between events of the same millisecond.
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: Math.min(Math.max(first, 1), SECURITY_EVENTS_MAX)
  })
  return rows.map(({ detail, ...event }) => ({ ...event, clientName: clientNameOf(detail) }))
}

function clientNameOf (detail: unknown): string | null {
  const name = (detail as { clientName?: unknown } | null)?.clientName
  return typeof name === 'string' ? name : null
}
