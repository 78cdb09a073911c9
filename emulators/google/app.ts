import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { googleEndpointsAt } from '../../src/google/google-gateway.ts'
import { registerControlRoutes } from './control.ts'
import { registerMailbox } from './mailbox.ts'
import { consentPage, errorPage } from './pages.ts'
import { registerRiscRoutes } from './risc-routes.ts'
import {
  GMAIL_PROFILE_SCOPES, GoogleEmulatorState, ISSUER, OAuthError, REVOKED, SIGN_IN_SCOPES,
  type AuthParams, type Endpoint, type Fault, type StateOptions
} from './state.ts'

export interface GoogleEmulatorOptions extends StateOptions {
  logger?: FastifyServerOptions['logger']
  /** max-age of both certs endpoints; google-auth-library caches the keys that long (in real time). */
  certsMaxAgeSeconds?: number
}

export type GoogleEmulator = FastifyInstance & { googleEmulator: GoogleEmulatorState }

/** Parsed form or JSON body, or query: repeated form fields become arrays. */
export type Params = Record<string, unknown>

const ENDPOINTS: Record<string, Endpoint> = {
  '/o/oauth2/v2/auth': 'auth',
  '/o/oauth2/v2/auth/consent': 'auth',
  '/token': 'token',
  '/tokeninfo': 'tokeninfo',
  '/oauth2/v3/tokeninfo': 'tokeninfo',
  '/revoke': 'revoke',
  '/oauth2/v1/certs': 'certs',
  '/oauth2/v3/certs': 'certs',
  '/oauth2/v3/userinfo': 'userinfo',
  '/oauth2/v2/userinfo': 'userinfo',
  '/userinfo/v2/me': 'userinfo',
  '/gmail/v1/users/:userId/profile': 'gmail',
  '/gmail/v1/users/:userId/messages': 'gmail',
  '/gmail/v1/users/:userId/messages/:id': 'gmail',
  '/gmail/v1/users/:userId/watch': 'gmail',
  '/gmail/v1/users/:userId/stop': 'gmail',
  '/gmail/v1/users/:userId/history': 'gmail'
}

const AUTH_PARAMS = [
  'client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'code_challenge', 'code_challenge_method',
  'access_type', 'prompt', 'include_granted_scopes', 'login_hint', 'nonce'
] as const

const first = (value: unknown): string | undefined =>
  Array.isArray(value) ? first(value[0]) : typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined

const asParams = (value: unknown): Params => (typeof value === 'object' && value !== null ? value as Params : {})

/** From the body first, then the query string: Google accepts both on its token-ish endpoints. */
export const param = (request: FastifyRequest, name: string): string | undefined =>
  first(asParams(request.body)[name]) ?? first(asParams(request.query)[name])

const bearer = (request: FastifyRequest) => /^Bearer\s+(\S+)/i.exec(request.headers.authorization ?? '')?.[1]

const basicAuth = (request: FastifyRequest) => {
  const encoded = /^Basic\s+(\S+)/i.exec(request.headers.authorization ?? '')?.[1]
  if (!encoded) return undefined
  const [id = '', secret = ''] = Buffer.from(encoded, 'base64').toString().split(':')
  return { id: decodeURIComponent(id), secret: decodeURIComponent(secret) }
}

const parseForm = (body: string): Params => {
  const params: Record<string, string | string[]> = {}
  for (const [name, value] of new URLSearchParams(body)) {
    const prev = params[name]
    params[name] = prev === undefined ? value : [prev, value].flat()
  }
  return params
}

// Google APIs (Gmail, userinfo v2) wrap errors in this envelope; the OAuth endpoints use {error, error_description}.
const apiError = (code: number, status: string, message: string, error: Record<string, string>, extra: Params = {}) =>
  ({ error: { code, message, errors: [{ message: error.message ?? message, domain: 'global', ...error }], status, ...extra } })

const REALM = 'Bearer realm="https://accounts.google.com/"'

const unauthenticated = (reply: FastifyReply) => reply.code(401).header('www-authenticate', REALM).send(apiError(401, 'UNAUTHENTICATED',
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  { message: 'Invalid Credentials', reason: 'authError', location: 'Authorization', locationType: 'header' }))

const unavailable = (fault: Fault) => fault.status === 503
  ? { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } }
  : { error: { code: fault.status, message: 'Internal error encountered.', status: 'INTERNAL' } }

