import fp from 'fastify-plugin'
import { configuredGoogle } from '../google/google-gateway.ts'
import { GmailConnections } from './gmail-connections.ts'

declare module 'fastify' {
  interface FastifyInstance {
    gmailConnections: GmailConnections
  }
}

export default fp(async (app) => {
  app.decorate('gmailConnections', new GmailConnections({
    prisma: app.prisma,
    vault: app.vault,
    google: configuredGoogle(app),
    auditLog: app.auditLog,
    clock: app.clock,
    log: app.log,
    refreshMarginSeconds: app.config.GMAIL_REFRESH_MARGIN_SECONDS,
    gmailScopes: app.config.GMAIL_SCOPES,
    metrics: app.metrics,
    rateLimits: app.rateLimits
  }))
}, { name: 'gmail', dependencies: ['prisma', 'vault', 'google', 'audit-log', 'metrics', 'rate-limits'] })
