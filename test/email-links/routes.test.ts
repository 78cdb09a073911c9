import { test } from 'tap'
import { buildTestApp, gql, signUp, uniqueEmail } from '../helper.ts'
import { MeDocument } from '../support/generated/graphql.ts'
import { startCatcher, tokenOf } from '../support/mail.ts'

// docs/security.md items 42 and 43: the server's pages for mailed links.

const form = (fields: Record<string, string>) => ({ 'content-type': 'application/x-www-form-urlencoded', payload: new URLSearchParams(fields).toString() })

test('the verification page confirms with a POST (a GET alone confirms nothing) and links back to the app', async (t) => {
  const catcher = await startCatcher(t)
  const { app, logs } = await buildTestApp(t, { env: { SMTP_URL: catcher.smtpUrl, APP_URL: 'https://app.example.com', APP_NAME: 'Acme' } })
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  const token = tokenOf(await catcher.waitFor(email))

  const page = await app.inject({ url: `/email/verify?token=${token}` })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['referrer-policy'], 'no-referrer')
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.match(page.body, /<form method="post" action="\/email\/verify">/)
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).emailVerified, false, 'a link scanner\'s GET confirms nothing')

  const { payload, ...headers } = form({ token })
  const done = await app.inject({ method: 'POST', url: '/email/verify', headers, payload })
  t.equal(done.statusCode, 200)
  t.match(done.body, /is confirmed/)
  t.match(done.body, /href="https:\/\/app\.example\.com"/)
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: s.user.id } })).emailVerified, true)
  const again = await app.inject({ method: 'POST', url: '/email/verify', headers, payload })
  t.equal(again.statusCode, 400)
  t.match(again.body, /not valid/)
  t.notOk(logs.join('\n').includes(token), 'the token of the GET URL is redacted in the request log')
})

test('the reset page sets the password (the policy refuses without spending the link); hostile input never 500s', async (t) => {
  const catcher = await startCatcher(t)
  const { app } = await buildTestApp(t, { env: { SMTP_URL: catcher.smtpUrl } })
  const email = uniqueEmail()
  const s = await signUp(app, 'NATIVE', email)
  await app.passwordReset.request(email, { ip: '127.0.0.3' })
  await app.mailOutbox.drain()
  const token = tokenOf(catcher.messages.find((m) => /Reset/.test(m.subject))!)

  t.match((await app.inject({ url: `/email/reset-password?token=${token}` })).body, /type="password"/)
  const weak = form({ token, password: 'password' })
  const refused = await app.inject({ method: 'POST', url: '/email/reset-password', headers: { 'content-type': weak['content-type'] }, payload: weak.payload })
  t.equal(refused.statusCode, 400)
  t.match(refused.body, /too common/)
  const good = form({ token, password: 'a long enough passphrase' })
  const changed = await app.inject({ method: 'POST', url: '/email/reset-password', headers: { 'content-type': good['content-type'] }, payload: good.payload })
  t.equal(changed.statusCode, 200)
  t.match(changed.body, /signed out everywhere/)
  t.equal((await gql(app, MeDocument, {}, { token: s.accessToken })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'sessions ended')

  for (const [name, req] of [
    ['no token', { url: '/email/verify' }],
    ['repeated token', { url: '/email/verify?token=a&token=b' }],
    ['JSON body', { method: 'POST', url: '/email/verify', headers: { 'content-type': 'application/json' }, payload: '{"token":1}' }],
    ['no body', { method: 'POST', url: '/email/reset-password' }],
    ['forged token', { method: 'POST', url: '/email/reset-password', ...(() => { const f = form({ token: 'x'.repeat(43), password: 'a long enough passphrase' }); return { headers: { 'content-type': f['content-type'] }, payload: f.payload } })() }],
    ['huge body', { method: 'POST', url: '/email/verify', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${'x'.repeat(10_000)}` }]
  ] as const) {
    const res = await app.inject(req as never)
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: ${res.statusCode}`)
  }
})
