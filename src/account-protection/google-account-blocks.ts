import fp from 'fastify-plugin'
import type { PrismaClient } from '../generated/prisma/client.ts'

/** The RISC `account-disabled` reason under which a user's mailbox is no longer handed out. */
export const HIJACKING = 'hijacking'

/**
 * Whether Google told us (RISC `account-disabled`, reason `hijacking`) that a Google account of this user is in
 * someone else's hands: the one linked for sign-in or the one whose Gmail grant we hold. Until `account-enabled`
 * arrives, the grant is kept (Google may lift its block; deleting would force a reconnect after a false alarm) but
 * not used on anyone's behalf: no exchanged token (POST /oauth/token), no gmailProfile.
 */
export class GoogleAccountBlocks {
  readonly #prisma: PrismaClient

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  async hijacked (userId: string): Promise<boolean> {
    const user = await this.#prisma.user.findUnique({ where: { id: userId }, select: { googleSub: true, gmailConnection: { select: { googleSub: true } } } })
    const subs = [user?.googleSub, user?.gmailConnection?.googleSub].filter((s): s is string => s != null)
    if (subs.length === 0) return false
    return await this.#prisma.googleAccountBlock.count({ where: { googleSub: { in: subs }, reason: HIJACKING } }) > 0
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    googleAccountBlocks: GoogleAccountBlocks
  }
}

export default fp(async (app) => {
  app.decorate('googleAccountBlocks', new GoogleAccountBlocks(app.prisma))
}, { name: 'google-account-blocks', dependencies: ['prisma'] })
