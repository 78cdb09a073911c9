import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { PUSH_DELIVERY, RISC_EVENTS, RISC_ISSUER, type RiscEventName } from './risc.ts'
import { OAuthError, type GoogleEmulatorState } from './state.ts'

// RISC's discovery document and keys (accounts.google.com), its management API (risc.googleapis.com), and the
// emulator's control routes that make a user do what triggers an event.

const streamSchema = z.object({
  delivery: z.object({ delivery_method: z.literal(PUSH_DELIVERY), url: z.url() }),
  events_requested: z.array(z.string()).default([])
})

const eventSchema = z.object({
  type: z.enum(Object.keys(RISC_EVENTS) as [RiscEventName, ...RiscEventName[]]),
  /** The Google account (sub or email) for iss-sub events. */
  user: z.string().optional(),
  /** token-revoked: the refresh token, sent as its first 16 characters or its double SHA-512. */
  token: z.string().optional(),
  token_identifier_alg: z.enum(['prefix', 'hash_base64_sha512_sha512']).optional(),
  aud: z.string().optional(),
  reason: z.string().optional(),
  state: z.string().optional()
})

const googleError = (code: number, status: string, message: string) => ({ error: { code, message, status } })

export const registerRiscRoutes = (app: FastifyInstance, state: GoogleEmulatorState): void => {
  const risc = state.risc
  const base = (request: FastifyRequest) => `${request.protocol}://${request.host}`

  app.get('/.well-known/risc-configuration', async (request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return {
      issuer: RISC_ISSUER,
      jwks_uri: `${base(request)}/risc/jwks`,
      delivery_methods_supported: [PUSH_DELIVERY],
      add_subject_endpoint: `${base(request)}/v1beta/subjects:add`,
      remove_subject_endpoint: `${base(request)}/v1beta/subjects:remove`
    }
  })
  app.get('/risc/jwks', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return risc.jwks()
  })

  const authorised = (request: FastifyRequest) => risc.authenticate(request.headers.authorization)
  const unauthorised = { code: 401, body: googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.') }

  app.post('/v1beta/stream::update', async (request, reply) => {
    if (!authorised(request)) return reply.code(unauthorised.code).send(unauthorised.body)
    const parsed = streamSchema.safeParse(request.body)
    if (!parsed.success) return reply.code(400).send(googleError(400, 'INVALID_ARGUMENT', z.prettifyError(parsed.error)))
    risc.stream = { url: parsed.data.delivery.url, eventsRequested: parsed.data.events_requested }
    return {}
  })
  app.get('/v1beta/stream', async (request, reply) => {
    if (!authorised(request)) return reply.code(unauthorised.code).send(unauthorised.body)
    const s = risc.stream
    return s == null ? {} : { delivery: { delivery_method: PUSH_DELIVERY, url: s.url }, events_requested: s.eventsRequested }
  })
  app.post('/v1beta/stream::verify', async (request, reply) => {
    if (!authorised(request)) return reply.code(unauthorised.code).send(unauthorised.body)
    if (risc.stream == null) return reply.code(400).send(googleError(400, 'FAILED_PRECONDITION', 'No stream configured: call stream:update first'))
    const verifyState = z.object({ state: z.string().optional() }).safeParse(request.body ?? {})
    const aud = [...state.clients.values()].find(c => c.type === 'web')?.id ?? [...state.clients.keys()][0] ?? ''
    risc.push('verification', { subject_type: 'iss-sub', iss: RISC_ISSUER, sub: 'verification' }, aud, verifyState.success && verifyState.data.state != null ? { state: verifyState.data.state } : {})
    return {}
  })

  // ---- control API ----
  const p = '/__emulator'
  app.get(`${p}/risc/service-account`, async request => risc.serviceAccountKey(base(request)))
  app.get(`${p}/risc/deliveries`, async () => ({ stream: risc.stream ?? null, pending: risc.pending, deliveries: risc.deliveries }))
  const userParam = (request: FastifyRequest) => (request.params as { user: string }).user
  app.post(`${p}/users/:user/sign-out-everywhere`, async request => ({ jti: state.accountEvent(userParam(request), 'sessions-revoked') ?? null }))
  app.post(`${p}/users/:user/hijacked`, async request => ({ jti: state.accountEvent(userParam(request), 'account-disabled', { reason: 'hijacking' }) ?? null }))
  app.post(`${p}/users/:user/disabled`, async request => ({ jti: state.accountEvent(userParam(request), 'account-disabled') ?? null }))
  app.post(`${p}/users/:user/enabled`, async request => ({ jti: state.accountEvent(userParam(request), 'account-enabled') ?? null }))
  app.post(`${p}/users/:user/credential-change-required`, async request =>
    ({ jti: state.accountEvent(userParam(request), 'account-credential-change-required') ?? null }))

  // Any event, shaped by the caller (token-revoked needs the token the test holds).
  app.post(`${p}/risc/events`, async request => {
    const parsed = eventSchema.safeParse(request.body ?? {})
    if (!parsed.success) throw new OAuthError(400, 'invalid_request', z.prettifyError(parsed.error))
    const e = parsed.data
    const aud = e.aud ?? [...state.clients.values()].find(c => c.type === 'web')?.id ?? ''
    if (e.type === 'token-revoked') {
      if (e.token == null) throw new OAuthError(400, 'invalid_request', 'token is required for token-revoked')
      const alg = e.token_identifier_alg ?? 'prefix'
      const subject = { subject_type: 'oauth_token', token_type: 'refresh_token', token_identifier_alg: alg, token: alg === 'prefix' ? e.token.slice(0, 16) : doubleSha512(e.token) }
      return { jti: risc.push('token-revoked', subject, aud)?.jti ?? null }
    }
    const sub = e.user != null ? state.findUser(e.user)?.sub ?? e.user : 'unknown'
    const extra = { ...(e.reason != null ? { reason: e.reason } : {}), ...(e.state != null ? { state: e.state } : {}) }
    return { jti: risc.push(e.type, state.riscSubject(sub), aud, extra)?.jti ?? null }
  })

  app.addHook('onClose', async () => { risc.close() })
}

function doubleSha512 (token: string): string {
  return createHash('sha512').update(createHash('sha512').update(token).digest()).digest('base64')
}
