import { test } from 'tap'
import { buildTestApp, DEFAULT_HASH_COST, gql, gqlData, PASSWORD, signUp, uniqueEmail } from '../helper.ts'
import { ChangePasswordDocument, LoginDocument, MeDocument, RefreshDocument, SignUpDocument } from '../support/generated/graphql.ts'

// docs/security.md items 5 and 28: passwords, generic errors, rate limits; login issues new tokens.

test('sign up, log in, me: emails are case-insensitive and passwords hashed with Argon2id', async (t) => {
  const { app } = await buildTestApp(t, { env: DEFAULT_HASH_COST })
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  t.equal(s.user.email, email)
  t.equal(s.user.hasPassword, true)

  const dup = await gql(app, SignUpDocument, { input: { email: email.toUpperCase(), password: PASSWORD } })
  t.equal(dup.errors?.[0]?.extensions.code, 'CONFLICT', 'same email in other case is taken')

  const login = await gql(app, LoginDocument, { input: { email: `  ${email.toUpperCase()} `, password: PASSWORD, client: 'NATIVE' } })
  t.equal(login.errors, undefined)
  t.not(login.data?.login.sessionId, s.sessionId, 'a login starts a new session')
  t.not(login.data?.login.refreshToken, s.refreshToken, 'with new tokens')

  const me = await gql(app, MeDocument, {}, { token: login.data?.login.accessToken })
  t.same(me.data?.me, { id: s.user.id, email, name: 'Test User', hasPassword: true, hasGoogle: false })

  const row = await app.prisma.user.findUniqueOrThrow({ where: { email } })
  t.match(row.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'Argon2id at OWASP parameters')
  t.notMatch(JSON.stringify(row), PASSWORD)
})

test('password rules: length 8..128, common passwords refused, long passphrases accepted', async (t) => {
  const { app } = await buildTestApp(t)
  const attempt = async (password: string) => await gql(app, SignUpDocument, { input: { email: uniqueEmail(), password } })
  t.equal((await attempt('short7!')).errors?.[0]?.extensions.code, 'BAD_USER_INPUT', '7 characters')
  t.equal((await attempt('password123')).errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'common password')
  t.equal((await attempt('x'.repeat(129))).errors?.[0]?.extensions.code, 'BAD_USER_INPUT', '129 characters')
  t.equal((await attempt('a'.repeat(40) + '€ü漢字 🙂 long passphrase')).errors, undefined, 'unicode and 64+ characters')
  t.equal((await attempt('8chars!x')).errors, undefined, '8 characters')
  const bad = await gql(app, SignUpDocument, { input: { email: 'not-an-email', password: PASSWORD } })
  t.equal(bad.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.equal(bad.errors?.[0]?.extensions.field, 'email')
})

test('unknown user and wrong password get the same answer', async (t) => {
  const { app } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  const unknown = await gql(app, LoginDocument, { input: { email: uniqueEmail(), password: PASSWORD } })
  const wrong = await gql(app, LoginDocument, { input: { email: s.email, password: PASSWORD + '!' } })
  t.same(unknown.errors, wrong.errors, 'identical errors')
  t.equal(unknown.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  t.equal(unknown.status, wrong.status)
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'LOGIN_FAILED' } }), 2)
})

test('login is rate limited per account and address', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '5' } })
  const s = await signUp(app, 'NATIVE')
  for (let i = 0; i < 5; i++) {
    const r = await gql(app, LoginDocument, { input: { email: s.email, password: 'wrong password here' } })
    t.equal(r.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  }
  const locked = await gql(app, LoginDocument, { input: { email: s.email, password: PASSWORD } })
  t.equal(locked.errors?.[0]?.extensions.code, 'RATE_LIMITED', 'even the right password is refused now, from this address')
  t.ok(Number(locked.errors?.[0]?.extensions.retryAfterSeconds) > 0, 'with a retry hint')
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'LOGIN_RATE_LIMITED' } }), 1)

  const other = await signUp(app, 'NATIVE')
  const fine = await gql(app, LoginDocument, { input: { email: other.email, password: PASSWORD } })
  t.equal(fine.errors, undefined, 'other accounts are not affected')
})

