import { test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'
import { gql, PASSWORD } from '../helper.ts'
import {
  AuthorizeServiceDocument, LogoutDocument, MeDocument, RevokeServiceAuthorizationDocument, SecurityEventsDocument,
  ServiceAuthorizationsDocument, ServiceTokenDocument
} from '../support/generated/graphql.ts'
import { authorizedClient, forUser, onBehalfOf, postToken, serviceTokenFor } from './helpers.ts'

// Issue 21 items 1 and 2: one audience per token; clients act only for users who authorized them.

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

test('an API access token is refused as subject_token (invalid_grant naming the service token)', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const client = await authorizedClient(ctx.app, [ctx.user.id], 'Backend')
  const res = await postToken(ctx.app, client, onBehalfOf(ctx.user.accessToken))
  t.equal(res.statusCode, 400, 'refused (200 before: the API token owned the account from the backend)')
  t.match(res.json(), { error: 'invalid_grant', error_description: /serviceToken/ })
})

test('serviceToken: ≤ 5 minutes, aud = the client, only that client, refused by GraphQL, dead with the session', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const client = await authorizedClient(ctx.app, [ctx.user.id], 'Backend')
  const other = await authorizedClient(ctx.app, [ctx.user.id], 'Other')
  const res = await gql(ctx.app, ServiceTokenDocument, { clientId: client.clientId }, { token: ctx.user.accessToken })
  t.match(res.data?.serviceToken, { client: { id: client.clientId, name: 'Backend' }, expiresAt: String })
  const token = res.data!.serviceToken.token
  const claims = claimsOf(token)
  t.equal(claims.aud, client.clientId, 'aud is the service client')
  t.ok(Number(claims.exp) - Number(claims.iat) <= 300, 'at most 5 minutes')
  t.equal(claims.sub, ctx.user.id)

  const me = await gql(ctx.app, MeDocument, {}, { token })
  t.equal(me.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'GraphQL refuses a service token')
  t.match((await postToken(ctx.app, other, onBehalfOf(token))).json(), { error: 'invalid_grant' }, 'another client cannot use it')
  t.equal((await postToken(ctx.app, client, onBehalfOf(token))).statusCode, 200, 'its own client can')
  await gql(ctx.app, LogoutDocument, {}, { token: ctx.user.accessToken })
  t.match((await postToken(ctx.app, client, onBehalfOf(token))).json(), { error: 'invalid_grant' }, 'dead with its session')
})

test('authorize, list, revoke: SERVICE_NOT_AUTHORIZED without consent; revoking stops the next exchange', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const client = await ctx.app.serviceClients.create('Tracker', true)
  const auth = { token: ctx.user.accessToken }
  const refused = await gql(ctx.app, ServiceTokenDocument, { clientId: client.clientId }, auth)
  t.match(refused.errors?.[0]?.extensions, { code: 'FORBIDDEN', reason: 'SERVICE_NOT_AUTHORIZED' })
  t.match((await postToken(ctx.app, client, forUser(ctx.user.id))).json(), { error: 'invalid_grant' },
    'a worker naming a user who did not authorize it (200 before: any user)')
  const unknown = await gql(ctx.app, AuthorizeServiceDocument, { clientId: 'igc_nobody' }, auth)
  t.equal(unknown.errors?.[0]?.extensions.code, 'NOT_FOUND')
  const wrong = await gql(ctx.app, AuthorizeServiceDocument, { clientId: client.clientId, password: 'not the password' }, auth)
  t.match(wrong.errors?.[0]?.extensions, { code: 'REAUTH_REQUIRED', reason: 'PASSWORD_INCORRECT' }, 'step-up as linkGoogle')

  const ok = await gql(ctx.app, AuthorizeServiceDocument, { clientId: client.clientId, password: PASSWORD }, auth)
  t.match(ok.data?.authorizeService, { client: { id: client.clientId, name: 'Tracker' }, createdAt: String, lastUsedAt: null })
  t.equal((await postToken(ctx.app, client, forUser(ctx.user.id))).statusCode, 200, 'the worker now acts for this user')
  t.equal((await postToken(ctx.app, client, onBehalfOf(await serviceTokenFor(ctx.app, ctx.user.accessToken, client.clientId)))).statusCode, 200)
  const listed = await gql(ctx.app, ServiceAuthorizationsDocument, {}, auth)
  t.match(listed.data?.serviceAuthorizations, [{ client: { id: client.clientId }, lastUsedAt: String }])
  const shown = await runAdminCommand(ctx.app, ['show-user', (await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } })).email])
  t.match(shown, { serviceAuthorizations: [{ clientId: client.clientId, clientName: 'Tracker' }] }, 'show-user lists them')

  t.equal((await gql(ctx.app, RevokeServiceAuthorizationDocument, { clientId: client.clientId }, auth)).data?.revokeServiceAuthorization, true)
  t.match((await postToken(ctx.app, client, forUser(ctx.user.id))).json(), { error: 'invalid_grant' }, 'revoked: the next exchange fails')
  const types = (await gql(ctx.app, SecurityEventsDocument, {}, auth)).data?.securityEvents.map((e) => e.type)
  t.ok(types?.includes('SERVICE_AUTHORIZED') && types.includes('SERVICE_AUTHORIZATION_REVOKED'), 'both are security events')
})

test('--all-users: acts for every user, with a warning; listed; account deletion removes authorizations', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const created = await runAdminCommand(ctx.app, ['create-service-client', 'Own backend', '--worker', '--all-users']) as { clientId: string, clientSecret: string, warning: string }
  t.match(created.warning, /EVERY user/)
  const listed = await runAdminCommand(ctx.app, ['list-service-clients']) as { clients: Array<{ clientId: string, allUsers: boolean }> }
  t.match(listed.clients.find((c) => c.clientId === created.clientId), { allUsers: true })
  t.equal((await postToken(ctx.app, created, forUser(ctx.user.id))).statusCode, 200, 'no per-user authorization needed')

  const plain = await authorizedClient(ctx.app, [ctx.user.id], 'Plain')
  t.equal(await ctx.app.prisma.serviceAuthorization.count({ where: { clientId: plain.clientId } }), 1)
  await ctx.app.accountDeletion.delete(ctx.user.id, 'user', {})
  t.equal(await ctx.app.prisma.serviceAuthorization.count({ where: { userId: ctx.user.id } }), 0, 'deletion removes them')
})
