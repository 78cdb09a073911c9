import fp from 'fastify-plugin'
import { configuredGoogle } from '../google/google-gateway.ts'
import { GmailConnections } from './gmail-connections.ts'

declare module 'fastify' {
  interface FastifyInstance {
    gmail: GmailConnections
  }
}

export default fp(async (app) => {
  app.decorate('gmail', new GmailConnections({
    prisma: app.prisma,
    vault: app.vault,
    google: configuredGoogle(app),
    securityEvents: app.securityEvents,
    clock: app.clock,
    log: app.log,
    refreshMarginSeconds: app.config.GMAIL_REFRESH_MARGIN_SECONDS,
    gmailScopes: app.config.GMAIL_SCOPES,
    metrics: app.metrics,
    rateLimits: app.rateLimits
  }))
}, { name: 'gmail', dependencies: ['prisma', 'vault', 'google', 'security-events', 'metrics', 'rate-limits'] })
