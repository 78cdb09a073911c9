import fp from 'fastify-plugin'
import { AccountDeletion } from './account-deletion.ts'
import { StepUp } from './step-up.ts'

declare module 'fastify' {
  interface FastifyInstance {
    stepUp: StepUp
    accountDeletion: AccountDeletion
  }
}

/** Account security: step-up for sensitive operations, and account deletion. */
export default fp(async (app) => {
  app.decorate('stepUp', new StepUp({
    prisma: app.prisma,
    passwords: app.passwordHasher,
    rateLimits: app.rateLimits,
    auditLog: app.auditLog,
    clock: app.clock,
    maxAgeSeconds: app.config.REAUTH_MAX_AGE_SECONDS
  }))
  app.decorate('accountDeletion', new AccountDeletion({
    prisma: app.prisma, gmail: app.gmailConnections, auditLog: app.auditLog, clock: app.clock, log: app.log
  }))
}, { name: 'accounts', dependencies: ['prisma', 'passwords', 'rate-limits', 'audit-log', 'gmail'] })
