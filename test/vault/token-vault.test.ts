import { randomUUID } from 'node:crypto'
import { inspect } from 'node:util'
import { test } from 'tap'
import { AppError, ErrorCodes } from '../../src/errors.ts'
import {
  parseGmailTokenBundle,
  secretName,
  serializeGmailTokenBundle,
  validateGmailTokenBundle
} from '../../src/vault/token-vault.ts'
import type { GmailTokenBundle } from '../../src/vault/token-vault.ts'

const bundle: GmailTokenBundle = {
  version: 1,
  accessToken: 'ya29.SECRET-ACCESS',
  refreshToken: '1//SECRET-REFRESH',
  expiryDate: 1_800_000_000_000,
  scope: ['https://www.googleapis.com/auth/gmail.readonly'],
  clientId: 'web.apps.googleusercontent.com',
  googleSub: '110000000000000000001',
  email: 'alice@example.com',
  obtainedAt: 1_799_996_400_000
}

test('secretName is gmail/user/<uuid> and refuses anything that is not a lowercase uuid', async (t) => {
  const id = randomUUID()
  t.equal(secretName(undefined, id), `gmail/user/${id}`)
  t.equal(secretName('prod/gmail/', id), `prod/gmail/${id}`)
  for (const bad of ['../x', id.toUpperCase(), `${id}/x`, `${id} `, '', 'gmail/user/*']) {
    t.throws(() => secretName(undefined, bad), TypeError, JSON.stringify(bad))
  }
  t.throws(() => secretName('has space/', id), TypeError)
  t.throws(() => secretName('a'.repeat(300), id), TypeError)
})

test('validation rejects garbage with VAULT_UNAVAILABLE and never echoes it', async (t) => {
  t.same(validateGmailTokenBundle({ ...bundle, extra: 'dropped' }), bundle, 'unknown fields are dropped')
  const cases: unknown[] = [
    null, [], 'ya29.SECRET-ACCESS', { ...bundle, version: 2 }, { ...bundle, accessToken: '' },
    { ...bundle, refreshToken: undefined }, { ...bundle, expiryDate: '1800000000000' }, { ...bundle, scope: 'gmail' },
    { ...bundle, scope: [1] }, { ...bundle, clientId: null }, { ...bundle, obtainedAt: 1.5 }
  ]
  for (const c of cases) {
    const err = (() => {
      try {
        validateGmailTokenBundle(c)
      } catch (e) {
        return e
      }
    })()
    t.ok(err instanceof AppError && err.code === ErrorCodes.VAULT_UNAVAILABLE, inspect(c).slice(0, 40))
    t.notOk(inspect(err, { depth: null }).includes('SECRET'), 'content not echoed')
  }
  t.throws(() => parseGmailTokenBundle('{"accessToken":"ya29.SECRET'), { code: ErrorCodes.VAULT_UNAVAILABLE })
  try {
    parseGmailTokenBundle('{"accessToken":"ya29.SECRET')
  } catch (err) {
    t.notOk(inspect(err, { depth: null }).includes('SECRET'), "JSON.parse's message (which quotes input) is not kept")
  }
})

test('serialize round-trips and refuses invalid bundles', async (t) => {
  t.same(parseGmailTokenBundle(serializeGmailTokenBundle(bundle)), bundle)
  t.throws(() => serializeGmailTokenBundle({ ...bundle, expiryDate: Number.NaN }), TypeError)
})
