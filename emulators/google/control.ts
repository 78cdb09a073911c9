import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { OAuthError, type GoogleEmulatorState, type UserInput } from './state.ts'

// The emulator's own control API (not Google's): for tests, scripts and the dev-mode newcomer.

const scopeList = z.union([z.string(), z.array(z.string())])
const endpoint = z.enum(['auth', 'token', 'tokeninfo', 'revoke', 'userinfo', 'gmail', 'certs', '*'])

const clientSchema = z.object({
  id: z.string().min(1),
  secret: z.string().nullable().optional(),
  type: z.enum(['web', 'ios', 'android']).optional(),
  name: z.string().optional(),
  redirectUris: z.array(z.string()).optional(),
  testing: z.boolean().optional()
})

const userSchema = z.object({
  sub: z.string().min(1).optional(),
  email: z.string().min(3).optional(),
  emailVerified: z.boolean().optional(),
  name: z.string().optional(),
  givenName: z.string().optional(),
  familyName: z.string().optional(),
  picture: z.string().optional(),
  locale: z.string().optional(),
  hd: z.string().optional(),
  messagesTotal: z.number().int().nonnegative().optional(),
  threadsTotal: z.number().int().nonnegative().optional(),
  historyId: z.string().optional()
}).refine(u => u.sub ?? u.email, 'sub or email is required')

const authorizeSchema = z.object({
  client_id: z.string(),
  redirect_uri: z.string(),
  user: z.string(),
  /** Requested scopes (as in the auth URL); defaults to `scopes`. */
  scope: scopeList.optional(),
  /** Granted scopes (what the user left ticked); defaults to everything requested. */
  scopes: scopeList.optional(),
  state: z.string().optional(),
  code_challenge: z.string().optional(),
  code_challenge_method: z.string().optional(),
  nonce: z.string().optional(),
  access_type: z.enum(['online', 'offline']).optional(),
  prompt: z.string().optional(),
  include_granted_scopes: z.union([z.boolean(), z.string()]).optional(),
  login_hint: z.string().optional(),
  /** Press Cancel instead of Allow. */
  deny: z.boolean().optional()
}).refine(a => a.scope ?? a.scopes, 'scope or scopes is required')

const nativeSchema = z.object({
  client_id: z.string(),
  user: z.string(),
  scopes: scopeList.optional(),
  server_client_id: z.string().optional(),
  nonce: z.string().optional(),
  prompt: z.string().optional()
})

const idTokenSchema = z.object({
  user: z.string(),
  aud: z.string(),
  azp: z.string().optional(),
  scopes: z.array(z.string()).optional(),
  nonce: z.string().optional(),
  /** Claims over Google's (a future `iat`, a foreign `azp`); null leaves one out. */
  claims: z.record(z.string(), z.unknown()).optional()
})

const faultSchema = z.object({
  endpoint,
  kind: z.enum(['http5xx', 'timeout', 'invalid_grant', 'delay']),
  status: z.number().int().min(500).max(599).optional(),
  times: z.number().int().positive().optional(),
  delayMs: z.number().int().nonnegative().optional()
})

const advanceSchema = z.object({ ms: z.number().optional(), seconds: z.number().optional() })
  .refine(a => a.ms !== undefined || a.seconds !== undefined, 'ms or seconds is required')

const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
  const result = schema.safeParse(value ?? {})
  if (!result.success) throw new OAuthError(400, 'invalid_request', z.prettifyError(result.error))
  return result.data
}

const requireUser = (state: GoogleEmulatorState, ref: string) => {
  const user = state.findUser(ref)
  if (!user) throw new OAuthError(400, 'invalid_request', `Unknown user: ${ref}`)
  return user
}

const joined = (scopes: string | string[] | undefined) => Array.isArray(scopes) ? scopes.join(' ') : scopes

