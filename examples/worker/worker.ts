// `npm run example:worker -- [userId]` or `-- --listen <port>`: a background job of an app's backend. It exchanges its service-client
// credentials and a user id for the user's Gmail access token at inboxgate (POST /oauth/token, RFC 8693), then
// lists the user's recent messages with googleapis. It never sees, stores or logs a refresh token, and it keeps
// the access token only for this run: asking inboxgate again is cheap (a fresh token is served from memory).
//
// Environment: INBOXGATE_URL (default http://127.0.0.1:4000), INBOXGATE_CLIENT_ID, INBOXGATE_CLIENT_SECRET
// (from `npm run admin -- create-service-client <name> --worker`), INBOXGATE_USER_ID (or the first argument: a user
// who authorized this client in the app with `authorizeService(clientId)`; docs/workers.md),
// GMAIL_API_URL (default: Google; `npm run dev`'s emulator is http://127.0.0.1:4001), MAX_MESSAGES (default 5).
// With `--listen <port>` it registers nothing itself but receives inboxgate's webhooks there (INBOXGATE_WEBHOOK_SECRET,
// from `npm run admin -- create-webhook`), and for each new message exchanges for a token and prints its subject.
import { OAuth2Client } from 'google-auth-library'
// Only the Gmail API: `googleapis` as a whole loads ~300 API clients.
import { gmail } from 'googleapis/build/src/apis/gmail/index.js'
import { listen } from './webhooks.ts'

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const GOOGLE_ACCESS_TOKEN = 'urn:inboxgate:params:oauth:token-type:google-access-token'
const USER_ID = 'urn:inboxgate:params:oauth:token-type:user-id'

interface Exchanged { access_token: string, expires_in: number, scope: string }

class ExchangeError extends Error {
  constructor (readonly status: number, readonly body: { error?: string, error_description?: string, gmail_state?: string }, readonly retryAfter: number | null) {
    super(`${status} ${body.error ?? 'error'}: ${body.error_description ?? ''}${body.gmail_state != null ? ` (gmail_state ${body.gmail_state})` : ''}`)
  }
}

function setting (name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback
  if (value == null || value === '') throw new Error(`${name} is required (see examples/worker/worker.ts)`)
  return value
}

async function exchange (base: string, clientId: string, clientSecret: string, userId: string): Promise<Exchanged> {
  const response = await fetch(new URL('/oauth/token', base), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      // client_secret_basic: the id and secret are form-encoded before base64 (RFC 6749 §2.3.1).
      authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')
    },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, requested_token_type: GOOGLE_ACCESS_TOKEN, subject_token: userId, subject_token_type: USER_ID })
  })
  const body = await response.json() as Exchanged & ExchangeError['body']
  if (response.ok) return body
  const retryAfter = response.headers.get('retry-after')
  throw new ExchangeError(response.status, body, retryAfter != null ? Number(retryAfter) : null)
}

/** temporarily_unavailable (Google or the vault down, or this client's rate limit): wait as told, a few times. */
async function exchangeWithRetry (...args: Parameters<typeof exchange>): Promise<Exchanged> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await exchange(...args)
    } catch (err) {
      if (!(err instanceof ExchangeError) || err.body.error !== 'temporarily_unavailable' || attempt >= 3) throw err
      const wait = Math.min(err.retryAfter ?? 5, 30)
      process.stderr.write(`inboxgate is temporarily unavailable; retrying in ${wait} s\n`)
      await new Promise((resolve) => setTimeout(resolve, wait * 1000))
    }
  }
}

function mailbox (accessToken: string) {
  const auth = new OAuth2Client()
  auth.setCredentials({ access_token: accessToken })
  const rootUrl = process.env.GMAIL_API_URL != null ? new URL('/', process.env.GMAIL_API_URL).href : undefined
  return gmail({ version: 'v1', auth, ...(rootUrl != null ? { rootUrl } : {}) })
}

/** `--listen <port>`: new mail arrives as a webhook; the job reads just that message (ids only in the webhook). */
function listenForMail (port: number): Promise<number> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('--listen needs a port number')
  const base = setting('INBOXGATE_URL', 'http://127.0.0.1:4000')
  const clientId = setting('INBOXGATE_CLIENT_ID')
  const clientSecret = setting('INBOXGATE_CLIENT_SECRET')
  listen(port, setting('INBOXGATE_WEBHOOK_SECRET'), async (event, id) => {
    process.stdout.write(`${event.type} ${id} for user ${String(event.data.userId)}\n`)
    if (event.type !== 'gmail.message.added') return
    const token = await exchangeWithRetry(base, clientId, clientSecret, String(event.data.userId))
    const m = await mailbox(token.access_token).users.messages.get({ userId: 'me', id: String(event.data.messageId), format: 'metadata', metadataHeaders: ['Subject'] })
    process.stdout.write(`  new message: ${m.data.payload?.headers?.find((h) => h.name === 'Subject')?.value ?? '(no subject)'}\n`)
  })
  return new Promise(() => {})
}

async function main (): Promise<number> {
  const listenAt = process.argv.indexOf('--listen')
  if (listenAt >= 0) return await listenForMail(Number(process.argv[listenAt + 1] ?? 'NaN'))
  const base = setting('INBOXGATE_URL', 'http://127.0.0.1:4000')
  const userId = setting('INBOXGATE_USER_ID', process.argv[2])
  const token = await exchangeWithRetry(base, setting('INBOXGATE_CLIENT_ID'), setting('INBOXGATE_CLIENT_SECRET'), userId)
  process.stderr.write(`got a Gmail access token for ${userId}, valid ${token.expires_in} s (never printed)\n`)

  const mail = mailbox(token.access_token)
  const max = Number(process.env.MAX_MESSAGES ?? 5)
  const list = await mail.users.messages.list({ userId: 'me', maxResults: max })
  const messages = list.data.messages ?? []
  process.stdout.write(`${messages.length} recent messages (about ${list.data.resultSizeEstimate ?? 0} in all):\n`)
  for (const { id } of messages) {
    const m = await mail.users.messages.get({ userId: 'me', id: id!, format: 'metadata', metadataHeaders: ['From', 'Subject', 'Date'] })
    const header = (name: string) => m.data.payload?.headers?.find((h) => h.name === name)?.value ?? ''
    process.stdout.write(`- ${new Date(Number(m.data.internalDate)).toISOString().slice(0, 10)}  ${header('From')}\n    ${header('Subject')}\n`)
  }
  return 0
}

main().then((code) => process.exit(code), (err) => {
  if (err instanceof ExchangeError && err.body.error === 'invalid_grant' && err.body.gmail_state == null) {
    // No authorization (never given, or revoked): this user has not let this job read their mail.
    process.stderr.write(`${err.message}: the user has not authorized this client (authorizeService); this job skips them\n`)
  } else if (err instanceof ExchangeError && err.body.error === 'invalid_grant' && err.body.gmail_state != null) {
    process.stderr.write(`the user's Gmail is ${err.body.gmail_state}: they must connect Gmail in the app; this job skips them\n`)
    process.exit(2)
  }
  // googleapis errors carry the request config (with the Authorization header): print the message only.
  process.stderr.write(`worker failed: ${(err as Error).message}\n`)
  process.exit(1)
})
