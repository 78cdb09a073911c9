import fp from 'fastify-plugin'
import { RiscEventHandler } from './risc-events.ts'
import { RiscKeys } from './risc-keys.ts'
import { RiscVerifier } from './risc-verifier.ts'
import riscRoutes from './routes.ts'

declare module 'fastify' {
  interface FastifyInstance {
    riscVerifier: RiscVerifier
    riscEventHandler: RiscEventHandler
  }
}

/**
 * Google's Cross-Account Protection (RISC) receiver: revocations, sign-outs and hijackings pushed by Google instead
 * of discovered at the next failing Gmail call. Registered only with Google configured (src/app.ts): the audiences
 * are our client ids.
 */
export default fp(async (app) => {
  const google = app.googleGateway
  const keys = new RiscKeys({ baseUrl: app.config.GOOGLE_API_BASE_URL ?? 'https://accounts.google.com', timeoutMs: app.config.GOOGLE_TIMEOUT_MS, clock: app.clock })
  app.decorate('riscVerifier', new RiscVerifier(keys, google.acceptedClientIds, { clock: app.clock, maxEventAgeSeconds: app.config.RISC_MAX_EVENT_AGE_SECONDS }))
  app.decorate('riscEventHandler', new RiscEventHandler({
    prisma: app.prisma, gmail: app.gmailConnections, sessions: app.sessionsService, auditLog: app.auditLog, metrics: app.metrics, log: app.log
  }))
  await app.register(riscRoutes)
}, { name: 'google-risc', dependencies: ['prisma', 'google', 'gmail', 'sessions', 'audit-log', 'metrics'] })
