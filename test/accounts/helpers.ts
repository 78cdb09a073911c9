import { gqlData, PASSWORD } from '../helper.ts'
import type { FastifyInstance } from 'fastify'
import { LoginDocument } from '../support/generated/graphql.ts'

/** The claims of an access token (no verification: the test only reads what it was given). */
export function claimsOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}

/** Logs in as the iOS app does: a NATIVE client gets its refresh token in the body. */
export async function login (app: FastifyInstance, email: string, password = PASSWORD) {
  const { accessToken, refreshToken, sessionId } = (await gqlData(app, LoginDocument, { input: { email, password, client: 'NATIVE' } })).login
  if (refreshToken == null) throw new Error('login: a NATIVE client got no refresh token')
  return { accessToken, refreshToken, sessionId }
}

export const errorOf = (res: { errors?: Array<{ extensions: Record<string, unknown> }> }) => res.errors?.[0]?.extensions
