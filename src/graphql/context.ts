import type { FastifyReply, FastifyRequest } from 'fastify'
import type { MercuriusContext } from 'mercurius'
import { requireLiveSession } from '../sessions/live-session.ts'
import type { Viewer } from '../sessions/live-session.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'

export interface GraphQLContext extends MercuriusContext {
  request: FastifyRequest
  reply: FastifyReply
  meta: RequestMeta & { ip: string }
  /**
   * The verified access-token claims and the user, once the token's session is known to be live; rejects with
   * UNAUTHENTICATED (or FORBIDDEN for a disabled user). Checked once per request, on first use.
   */
  viewer (): Promise<Viewer>
}

export function buildContext (request: FastifyRequest, reply: FastifyReply): Omit<GraphQLContext, keyof MercuriusContext> & Partial<MercuriusContext> {
  let viewer: Promise<Viewer> | undefined
  return {
    request,
    reply,
    meta: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null },
    viewer: () => (viewer ??= request.server.accessTokens.verify(request)
      .then(async (claims) => await requireLiveSession(request.server, claims)))
  }
}
