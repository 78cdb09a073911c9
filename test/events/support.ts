import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import type { BuildOptions } from '../helper.ts'
import { buildGmailApp, type GmailTestContext } from '../gmail/helpers.ts'
import type { ManualClock } from '../../src/clock.ts'
import type { RunningGoogleEmulator } from '../../emulators/google/app.ts'

interface Teardown { teardown (fn: () => unknown): void }

export const TOPIC = 'projects/inboxgate-test/topics/gmail-push'
export const PUSH_SA = 'gmail-push@inboxgate-test.iam.gserviceaccount.com'
export const AUDIENCE = 'https://inboxgate.test/google/pubsub'

export interface ReceivedWebhook {
  id: string
  headers: IncomingHttpHeaders
  raw: string
  body: { type: string, timestamp: string, data: Record<string, unknown> }
}

/**
 * A backend's webhook endpoint: verifies each delivery with the `standardwebhooks` package (as the docs tell
 * backends to) and answers with the next status of `statuses` (then 204). `down()` refuses connections.
 */
export async function webhookReceiver (t: Teardown, statuses: number[] = []) {
  const received: ReceivedWebhook[] = []
  const rejected: string[] = []
  let secret: string | undefined
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => { raw += String(c) })
    req.on('end', () => {
      try {
        const body = new Webhook(secret!).verify(raw, req.headers as Record<string, string>) as ReceivedWebhook['body']
        received.push({ id: String(req.headers['webhook-id']), headers: req.headers, raw, body })
        res.statusCode = statuses.shift() ?? 204
      } catch (err) {
        rejected.push((err as Error).message)
        res.statusCode = 400
      }
      res.end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    rejected,
    useSecret (s: string) { secret = s },
    /** The statuses the next requests get (then 204). */
    answer (next: number[]) { statuses.splice(0, statuses.length, ...next) },
    ofType (type: string) { return received.filter((r) => r.body.type === type) }
  }
}

export interface PushContext extends GmailTestContext {
  /** Where the app listens (the Pub/Sub push endpoint is `${url}/google/pubsub`). */
  url: string
}

/** The Gmail test app with Gmail push on, listening on loopback, the emulator's Pub/Sub subscription pointed at it. */
export async function buildPushApp (t: Teardown, opts: BuildOptions & { google?: RunningGoogleEmulator, clock?: ManualClock } = {}): Promise<PushContext> {
  const ctx = await buildGmailApp(t, {
    ...opts,
    env: {
      GMAIL_PUSH_TOPIC: TOPIC,
      GMAIL_PUSH_SERVICE_ACCOUNT: PUSH_SA,
      GMAIL_PUSH_AUDIENCE: AUDIENCE,
      WEBHOOK_POLL_INTERVAL_MS: '25',
      WEBHOOK_TIMEOUT_MS: '30000',
      GOOGLE_TIMEOUT_MS: '15000',
      ...opts.env
    }
  })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  ctx.google.state.push.subscription = { endpoint: `${url}/google/pubsub`, audience: AUDIENCE, serviceAccountEmail: PUSH_SA }
  return { ...ctx, url }
}
