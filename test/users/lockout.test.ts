import { test } from 'tap'
import { buildTestApp, gql, PASSWORD, signUp } from '../helper.ts'
import { ChangePasswordDocument, LoginDocument } from '../support/generated/graphql.ts'
import type { FastifyInstance } from 'fastify'

// Issue 21 item 3: failed logins by strangers never lock the owner out (OWASP device cookies).

const ATTACKER = '203.0.113.66'
const OWNER = '198.51.100.20'

async function loginFrom (app: FastifyInstance, ip: string, input: { email: string, password: string, client?: 'WEB' | 'NATIVE', deviceToken?: string }, cookies?: Record<string, string>) {
  const res = await app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress: ip,
    headers: { 'content-type': 'application/json' },
    cookies,
    payload: { query: LoginDocument.toString(), variables: { input: { client: 'NATIVE', ...input } } }
  })
  const body = res.json<{ data?: { login: { accessToken: string, deviceToken: string | null } } | null, errors?: Array<{ extensions: { code: string } }> }>()
  return { code: body.errors?.[0]?.extensions.code ?? 'OK', login: body.data?.login, res }
}

async function hammer (app: FastifyInstance, email: string, times: number) {
  const codes: string[] = []
  for (let i = 0; i < times; i++) codes.push((await loginFrom(app, ATTACKER, { email, password: 'wrong password here' })).code)
  return codes
}

test('a stranger\'s failures do not stop the owner from another address; the stranger stays bounded', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '5' } })
  const s = await signUp(app, 'NATIVE')
  const codes = await hammer(app, s.email, 7)
  t.same(codes.slice(5), ['RATE_LIMITED', 'RATE_LIMITED'], 'the attacker is limited per account and address')
  t.equal((await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD })).code, 'RATE_LIMITED', 'even with the right password from there')
  t.equal((await loginFrom(app, OWNER, { email: s.email, password: PASSWORD })).code, 'OK', 'the owner signs in from another address (RATE_LIMITED before)')
})

test('a device that signed in before passes the attacker\'s address limit (NATIVE token, WEB cookie); a forged token does not', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '5' } })
  const s = await signUp(app, 'NATIVE')
  const native = await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD })
  const deviceToken = native.login?.deviceToken
  t.type(deviceToken, 'string', 'NATIVE logins return a device token')
  const web = await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD, client: 'WEB' })
  t.equal(web.login?.deviceToken, null, 'WEB gets no token in the body')
  const cookie = web.res.cookies.find((c) => c.name === '__Host-inboxgate-device')
  t.match(cookie, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' }, 'WEB gets an HttpOnly device cookie')

  await hammer(app, s.email, 6)
  t.equal((await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD })).code, 'RATE_LIMITED', 'an unknown device from there is limited')
  t.equal((await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD, deviceToken: deviceToken! })).code, 'OK', 'the owner\'s app signs in')
  t.equal((await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD, client: 'WEB' }, { '__Host-inboxgate-device': cookie!.value })).code, 'OK', 'the owner\'s browser signs in')
  const other = await signUp(app, 'NATIVE')
  t.equal((await loginFrom(app, ATTACKER, { email: other.email, password: 'wrong password here', deviceToken: deviceToken! })).code, 'UNAUTHENTICATED',
    'a device token is for its own account only (counted as unknown elsewhere)')
  t.equal((await loginFrom(app, ATTACKER, { email: s.email, password: PASSWORD, deviceToken: deviceToken!.slice(0, -2) + 'xx' })).code, 'RATE_LIMITED', 'a forged token is an unknown device')
})

test('changePassword inside a live session counts only that session\'s failures', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3' } })
  const s = await signUp(app, 'NATIVE')
  await hammer(app, s.email, 5)
  const changed = await gql(app, ChangePasswordDocument, { input: { currentPassword: PASSWORD, newPassword: 'another long passphrase 42' }, client: 'NATIVE' }, { token: s.accessToken })
  t.equal(changed.errors, undefined, 'the owner changes the password while the attacker is limited (RATE_LIMITED before)')
  const token = changed.data!.changePassword.accessToken
  const codes: string[] = []
  for (let i = 0; i < 4; i++) {
    const r = await gql(app, ChangePasswordDocument, { input: { currentPassword: 'wrong password here', newPassword: 'yet another passphrase 7' }, client: 'NATIVE' }, { token })
    codes.push(String(r.errors?.[0]?.extensions.code))
  }
  t.same(codes, ['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED'], 'the session itself is bounded')
})
