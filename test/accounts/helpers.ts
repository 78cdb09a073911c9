import { gql, PASSWORD } from '../helper.ts'
import type { FastifyInstance } from 'fastify'

export const LINK = 'mutation($idToken: String!, $password: String) { linkGoogle(idToken: $idToken, password: $password) { id hasGoogle } }'
export const UNLINK = 'mutation($password: String) { unlinkGoogle(password: $password) { id hasGoogle hasPassword } }'
export const DELETE = 'mutation($password: String) { deleteAccount(password: $password) }'
export const EVENTS = 'query($first: Int) { securityEvents(first: $first) { type createdAt ip userAgent } }'
export const SIGN_IN_GOOGLE = 'mutation($idToken: String!) { signInWithGoogle(idToken: $idToken) { accessToken refreshToken user { id email } } }'
export const LOGOUT = 'mutation($everywhere: Boolean) { logout(everywhere: $everywhere) }'

/** The claims of an access token (no verification: the test only reads what it was given). */
export function claimsOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}

export async function login (app: FastifyInstance, email: string, password = PASSWORD) {
  const res = await gql(app, 'mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken sessionId } }', { input: { email, password, client: 'NATIVE' } })
  if (res.errors != null) throw new Error(`login failed: ${JSON.stringify(res.errors)}`)
  return res.data.login as { accessToken: string, refreshToken: string, sessionId: string }
}

export const errorOf = (res: { errors?: Array<{ extensions: Record<string, unknown> }> }) => res.errors?.[0]?.extensions
