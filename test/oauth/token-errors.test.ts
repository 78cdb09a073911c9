import { test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { ALICE, buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'
import { signUp } from '../helper.ts'
import { authorizedClient, forUser, onBehalfOf, postToken, serviceTokenFor } from './helpers.ts'

// Issue 13: every error of POST /oauth/token, as RFC 6749 §5.2 JSON, never cached, never carrying a secret.

test('each error of the token endpoint', async (t) => {
  const ctx = await buildGmailApp(t, { env: { OAUTH_TOKEN_MAX_PER_CLIENT: '40' } })
  await connectWithTokens(ctx)
  const plain = await authorizedClient(ctx.app, [ctx.user.id], 'Plain')
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'Worker', true)
  const ok = onBehalfOf(await serviceTokenFor(ctx.app, ctx.user.accessToken, plain.clientId))

  const expect = async (name: string, res: Awaited<ReturnType<typeof postToken>>, status: number, error: string, extra: Record<string, string> = {}) => {
    t.equal(res.statusCode, status, `${name}: ${status}`)
    t.match(res.json(), { error, error_description: String, ...extra }, `${name}: ${error}`)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
    if (status === 401) t.match(res.headers['www-authenticate'], /^Basic /, `${name}: WWW-Authenticate`)
    t.notOk(res.body.includes('ya29') || res.body.includes('1//'), `${name}: no Google token`)
  }

  // invalid_client: no credentials, unknown client, wrong secret, revoked, a malformed Authorization header
  await expect('no client authentication', await postToken(ctx.app, null, ok), 401, 'invalid_client')
  await expect('unknown client', await postToken(ctx.app, { clientId: 'igc_nobody', clientSecret: plain.clientSecret }, ok), 401, 'invalid_client')
  await expect('wrong secret', await postToken(ctx.app, { ...plain, clientSecret: plain.clientSecret + 'x' }, ok), 401, 'invalid_client')
  await expect('wrong secret (post)', await postToken(ctx.app, { ...plain, clientSecret: 'igs_guess' }, ok, { auth: 'post' }), 401, 'invalid_client')
  await expect('bearer instead of basic', await postToken(ctx.app, null, ok, { headers: { authorization: `Bearer ${ctx.user.accessToken}` } }), 401, 'invalid_client')
  const revoked = await authorizedClient(ctx.app, [ctx.user.id], 'Revoked', true)
  t.equal((await postToken(ctx.app, revoked, forUser(ctx.user.id))).statusCode, 200, 'works before revocation')
  t.match(await runAdminCommand(ctx.app, ['revoke-service-client', revoked.clientId]), { clientId: revoked.clientId, revokedAt: Date })
  await expect('revoked client', await postToken(ctx.app, revoked, forUser(ctx.user.id)), 401, 'invalid_client')

  // invalid_request: missing or malformed parameters
  for (const name of ['grant_type', 'requested_token_type', 'subject_token', 'subject_token_type']) {
    const params: Record<string, string> = { ...ok }
    delete params[name]
    await expect(`missing ${name}`, await postToken(ctx.app, plain, params), 400, 'invalid_request')
  }
  await expect('another requested_token_type', await postToken(ctx.app, plain, { ...ok, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 400, 'invalid_request')
  await expect('another subject_token_type', await postToken(ctx.app, plain, { ...ok, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }), 400, 'invalid_request')
  const repeated = await ctx.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...ok, client_id: plain.clientId, client_secret: plain.clientSecret }).toString() + '&subject_token=x'
  })
  await expect('a repeated parameter', repeated, 400, 'invalid_request')
  const json = await ctx.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(ok) })
  await expect('JSON instead of a form', json, 400, 'invalid_request')
  const both = await postToken(ctx.app, plain, { ...ok, client_id: plain.clientId, client_secret: plain.clientSecret })
  await expect('two authentication methods', both, 400, 'invalid_request')

  // unsupported_grant_type
  await expect('refresh_token grant', await postToken(ctx.app, plain, { ...ok, grant_type: 'refresh_token' }), 400, 'unsupported_grant_type')

  // unauthorized_client: a non-worker client naming a user id
  await expect('user id from a non-worker', await postToken(ctx.app, plain, forUser(ctx.user.id)), 400, 'unauthorized_client')

  // invalid_grant: bad subject token, unknown user, and the Gmail states
  await expect('garbage subject token', await postToken(ctx.app, plain, onBehalfOf('not.a.jwt')), 400, 'invalid_grant')
  await expect('unknown user id', await postToken(ctx.app, worker, forUser('00000000-0000-4000-8000-000000000000')), 400, 'invalid_grant')
  await expect('malformed user id', await postToken(ctx.app, worker, forUser('alice')), 400, 'invalid_grant')
  const stranger = await signUp(ctx.app, 'NATIVE', 'nogmail@example.com')
  await ctx.app.serviceAuthorizations.authorize(stranger.user.id, plain.clientId, {})
  await ctx.app.serviceAuthorizations.authorize(stranger.user.id, worker.clientId, {})
  await expect('not connected', await postToken(ctx.app, plain, onBehalfOf(await serviceTokenFor(ctx.app, stranger.accessToken, plain.clientId))), 400, 'invalid_grant', { gmail_state: 'NOT_CONNECTED' })
  await expect('not connected (worker)', await postToken(ctx.app, worker, forUser(stranger.user.id)), 400, 'invalid_grant', { gmail_state: 'NOT_CONNECTED' })

  // invalid_scope
  await expect('a scope beyond the grant', await postToken(ctx.app, plain, { ...ok, scope: 'https://www.googleapis.com/auth/gmail.send' }), 400, 'invalid_scope')

  // per-client rate limit: the plain client has used some of its 40; the worker's own budget is separate
  let limited
  for (let i = 0; i < 45 && limited == null; i++) {
    const res = await postToken(ctx.app, plain, ok)
    if (res.statusCode === 429) limited = res
  }
  t.ok(limited, 'rate limited within the budget')
  if (limited != null) {
    await expect('rate limited', limited, 429, 'temporarily_unavailable')
    t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  }
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 200, 'another client is not limited')

  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_oauth_token_exchanges_total')
  t.match(metrics, /client="unauthenticated",outcome="invalid_client"\} [1-9]/)
  t.match(metrics, /client="Plain",outcome="unauthorized_client"\} 1/)
  const secrets = [plain.clientSecret, worker.clientSecret, revoked.clientSecret, ctx.user.accessToken]
  for (const s of secrets) t.notOk(ctx.logs.join('\n').includes(s), 'no secret in the logs')
})