export const registerControlRoutes = (app: FastifyInstance, state: GoogleEmulatorState): void => {
  const p = '/__emulator'
  const clock = () => ({ now: state.now(), iso: new Date(state.now()).toISOString(), offsetMs: state.now() - Date.now() })

  app.get(`${p}/state`, async () => ({
    clock: clock(),
    accessTokenTtlSeconds: state.accessTokenTtlSeconds,
    clients: [...state.clients.values()],
    users: [...state.users.values()],
    kids: state.kids,
    faults: state.listFaults()
  }))

  app.get(`${p}/clients`, async () => [...state.clients.values()])
  app.post(`${p}/clients`, async request => state.upsertClient(parse(clientSchema, request.body)))
  app.get(`${p}/users`, async () => [...state.users.values()])
  app.post(`${p}/users`, async request => state.upsertUser(parse(userSchema, request.body) as UserInput))

  app.post(`${p}/users/:user/revoke`, async request => {
    const { client_id: clientId } = parse(z.object({ client_id: z.string().optional() }), request.body)
    return { revoked: state.revokeUserAccess((request.params as { user: string }).user, clientId) }
  })
  app.post(`${p}/users/:user/password-change`, async request =>
    ({ refreshTokensRevoked: state.passwordChange((request.params as { user: string }).user) }))

  app.get(`${p}/grants`, async request => {
    const { user, client_id: clientId } = parse(z.object({ user: z.string().optional(), client_id: z.string().optional() }), request.query)
    return state.grantsOf({ user, clientId })
  })

  app.get(`${p}/revocations`, async request => {
    const { user, client_id: clientId } = parse(z.object({ user: z.string().optional(), client_id: z.string().optional() }), request.query)
    return state.revocations({ user, clientId })
  })

  app.get(`${p}/clock`, async () => clock())
  app.post(`${p}/clock/advance`, async request => {
    const { ms, seconds } = parse(advanceSchema, request.body)
    state.advance(ms ?? (seconds ?? 0) * 1000)
    return clock()
  })

  app.get(`${p}/faults`, async () => state.listFaults())
  app.post(`${p}/faults`, async request => state.addFault(parse(faultSchema, request.body)))
  app.delete(`${p}/faults`, async request => {
    state.clearFaults(parse(z.object({ endpoint: endpoint.optional() }), request.query).endpoint)
    return state.listFaults()
  })

  app.get(`${p}/stats`, async () => state.stats())
  app.post(`${p}/reset-stats`, async () => {
    state.resetStats()
    return state.stats()
  })
  app.post(`${p}/reset`, async () => {
    state.reset()
    return { ok: true }
  })

  app.get(`${p}/keys`, async () => ({ kids: state.kids, signing: state.kids.at(-1) }))
  app.post(`${p}/keys/rotate`, async () => ({ kid: state.rotateKeys(), kids: state.kids }))
  app.delete(`${p}/keys/:kid`, async (request, reply) => {
    const removed = state.removeKey((request.params as { kid: string }).kid)
    return removed ? { kids: state.kids } : reply.code(404).send({ error: 'not_found', error_description: 'Unknown kid' })
  })

  // An ID token signed with the current key, with any claims: for testing a verifier's claims checks.
  app.post(`${p}/id-token`, async request => ({ idToken: state.mintIdToken(parse(idTokenSchema, request.body)) }))

  // Consent without a browser: same checks as the auth page, then the user's answer.
  app.post(`${p}/authorize`, async request => {
    const body = parse(authorizeSchema, request.body)
    const req = state.validateAuthRequest({
      ...body,
      scope: joined(body.scope ?? body.scopes),
      // Only S256 is allowed, so let scripts leave the method out.
      code_challenge_method: body.code_challenge ? body.code_challenge_method ?? 'S256' : body.code_challenge_method,
      include_granted_scopes: body.include_granted_scopes === undefined ? undefined : String(body.include_granted_scopes),
      response_type: 'code'
    })
    if (body.deny) return { redirect: state.deny(req) }
    const result = state.authorize(req, body.user, body.scopes)
    return { code: result.code, redirect: result.redirect, scope: result.scopes.join(' ') }
  })

  // Gmail push: where Pub/Sub delivers, a message arriving in a mailbox, history lost to age, the deliveries.
  app.post(`${p}/pubsub/subscription`, async request => {
    state.push.subscription = parse(z.object({
      endpoint: z.url(), audience: z.string().optional(), serviceAccountEmail: z.string().min(3), name: z.string().optional()
    }), request.body)
    return state.push.subscription
  })
  app.get(`${p}/pubsub/deliveries`, async () => ({ pending: state.push.pending, deliveries: state.push.deliveries }))
  app.post(`${p}/pubsub/redeliver`, async (request, reply) => {
    const { messageId } = parse(z.object({ messageId: z.string() }), request.body)
    return state.push.redeliver(messageId) ?? reply.code(404).send({ error: 'not_found', error_description: 'Unknown messageId' })
  })
  app.get(`${p}/gmail/watches`, async () => Object.fromEntries(state.push.watches))
  app.post(`${p}/gmail/deliver`, async request => {
    const body = parse(z.object({ user: z.string(), from: z.string().optional(), subject: z.string().optional(), body: z.string().optional() }), request.body)
    const { message, push } = state.push.deliver(requireUser(state, body.user), body)
    return { id: message.id, threadId: message.threadId, historyId: message.historyId, pushed: push?.messageId ?? null }
  })
  app.post(`${p}/gmail/expire-history`, async request => {
    const { user } = parse(z.object({ user: z.string() }), request.body)
    state.push.expireHistory(requireUser(state, user))
    return { ok: true }
  })

  app.post(`${p}/native-sign-in`, async request => {
    const body = parse(nativeSchema, request.body)
    return state.nativeSignIn({
      clientId: body.client_id,
      user: body.user,
      scopes: typeof body.scopes === 'string' ? body.scopes.split(/\s+/) : body.scopes,
      serverClientId: body.server_client_id,
      nonce: body.nonce,
      prompt: body.prompt
    })
  })
}
