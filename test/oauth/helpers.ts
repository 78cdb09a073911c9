import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { gmail } from 'googleapis/build/src/apis/gmail/index.js'
import type { gmail_v1 as gmailV1 } from 'googleapis/build/src/apis/gmail/index.js'
import { OAuth2Client } from 'google-auth-library'
import { gql } from '../helper.ts'
import { ServiceTokenDocument } from '../support/generated/graphql.ts'
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_GOOGLE_ACCESS_TOKEN, TOKEN_TYPE_USER_ID } from '../../src/oauth/token-exchange.ts'

export { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_GOOGLE_ACCESS_TOKEN, TOKEN_TYPE_USER_ID }

export interface Credentials { clientId: string, clientSecret: string }

export interface PostOptions {
  /** client_secret_basic (default), client_secret_post, or none. */
  auth?: 'basic' | 'post' | 'none'
  headers?: Record<string, string>
}

export async function postToken (app: FastifyInstance, client: Credentials | null, params: Record<string, string>, opts: PostOptions = {}): Promise<LightMyRequestResponse> {
  const auth = client == null ? 'none' : opts.auth ?? 'basic'
  const form = new URLSearchParams(params)
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers }
  if (auth === 'basic' && client != null) {
    headers.authorization = 'Basic ' + Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')
  }
  if (auth === 'post' && client != null) {
    form.set('client_id', client.clientId)
    form.set('client_secret', client.clientSecret)
  }
  return await app.inject({ method: 'POST', url: '/oauth/token', headers, payload: form.toString() })
}

/** The parameters of an on-behalf-of exchange (the user's inboxgate access token). */
export const onBehalfOf = (accessToken: string, extra: Record<string, string> = {}) => ({
  grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
  requested_token_type: TOKEN_TYPE_GOOGLE_ACCESS_TOKEN,
  subject_token: accessToken,
  subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
  ...extra
})

/** The parameters of a worker's exchange (a user id). */
export const forUser = (userId: string, extra: Record<string, string> = {}) => ({
  grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
  requested_token_type: TOKEN_TYPE_GOOGLE_ACCESS_TOKEN,
  subject_token: userId,
  subject_token_type: TOKEN_TYPE_USER_ID,
  ...extra
})

/** googleapis' Gmail client (only the Gmail API) on the emulator, with a bare access token. */
export function gmailWith (accessToken: string, rootUrl: string): gmailV1.Gmail {
  const auth = new OAuth2Client()
  auth.setCredentials({ access_token: accessToken })
  return gmail({ version: 'v1', auth, rootUrl: rootUrl.endsWith('/') ? rootUrl : rootUrl + '/' })
}

/** A service client the given users have authorized (authorizeService), as most exchanges now need. */
export async function authorizedClient (app: FastifyInstance, userIds: string[], name: string, worker = false): Promise<Credentials> {
  const client = await app.serviceClients.create(name, worker)
  for (const userId of userIds) await app.serviceAuthorizations.authorize(userId, client.clientId, {})
  return client
}

/** The service token an app gets for its backend (GraphQL serviceToken), for the user of `accessToken`. */
export async function serviceTokenFor (app: FastifyInstance, accessToken: string, clientId: string): Promise<string> {
  const res = await gql(app, ServiceTokenDocument, { clientId }, { token: accessToken })
  if (res.data == null) throw new Error(`serviceToken failed: ${JSON.stringify(res.errors)}`)
  return res.data.serviceToken.token
}