test('RECONNECT_REQUIRED: a dead grant is an invalid_grant with its gmail_state', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'Worker', true)
  ctx.google.state.revokeUserAccess(ALICE.email)
  ctx.clock.advance(57 * 60_000)
  const res = await postToken(ctx.app, worker, forUser(ctx.user.id))
  t.equal(res.statusCode, 400)
  t.match(res.json(), { error: 'invalid_grant', gmail_state: 'RECONNECT_REQUIRED' })
})

test('service clients: created once with a secret kept only as a hash; listed without it', async (t) => {
  const ctx = await buildGmailApp(t)
  const created = await runAdminCommand(ctx.app, ['create-service-client', 'Nightly job', '--worker']) as { clientId: string, clientSecret: string }
  t.match(created, { clientId: /^igc_/, clientSecret: /^igs_[A-Za-z0-9_-]{43}$/ })
  const row = await ctx.app.prisma.serviceClient.findUnique({ where: { id: created.clientId } })
  t.match(row, { name: 'Nightly job', worker: true })
  t.notOk(JSON.stringify(row).includes(created.clientSecret), 'the secret is not stored')
  const listed = await runAdminCommand(ctx.app, ['list-service-clients'])
  t.match(listed, { clients: [{ clientId: created.clientId, name: 'Nightly job', worker: true, revokedAt: null }] })
  t.notOk(JSON.stringify(listed).includes(created.clientSecret) || JSON.stringify(listed).includes(row!.secretHash), 'never a secret or hash')
  await t.rejects(runAdminCommand(ctx.app, ['create-service-client']), { name: 'AdminError' })
  await t.rejects(runAdminCommand(ctx.app, ['revoke-service-client', 'igc_unknown']), { name: 'AdminError' })
})
