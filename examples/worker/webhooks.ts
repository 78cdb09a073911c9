import { createServer } from 'node:http'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'

// The receiving end of inboxgate's webhooks (Standard Webhooks 1.0): verify the signature and timestamp with the
// `standardwebhooks` package on the raw body, answer 2xx fast, and treat `webhook-id` as the idempotency key —
// the same event can arrive twice (at least once delivery), and events may arrive out of order.

export interface MailboxEvent { type: string, timestamp: string, data: Record<string, unknown> }

export function listen (port: number, secret: string, onEvent: (event: MailboxEvent, id: string) => Promise<void>) {
  const verifier = new Webhook(secret)
  const seen = new Set<string>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let event: MailboxEvent
      try {
        event = verifier.verify(Buffer.concat(chunks), req.headers as Record<string, string>) as MailboxEvent
      } catch (err) {
        res.statusCode = err instanceof WebhookVerificationError ? 401 : 400
        res.end()
        return
      }
      const id = String(req.headers['webhook-id'])
      res.statusCode = 204
      res.end()
      if (seen.has(id)) return
      seen.add(id)
      onEvent(event, id).catch((err: unknown) => process.stderr.write(`handling ${id} failed: ${(err as Error).message}\n`))
    })
  })
  server.listen(port, '127.0.0.1', () => process.stderr.write(`listening for inboxgate webhooks on http://127.0.0.1:${port}\n`))
  return server
}
