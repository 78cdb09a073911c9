import { test } from 'tap'
import { isCanonicalUuid, isUuid } from '../../src/db/uuid.ts'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { RevokeSessionDocument } from '../support/generated/graphql.ts'

// The one UUID check for ids bound for a `@db.Uuid` column (src/db/uuid.ts).

const ID = '0b6f1c2e-3d4a-4b5c-8d6e-7f8091a2b3c4'

test('isUuid: the hyphenated form in either case, nothing else', async (t) => {
  t.ok(isUuid(ID))
  t.ok(isUuid(ID.toUpperCase()), 'PostgreSQL reads upper case too')
  for (const bad of ['-'.repeat(36), 'g'.repeat(36), ID.replaceAll('-', ''), `${ID} `, ` ${ID}`, `${ID}\n`, `{${ID}}`, ID.slice(1), '', 42, null, undefined]) {
    t.notOk(isUuid(bad), `refused: ${JSON.stringify(bad)}`)
  }
})

test('isCanonicalUuid: lowercase only (one secret name per user)', async (t) => {
  t.ok(isCanonicalUuid(ID))
  t.notOk(isCanonicalUuid(ID.toUpperCase()))
  t.notOk(isCanonicalUuid('-'.repeat(36)))
})

test('revokeSession: 36 dashes or another non-UUID is NOT_FOUND, never a database error', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const { accessToken } = await signUp(app, 'NATIVE')
  for (const id of ['-'.repeat(36), 'a'.repeat(36), '0b6f1c2e-3d4a-4b5c-8d6e-7f8091a2b3c']) {
    const res = await gql(app, RevokeSessionDocument, { id }, { token: accessToken })
    t.equal(res.errors?.[0]?.extensions.code, 'NOT_FOUND', `${id}: NOT_FOUND`)
  }
  t.notMatch(logs.join('\n'), /unexpected error/, 'nothing reached the database as an invalid uuid')
})

test('revokeSession: the caller\'s own session id in upper case still names it', async (t) => {
  const { app } = await buildTestApp(t)
  const a = await signUp(app, 'NATIVE')
  const res = await gql(app, RevokeSessionDocument, { id: a.sessionId.toUpperCase() }, { token: a.accessToken })
  t.equal(res.data?.revokeSession, true)
})
