import nodemailer from 'nodemailer'

/** One message as the outbox hands it over: plain text and HTML, to one recipient. */
export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
}

export interface MailTransport {
  send (message: MailMessage): Promise<void>
  close (): void
}

/**
 * Why a send failed, as a short code that is safe to store and log: the SMTP reply code (`SMTP_421`) or the
 * socket/library code (`ECONNREFUSED`, `ETIMEDOUT`). Never the error's message: a server's reply can quote the
 * message, and the message carries a single-use link.
 */
export function mailErrorCode (err: unknown): string {
  const e = err as { responseCode?: unknown, code?: unknown }
  if (typeof e?.responseCode === 'number') return `SMTP_${e.responseCode}`
  if (typeof e?.code === 'string' && /^[A-Z_]{2,40}$/.test(e.code)) return e.code
  return 'UNKNOWN'
}

/**
 * SMTP through nodemailer. smtps:// is TLS from the first byte; smtp:// upgrades with STARTTLS whenever the server
 * offers it. Timeouts are short: the outbox retries, so a slow server costs a retry, not a stuck worker.
 */
export function smtpTransport (url: string, from: string): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    // nodemailer's own logger would print the message, link included.
    logger: false,
    debug: false
  })
  return {
    async send (message) {
      await transporter.sendMail({ from, ...message })
    },
    close () {
      transporter.close()
    }
  }
}
