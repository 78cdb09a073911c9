import fp from 'fastify-plugin'
import oauthRoutes from './routes.ts'
import { ServiceAuthorizations } from './service-authorizations.ts'
import { ServiceClients } from './service-clients.ts'
import { TokenExchange } from './token-exchange.ts'

declare module 'fastify' {
  interface FastifyInstance {
    serviceClients: ServiceClients
    serviceAuthorizations: ServiceAuthorizations
    tokenExchange: TokenExchange
  }
}

export default fp(async (app) => {
  const clients = new ServiceClients({ prisma: app.prisma, clock: app.clock })
  app.decorate('serviceClients', clients)
  const authorizations = new ServiceAuthorizations({
    prisma: app.prisma, clients, accessTokens: app.accessTokens, auditLog: app.auditLog, clock: app.clock
  })
  app.decorate('serviceAuthorizations', authorizations)
  app.decorate('tokenExchange', new TokenExchange({
    prisma: app.prisma,
    clock: app.clock,
    config: app.config,
    liveSessionCache: app.liveSessionCache,
    clients,
    gmail: app.gmailConnections,
    auditLog: app.auditLog,
    metrics: app.metrics,
    rateLimits: app.rateLimits,
    authorizations,
    googleAccountBlocks: app.googleAccountBlocks
  }))
  await app.register(oauthRoutes)
}, { name: 'oauth', dependencies: ['prisma', 'live-session-cache', 'google-account-blocks', 'gmail', 'audit-log', 'metrics', 'access-tokens', 'rate-limits'] })
