import fp from 'fastify-plugin'
import { RateLimiterPrisma, RateLimiterRes } from 'rate-limiter-flexible'
import { OAuthErrors } from '../errors.ts'
import oauthRoutes from './routes.ts'
import { ServiceClients } from './service-clients.ts'
import { TokenExchange } from './token-exchange.ts'

declare module 'fastify' {
  interface FastifyInstance {
    serviceClients: ServiceClients
    tokenExchange: TokenExchange
  }
}

export default fp(async (app) => {
  const { OAUTH_TOKEN_MAX_PER_CLIENT, OAUTH_TOKEN_WINDOW_SECONDS } = app.config
  // In the database like the login counters: every process counts a client's exchanges together.
  const limiter = new RateLimiterPrisma({
    storeClient: app.prisma, tableName: 'rateLimit', keyPrefix: 'oauth_client', points: OAUTH_TOKEN_MAX_PER_CLIENT, duration: OAUTH_TOKEN_WINDOW_SECONDS
  })
  const rateLimit = {
    async consume (clientId: string): Promise<void> {
      try {
        await limiter.consume(clientId)
      } catch (err) {
        // A RateLimiterRes when the limit is reached; an Error when the store failed (the database: 503 upstream).
        if (err instanceof RateLimiterRes) throw OAuthErrors.rateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)))
        throw err
      }
    }
  }
  app.addHook('onClose', async () => {
    clearTimeout((limiter as unknown as { _clearExpiredTimeoutId?: NodeJS.Timeout })._clearExpiredTimeoutId)
  })
  const clients = new ServiceClients({ prisma: app.prisma, clock: app.clock })
  app.decorate('serviceClients', clients)
  app.decorate('tokenExchange', new TokenExchange({
    prisma: app.prisma,
    clock: app.clock,
    config: app.config,
    clients,
    gmail: app.gmail,
    securityEvents: app.securityEvents,
    metrics: app.metrics,
    rateLimit
  }))
  await app.register(oauthRoutes)
}, { name: 'oauth', dependencies: ['prisma', 'gmail', 'security-events', 'metrics', 'access-tokens'] })
