import { schedulePeriodicJob } from '../background-jobs/periodic-job.ts'
import fp from 'fastify-plugin'
import { MailboxEvents } from './mailbox-events.ts'
import pubsubRoutes from './pubsub-routes.ts'

/**
 * Gmail push in (registered only with Google configured, src/app.ts; and only with GMAIL_PUSH_TOPIC): the watch renewal job and `POST /google/pubsub`.
 * New messages become `gmail.message.added` events in the webhooks outbox (src/webhooks/).
 */
export default fp(async (app) => {
  const topic = app.config.GMAIL_PUSH_TOPIC
  if (topic == null) return
  const mailboxEvents = new MailboxEvents({ prisma: app.prisma, google: app.googleGateway, gmail: app.gmailConnections, topic, clock: app.clock, log: app.log.child({ component: 'gmail-push' }) })
  // users.stop before a grant is revoked (disconnect, account deletion): best effort.
  app.gmailConnections.beforeRevoke(async (userId, accessToken) => { await mailboxEvents.stop(userId, accessToken) })

  // New connections (watchRenewAt null) are watched at the next pass, every watch renewed daily; one pass at a time.
  schedulePeriodicJob(app, {
    run: async () => await mailboxEvents.renewDue(),
    everyMs: app.config.WEBHOOK_POLL_INTERVAL_MS,
    failure: 'gmail watch renewal pass failed'
  })
  await app.register(pubsubRoutes, { mailboxEvents })
}, { name: 'gmail-push', dependencies: ['prisma', 'google', 'gmail', 'webhooks'] })
