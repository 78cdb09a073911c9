import type { FastifyReply, FastifyRequest } from 'fastify'
import type { MercuriusContext } from 'mercurius'
import type { AccessClaims } from '../sessions/access-tokens.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'

export interface GraphQLContext extends MercuriusContext {
  request: FastifyRequest
  reply: FastifyReply
  meta: RequestMeta & { ip: string }
  /** The verified access-token claims; rejects with UNAUTHENTICATED. Verified once per request, on first use. */
  viewer (): Promise<AccessClaims>
}

export function buildContext (request: FastifyRequest, reply: FastifyReply): Omit<GraphQLContext, keyof MercuriusContext> & Partial<MercuriusContext> {
  let claims: Promise<AccessClaims> | undefined
  return {
    request,
    reply,
    meta: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null },
    viewer: () => (claims ??= request.server.accessTokens.verify(request))
  }
}