export const buildGoogleEmulator = (options: GoogleEmulatorOptions = {}): GoogleEmulator => {
  const state = new GoogleEmulatorState(options)
  const certsMaxAge = options.certsMaxAgeSeconds ?? 21_600
  const app: FastifyInstance = Fastify({ logger: options.logger ?? false })
  app.decorate('googleEmulator', state)

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, parseForm(String(body)))
  })

  // Requests held by a `timeout` fault: released (socket destroyed) on close, so app.close() never waits on them.
  const held = new Set<() => void>()
  const hold = (reply: FastifyReply, ms: number) => new Promise<boolean>(resolve => {
    const finish = (answer: boolean) => {
      clearTimeout(timer)
      reply.raw.off('close', gone)
      held.delete(release)
      resolve(answer)
    }
    const gone = () => finish(false)
    const release = () => { finish(false); reply.raw.destroy() }
    const timer = setTimeout(() => finish(true), ms)
    reply.raw.once('close', gone)
    held.add(release)
  })
  app.addHook('preClose', async () => {
    for (const release of [...held]) release()
  })

  app.addHook('preHandler', async (request, reply) => {
    const endpoint = ENDPOINTS[request.routeOptions.url ?? '']
    if (!endpoint) return
    const grantType = endpoint === 'token' ? param(request, 'grant_type') : undefined
    state.recordRequest(endpoint, grantType)
    const fault = state.takeFault(endpoint, grantType)
    if (!fault) return
    // Held first (a slow Google); `timeout` and `delay` are then answered normally, the others with their error.
    if (fault.delayMs > 0 && !(await hold(reply, fault.delayMs))) {
      reply.hijack()
      return
    }
    if (fault.kind === 'timeout' || fault.kind === 'delay') return
    if (fault.kind === 'invalid_grant') return reply.code(400).send({ error: 'invalid_grant', error_description: REVOKED })
    return reply.code(fault.status).send(unavailable(fault))
  })

  app.setErrorHandler<FastifyError | OAuthError>((error, request, reply) => {
    if (error instanceof OAuthError) {
      const page = ENDPOINTS[request.routeOptions.url ?? ''] === 'auth' && request.headers.accept?.includes('text/html')
      return page
        ? reply.code(error.status).type('text/html; charset=utf-8').send(errorPage(error))
        : reply.code(error.status).send(error.toJSON())
    }
    const status = error.statusCode ?? 500
    if (status >= 500) request.log.error(error)
    return reply.code(status).send({ error: status >= 500 ? 'internal_failure' : 'invalid_request', error_description: error.message })
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 404, message: `Not found: ${request.method} ${request.url}`, status: 'NOT_FOUND' } })
  })

  // ---- accounts.google.com ----

  const authParams = (source: Params, scopeField = 'scope'): AuthParams =>
    Object.fromEntries(AUTH_PARAMS.map(name => [name, first(source[name === 'scope' ? scopeField : name])]))

  app.get('/o/oauth2/v2/auth', async (request, reply) => {
    const params = authParams(asParams(request.query))
    const req = state.validateAuthRequest(params)
    if (req.prompt.includes('none')) return reply.redirect(state.authorizeSilently(req), 302)
    return reply.type('text/html; charset=utf-8').send(consentPage(req, params, [...state.users.values()], SIGN_IN_SCOPES))
  })

  app.post('/o/oauth2/v2/auth/consent', async (request, reply) => {
    const form = asParams(request.body)
    const req = state.validateAuthRequest(authParams(form, 'requested_scope'))
    if (first(form.action) !== 'allow') return reply.redirect(state.deny(req), 302)
    const account = first(form.account)
    if (!account) throw new OAuthError(400, 'invalid_request', 'Choose an account')
    const granted = [form.scope ?? []].flat().map(String)
    return reply.redirect(state.authorize(req, account, granted).redirect, 302)
  })

  app.get('/.well-known/openid-configuration', async request => {
    const base = `${request.protocol}://${request.host}`
    return {
      issuer: ISSUER,
      authorization_endpoint: `${base}/o/oauth2/v2/auth`,
      token_endpoint: `${base}/token`,
      userinfo_endpoint: `${base}/oauth2/v3/userinfo`,
      revocation_endpoint: `${base}/revoke`,
      jwks_uri: `${base}/oauth2/v3/certs`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token']
    }
  })

  // ---- oauth2.googleapis.com ----

  app.post('/token', async (request, reply) => {
    reply.header('cache-control', 'no-cache, no-store, max-age=0, must-revalidate').header('pragma', 'no-cache')
    const grantType = param(request, 'grant_type')
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new OAuthError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`)
    }
    const basic = basicAuth(request)
    const client = state.authenticateClient(param(request, 'client_id') ?? basic?.id, param(request, 'client_secret') ?? basic?.secret)
    return grantType === 'authorization_code'
      ? state.exchangeCode(client, { code: param(request, 'code'), redirectUri: param(request, 'redirect_uri'), codeVerifier: param(request, 'code_verifier') })
      : state.refresh(client, param(request, 'refresh_token'))
  })

  const tokeninfo = async (request: FastifyRequest) => {
    const idToken = param(request, 'id_token')
    if (idToken) return state.idTokenInfo(idToken)
    const accessToken = param(request, 'access_token') ?? bearer(request)
    if (!accessToken) throw new OAuthError(400, 'invalid_request', 'Either access_token or id_token is required')
    return state.accessTokenInfo(accessToken)
  }
  app.route({ method: ['GET', 'POST'], url: '/tokeninfo', handler: tokeninfo })
  app.route({ method: ['GET', 'POST'], url: '/oauth2/v3/tokeninfo', handler: tokeninfo })

  app.route({
    method: ['GET', 'POST'],
    url: '/revoke',
    handler: async request => {
      const token = param(request, 'token')
      if (!token) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: token')
      if (!state.revokeToken(token)) throw new OAuthError(400, 'invalid_token', 'Token expired or revoked')
      return {}
    }
  })

  // ---- www.googleapis.com ----

  const cacheable = (reply: FastifyReply) => reply.header('cache-control', `public, max-age=${certsMaxAge}, must-revalidate, no-transform`)
  app.get('/oauth2/v1/certs', async (_request, reply) => cacheable(reply).send(state.pemCertificates()))
  app.get('/oauth2/v3/certs', async (_request, reply) => cacheable(reply).send(state.jwks()))

  const accessToken = (request: FastifyRequest) => state.lookupAccessToken(bearer(request) ?? param(request, 'access_token'))

  app.route({
    method: ['GET', 'POST'],
    url: '/oauth2/v3/userinfo',
    handler: async (request, reply) => {
      const at = accessToken(request)
      // The OpenID userinfo endpoint answers in OAuth style, not in the Google API envelope.
      if (!at) return reply.code(401).header('www-authenticate', REALM).send({ error: 'invalid_request', error_description: 'Invalid Credentials' })
      return state.userinfo(at, 'v3')
    }
  })

  const userinfoV2 = async (request: FastifyRequest, reply: FastifyReply) => {
    const at = accessToken(request)
    return at ? state.userinfo(at, 'v2') : unauthenticated(reply)
  }
  app.get('/oauth2/v2/userinfo', userinfoV2)
  app.get('/userinfo/v2/me', userinfoV2)

  // ---- gmail.googleapis.com ----

  const insufficientScope = (reply: FastifyReply, method: string) => reply.code(403)
    .header('www-authenticate', `${REALM}, error="insufficient_scope", scope="${GMAIL_PROFILE_SCOPES.join(' ')}"`)
    .send(apiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.', { message: 'Insufficient Permission', reason: 'insufficientPermissions' }, {
      details: [{
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
        domain: 'googleapis.com',
        metadata: { service: 'gmail.googleapis.com', method }
      }]
    }))

  app.get('/gmail/v1/users/:userId/profile', async (request, reply) => {
    const at = accessToken(request)
    const user = at && state.users.get(at.sub)
    if (!at || !user) return unauthenticated(reply)
    // Granular consent: the token may well lack every Gmail scope.
    if (!at.scopes.some(s => GMAIL_PROFILE_SCOPES.includes(s))) return insufficientScope(reply, 'caribou.api.proto.MailboxService.GetProfile')
    const { userId } = request.params as { userId: string }
    if (userId !== 'me' && userId.toLowerCase() !== user.email.toLowerCase()) {
      const message = `Delegation denied for ${user.email}`
      return reply.code(403).send(apiError(403, 'PERMISSION_DENIED', message, { reason: 'forbidden' }))
    }
    return { emailAddress: user.email, messagesTotal: user.messagesTotal, threadsTotal: user.threadsTotal, historyId: user.historyId }
  })

  registerMailbox(app, {
    users: state.users, now: () => state.now(), accessToken, unauthenticated, insufficientScope, apiError, readScopes: GMAIL_PROFILE_SCOPES, push: state.push
  })
  app.addHook('onClose', async () => { state.push.close() })

  app.get('/', async () => ({
    emulator: 'Google OAuth 2.0 + Gmail (inboxgate)',
    endpoints: Object.keys(ENDPOINTS),
    control: '/__emulator/state',
    docs: 'emulators/google/README.md'
  }))

  registerControlRoutes(app, state)
  registerRiscRoutes(app, state)
  return app as GoogleEmulator
}

export interface RunningGoogleEmulator {
  app: GoogleEmulator
  state: GoogleEmulatorState
  /** Origin only, e.g. http://127.0.0.1:40123 (googleapis drops any path in rootUrl). */
  baseUrl: string
  close: () => Promise<void>
}

export const startGoogleEmulator = async (
  options: GoogleEmulatorOptions & { host?: string, port?: number } = {}
): Promise<RunningGoogleEmulator> => {
  const app = buildGoogleEmulator(options)
  const host = options.host ?? '127.0.0.1'
  await app.listen({ host, port: options.port ?? 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  return { app, state: app.googleEmulator, baseUrl, close: () => app.close() }
}

/** What our server hands google-auth-library's OAuth2Client and googleapis to talk to the emulator at `baseUrl`. */
export const googleClientOptions = (baseUrl: string) => ({
  endpoints: googleEndpointsAt(baseUrl),
  issuers: [ISSUER, 'accounts.google.com'],
  rootUrl: `${baseUrl}/`
})