test('aliased logins in one request count one attempt each', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_IP: '5', GRAPHQL_MAX_ALIASES: '10' } })
  const s = await signUp(app, 'NATIVE')
  // An aliased batch is no client's operation: a string, on purpose.
  const fields = Array.from({ length: 5 }, (_, i) => `a${i}: login(input: $input) { sessionId }`).join('\n')
  const batch = await gql(app, `mutation($input: LoginInput!) { ${fields} }`, { input: { email: s.email, password: PASSWORD, client: 'NATIVE' } })
  t.equal(batch.errors, undefined)
  t.equal(Object.keys(batch.data).length, 5, 'five logins ran')
  const sixth = await gql(app, LoginDocument, { input: { email: s.email, password: PASSWORD } })
  t.equal(sixth.errors?.[0]?.extensions.code, 'RATE_LIMITED', 'the IP budget of 5 was spent by one request')

  // A failing aliased login aborts the rest of the mutation (non-null results), so a wrong-password
  // alias bomb costs the attacker a request per guess anyway.
  const { app: app2 } = await buildTestApp(t, { env: { GRAPHQL_MAX_ALIASES: '10' } })
  const u = await signUp(app2, 'NATIVE')
  const wrong = await gql(app2, `mutation($input: LoginInput!) { ${fields} }`, { input: { email: u.email, password: 'wrong password here' } })
  t.equal(wrong.errors?.length, 1)
  t.equal(wrong.data, null)
  t.equal(await app2.prisma.securityEvent.count({ where: { type: 'LOGIN_FAILED' } }), 1, 'one attempt ran and counted')
})

test('login is rate limited per IP across accounts, sign-up too', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_IP: '4', SIGNUP_MAX_PER_IP: '3' } })
  for (let i = 0; i < 4; i++) {
    const r = await gql(app, LoginDocument, { input: { email: uniqueEmail(), password: PASSWORD } })
    t.equal(r.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  }
  const limited = await gql(app, LoginDocument, { input: { email: uniqueEmail(), password: PASSWORD } })
  t.equal(limited.errors?.[0]?.extensions.code, 'RATE_LIMITED')

  for (let i = 0; i < 3; i++) await signUp(app, 'NATIVE')
  const fourth = await gql(app, SignUpDocument, { input: { email: uniqueEmail(), password: PASSWORD } })
  t.equal(fourth.errors?.[0]?.extensions.code, 'RATE_LIMITED')
})

test('a password change and disabling an account end every session', async (t) => {
  const { app } = await buildTestApp(t)
  const a = await signUp(app, 'NATIVE')
  const second = (await gqlData(app, LoginDocument, { input: { email: a.email, password: PASSWORD, client: 'NATIVE' } })).login

  const wrong = await gql(app, ChangePasswordDocument, { input: { currentPassword: 'not it at all', newPassword: 'a brand new passphrase' }, client: 'NATIVE' }, { token: a.accessToken })
  t.equal(wrong.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  const changed = await gql(app, ChangePasswordDocument, { input: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' }, client: 'NATIVE' }, { token: a.accessToken })
  t.equal(changed.errors, undefined)
  for (const token of [a.refreshToken, second.refreshToken]) {
    t.equal((await gql(app, RefreshDocument, { refreshToken: token, client: 'NATIVE' })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'old sessions ended')
  }
  t.equal((await gql(app, RefreshDocument, { refreshToken: changed.data?.changePassword.refreshToken, client: 'NATIVE' })).errors, undefined, 'the new session works')
  t.ok((await gql(app, LoginDocument, { input: { email: a.email, password: PASSWORD } })).errors, 'old password refused')

  const b = await signUp(app, 'NATIVE')
  await app.usersService.disable(b.user.id)
  t.equal((await gql(app, RefreshDocument, { refreshToken: b.refreshToken, client: 'NATIVE' })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  t.match((await gql(app, MeDocument, {}, { token: b.accessToken })).errors?.[0]?.extensions, { code: 'FORBIDDEN', reason: 'USER_DISABLED' }, 'me refuses a disabled user at once')
  const login = await gql(app, LoginDocument, { input: { email: b.email, password: PASSWORD } })
  t.equal(login.errors?.[0]?.extensions.code, 'FORBIDDEN')
})
