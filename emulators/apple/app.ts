import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { AppleEmulatorState, AppleError, ISSUER, type AppleEmulatorOptions } from './state.ts'

/*
 * A stand-in for Sign in with Apple at Apple's paths (APPLE_API_BASE_URL points here): the keys, the authorize
 * page with its form_post answer, the token endpoint that checks the client-secret JWT, and control routes that
 * mint ID tokens for native apps and push server-to-server notifications. See README.md.
 */

export interface AppleEmulatorAppOptions extends AppleEmulatorOptions {
  logger?: FastifyServerOptions['logger']
}

export type AppleEmulator = FastifyInstance & { appleEmulator: AppleEmulatorState }

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
type Body = Record<string, unknown>

function page (title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.4rem 0}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`
}

/** Apple answers a form_post flow with a page that posts a form to the redirect URI (the callback is a POST). */
function formPost (action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('')
  return page('Signing in…', `<form id="apple-form-post" method="post" action="${escapeHtml(action)}">${inputs}<button id="continue">Continue</button></form>
<script>document.getElementById('apple-form-post').submit()</script>`)
}

export function buildAppleEmulator (options: AppleEmulatorAppOptions): AppleEmulator {
  const app = Fastify({ logger: options.logger ?? false }) as unknown as AppleEmulator
  const state = new AppleEmulatorState(options)
  app.decorate('appleEmulator', state)
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))))
  })
  app.setErrorHandler((err, _request, reply) => {
    if (err instanceof AppleError) return reply.code(err.status).send({ error: err.error })
    return reply.code((err as { statusCode?: number }).statusCode ?? 500).send({ error: 'invalid_request' })
  })

  app.get('/auth/keys', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=86400')
    return state.jwks()
  })

  app.get('/.well-known/openid-configuration', async () => ({ issuer: ISSUER, jwks_uri: '/auth/keys', authorization_endpoint: '/auth/authorize', token_endpoint: '/auth/token' }))

  /** The authorize page. As Apple: unknown client or redirect URI is an error page (never a redirect). */
  app.get<{ Querystring: Record<string, string | undefined> }>('/auth/authorize', async (request, reply) => {
    const q = request.query
    const client = q.client_id != null ? state.clients.get(q.client_id) : undefined
    if (client == null) return reply.code(400).type('text/html').send(page('invalid_client', '<p id="error-code">invalid_client</p>'))
    if (q.redirect_uri == null || !client.redirectUris.includes(q.redirect_uri)) return reply.code(400).type('text/html').send(page('invalid_request', '<p id="error-code">invalid_request: redirect_uri</p>'))
    // Apple's rule: asking for name or email needs response_mode=form_post.
    if ((q.scope ?? '') !== '' && q.response_mode !== 'form_post') return reply.code(400).type('text/html').send(page('invalid_request', '<p id="error-code">invalid_request: response_mode must be form_post when scope is requested</p>'))
    const hidden = ['client_id', 'redirect_uri', 'state', 'nonce', 'scope', 'response_type'].map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q[k] ?? '')}">`).join('')
    const accounts = [...state.users.values()].map((u, i) => `<label><input type="radio" name="email" id="account-${i}" value="${escapeHtml(u.email)}"${i === 0 ? ' checked' : ''}> ${escapeHtml(u.email)}</label>`).join('')
    return reply.type('text/html').send(page('Sign in with Apple (emulator)', `<form method="post" action="/auth/authorize/consent">${hidden}${accounts}
<label><input type="checkbox" name="hide_email" id="hide-email" value="1"> Hide My Email (private relay)</label>
<label>First name <input name="first_name" id="first-name"></label><label>Last name <input name="last_name" id="last-name"></label>
<button id="allow" name="decision" value="allow">Continue</button> <button id="deny" name="decision" value="deny">Cancel</button></form>`))
  })

  app.post<{ Body: Body }>('/auth/authorize/consent', async (request, reply) => {
    const b = request.body ?? {}
    const clientId = str(b.client_id) ?? ''
    const redirectUri = str(b.redirect_uri) ?? ''
    const client = state.clients.get(clientId)
    if (client == null || !client.redirectUris.includes(redirectUri)) return reply.code(400).send({ error: 'invalid_request' })
    const st = str(b.state) ?? ''
    if (b.decision !== 'allow') return reply.type('text/html').send(formPost(redirectUri, { error: 'user_cancelled_authorize', state: st }))
    const hideEmail = b.hide_email === '1'
    const nonce = str(b.nonce) === '' ? undefined : str(b.nonce)
    const { code, firstTime, account } = state.authorize({ clientId, redirectUri, email: str(b.email) ?? 'alice@example.com', nonce, hideEmail })
    const fields: Record<string, string> = { state: st, code }
    if ((str(b.response_type) ?? '').includes('id_token')) fields.id_token = await state.idToken({ account, aud: clientId, nonce, hideEmail })
    // The user's name only on the first authorization for this client, and only as this form field (never in a token).
    if (firstTime && (str(b.scope) ?? '') !== '') {
      fields.user = JSON.stringify({
        name: { firstName: str(b.first_name) || account.firstName, lastName: str(b.last_name) || account.lastName },
        email: hideEmail ? account.relayEmail : account.email
      })
    }
    return reply.type('text/html').send(formPost(redirectUri, fields))
  })

  app.post<{ Body: Body }>('/auth/token', async (request) => {
    const b = request.body ?? {}
    return await state.exchange({ grantType: str(b.grant_type), clientId: str(b.client_id), clientSecret: str(b.client_secret), code: str(b.code), redirectUri: str(b.redirect_uri) })
  })

  // Control: what the iOS app would get from ASAuthorizationAppleIDProvider (nonce: the SHA-256 the app sent Apple).
  app.post<{ Body: Body }>('/__emulator/id-token', async (request) => {
    const b = request.body ?? {}
    const account = state.addUser(str(b.email) ?? 'alice@example.com')
    const clientId = str(b.client_id) ?? [...state.clients.keys()][0] ?? ''
    const claims = typeof b.claims === 'object' && b.claims !== null ? b.claims as Record<string, unknown> : undefined
    const idToken = await state.idToken({ account, aud: clientId, nonce: str(b.nonce), hideEmail: b.hide_email === true, ...(claims != null ? { claims } : {}) })
    return { idToken, sub: account.sub, email: b.hide_email === true ? account.relayEmail : account.email }
  })

  // Control: Apple's server-to-server notification, delivered to `url` (or the configured one) as Apple posts it.
  app.post<{ Body: Body }>('/__emulator/notify', async (request, reply) => {
    const b = request.body ?? {}
    const account = str(b.sub) != null ? state.accountBySub(str(b.sub)!) : state.users.get(str(b.email) ?? '')
    if (account == null) return reply.code(404).send({ error: 'unknown account' })
    const url = str(b.url) ?? state.notificationUrl
    const clientId = str(b.client_id) ?? [...state.clients.keys()][0] ?? ''
    const payload = await state.notification({ type: str(b.type) ?? 'consent-revoked', account, clientId, ...(typeof b.event_time === 'number' ? { eventTimeMs: b.event_time } : {}) })
    if (url == null) return { delivered: false, payload }
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payload }) })
    return { delivered: res.ok, status: res.status, payload }
  })

  app.get('/__emulator/state', async () => ({
    users: [...state.users.values()].map((u) => ({ email: u.email, sub: u.sub, relayEmail: u.relayEmail })),
    clients: [...state.clients.values()],
    developer: { teamId: state.developer.teamId, keyId: state.developer.keyId },
    notificationUrl: state.notificationUrl ?? null
  }))

  return app
}

export interface RunningAppleEmulator { app: AppleEmulator, state: AppleEmulatorState, baseUrl: string, close: () => Promise<void> }

export async function startAppleEmulator (options: AppleEmulatorAppOptions & { host?: string, port?: number }): Promise<RunningAppleEmulator> {
  const app = buildAppleEmulator(options)
  const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
  return { app, state: app.appleEmulator, baseUrl: new URL(address).origin, close: async () => { await app.close() } }
}
