import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram } from 'prom-client'
import { WebhookDeliverer, type DeliveryOutcome } from './deliverer.ts'
import { WebhookEndpoints } from './endpoints.ts'

declare module 'fastify' {
  interface FastifyInstance {
    webhookEndpoints: WebhookEndpoints
    /** Null when WEBHOOK_DELIVERY_ENABLED=false (another process delivers). */
    webhookDeliverer: WebhookDeliverer | null
  }
}

const OUTCOMES: DeliveryOutcome[] = ['delivered', 'failed_attempt', 'gave_up', 'interrupted']

/**
 * Webhooks out: the endpoints operators register for service clients (`npm run admin -- create-webhook`) and the
 * deliverer every process runs (started when the app is ready, stopped before the database closes).
 */
export default fp(async (app) => {
  const c = app.config
  app.decorate('webhookEndpoints', new WebhookEndpoints({ prisma: app.prisma, clock: app.clock, production: c.PRODUCTION }))

  const registers = [app.metrics.registry]
  const deliveries = new Counter({ name: 'inboxgate_webhook_deliveries_total', help: 'Webhook delivery attempts by outcome (delivered, failed_attempt: retried later, gave_up, interrupted: shutdown)', labelNames: ['outcome'] as const, registers })
  for (const o of OUTCOMES) deliveries.inc({ outcome: o }, 0)
  const latency = new Histogram({ name: 'inboxgate_webhook_delivery_seconds', help: 'Time from sending a webhook to its answer (or failure)', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers })
  const prisma = app.prisma
  const clock = app.clock
  // Read at scrape time (one query each), so every process reports the same shared queue.
  new Gauge({ // eslint-disable-line no-new -- registered with the registry, read through it
    name: 'inboxgate_webhook_queue_depth',
    help: 'Webhook deliveries waiting (pending, including retries not yet due) plus events not yet fanned out',
    registers,
    async collect () {
      const [pending, undispatched] = await Promise.all([
        prisma.webhookDelivery.count({ where: { state: 'PENDING' } }),
        prisma.webhookEvent.count({ where: { dispatchedAt: null } })
      ])
      this.set(pending + undispatched)
    }
  })
  new Gauge({ // eslint-disable-line no-new -- registered with the registry, read through it
    name: 'inboxgate_webhook_oldest_pending_seconds',
    help: 'Age of the oldest webhook delivery still pending (0 when none)',
    registers,
    async collect () {
      const oldest = await prisma.webhookDelivery.findFirst({ where: { state: 'PENDING' }, orderBy: { createdAt: 'asc' }, select: { createdAt: true } })
      this.set(oldest == null ? 0 : Math.max(0, (clock.now().getTime() - oldest.createdAt.getTime()) / 1000))
    }
  })

  const deliverer = c.WEBHOOK_DELIVERY_ENABLED && app.backgroundJobs
    ? new WebhookDeliverer({
      prisma: app.prisma,
      clock: app.clock,
      log: app.log.child({ component: 'webhooks' }),
      auditLog: app.auditLog,
      options: {
        timeoutMs: c.WEBHOOK_TIMEOUT_MS,
        pollIntervalMs: c.WEBHOOK_POLL_INTERVAL_MS,
        concurrencyPerEndpoint: c.WEBHOOK_CONCURRENCY_PER_ENDPOINT,
        disableAfterMs: c.WEBHOOK_DISABLE_AFTER_SECONDS * 1000,
        production: c.PRODUCTION
      },
      metrics: { delivery: (outcome, seconds) => { deliveries.inc({ outcome }); latency.observe(seconds) } }
    })
    : null
  app.decorate('webhookDeliverer', deliverer)
  if (deliverer != null) {
    app.addHook('onReady', async () => { deliverer.start() })
    // preClose: before the database plugin's onClose.
    app.addHook('preClose', async () => { await deliverer.stop() })
  }
}, { name: 'webhooks', dependencies: ['prisma', 'metrics', 'audit-log'] })
