import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'

/** A mail as the catcher received it, parsed (mailparser): what a mailbox would show. */
export interface CaughtMail {
  id: number
  receivedAt: string
  from: string
  to: string[]
  subject: string
  text: string
  html: string
}

export interface MailCatcherOptions {
  host?: string
  /** The SMTP port (0: any free one). */
  smtpPort?: number
  /** The HTTP control port (0: any free one). */
  controlPort?: number
}

export interface RunningMailCatcher {
  /** smtp://host:port, for SMTP_URL. */
  smtpUrl: string
  /** The control API's origin: GET /__emulator/messages, DELETE /__emulator/messages, POST /__emulator/faults. */
  controlUrl: string
  messages: CaughtMail[]
  /** `down`: every connection is answered 421 (service not available), as a mail server in an outage. */
  setFault (fault: 'down' | null): void
  /** The next mail to `to` (already received or still to come), or a rejection after `timeoutMs`. */
  waitFor (to: string, timeoutMs?: number): Promise<CaughtMail>
  close (): Promise<void>
}

const MAX_MESSAGES = 1000

/**
 * An SMTP sink for development and tests (like MailHog or Mailpit, in-process): a real SMTP server (smtp-server)
 * that accepts any sender and recipient without TLS or authentication, keeps what it receives in memory, parsed
 * (mailparser), and shows it on an HTTP control API. Not a relay: nothing leaves the machine.
 */
export async function startMailCatcher (opts: MailCatcherOptions = {}): Promise<RunningMailCatcher> {
  const host = opts.host ?? '127.0.0.1'
  const messages: CaughtMail[] = []
  const waiters: Array<{ to: string, resolve: (m: CaughtMail) => void }> = []
  let fault: 'down' | null = null
  let nextId = 1

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 1024 * 1024,
    onConnect (_session, callback) {
      if (fault === 'down') {
        const err = Object.assign(new Error('Service not available (emulated outage)'), { responseCode: 421 })
        callback(err); return
      }
      callback()
    },
    onData (stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        const mail: CaughtMail = {
          id: nextId++,
          receivedAt: new Date().toISOString(),
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
          html: typeof parsed.html === 'string' ? parsed.html : ''
        }
        messages.push(mail)
        if (messages.length > MAX_MESSAGES) messages.shift()
        for (const w of [...waiters]) {
          if (mail.to.includes(w.to)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(mail)
          }
        }
        callback()
      }, (err: unknown) => { callback(err as Error) })
    }
  })
  await new Promise<void>((resolve, reject) => {
    smtp.once('error', reject)
    smtp.listen(opts.smtpPort ?? 0, host, () => { smtp.off('error', reject); resolve() })
  })
  const smtpPort = (smtp.server.address() as AddressInfo).port

  const control: FastifyInstance = Fastify({ logger: false })
  control.get<{ Querystring: { to?: string } }>('/__emulator/messages', async (request) => {
    const to = request.query.to?.toLowerCase()
    return { messages: to == null ? messages : messages.filter((m) => m.to.includes(to)) }
  })
  control.delete('/__emulator/messages', async () => {
    messages.length = 0
    return { ok: true }
  })
  control.post<{ Body: { smtp?: 'down' | 'up' } }>('/__emulator/faults', async (request, reply) => {
    const wanted = request.body?.smtp
    if (wanted !== 'down' && wanted !== 'up') return await reply.code(400).send({ error: 'send {"smtp":"down"} or {"smtp":"up"}' })
    fault = wanted === 'down' ? 'down' : null
    return { smtp: wanted }
  })
  const controlUrl = await control.listen({ host, port: opts.controlPort ?? 0 })

  return {
    smtpUrl: `smtp://${host}:${smtpPort}`,
    controlUrl,
    messages,
    setFault (f) { fault = f },
    async waitFor (to, timeoutMs = 10_000) {
      const address = to.toLowerCase()
      const had = messages.find((m) => m.to.includes(address))
      if (had != null) return had
      return await new Promise<CaughtMail>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1)
          reject(new Error(`no mail to ${to} within ${timeoutMs} ms`))
        }, timeoutMs)
        const waiter = { to: address, resolve: (m: CaughtMail) => { clearTimeout(timer); resolve(m) } }
        waiters.push(waiter)
      })
    },
    async close () {
      await control.close()
      await new Promise<void>((resolve) => smtp.close(() => resolve()))
    }
  }
}
