import { test } from 'tap'
import { sha256Base64url, sha256Hex } from '../../src/crypto/hashing.ts'
import { open, openCompact, seal, sealCompact } from '../../src/crypto/sealing.ts'
import { randomToken, sameSecret, sameSecretHashed } from '../../src/crypto/secrets.ts'

// Vectors made with the code these helpers replaced (node:crypto called inline in the refresh tokens and the local
// vault): records and hashes already stored must still open and match.
const KEY = Buffer.alloc(32, 7)

test('opens what the earlier sealing code wrote', async (t) => {
  t.equal(openCompact(KEY, 'AQEBAQEBAQEBAQEB9ZKJtJ-lc39-OJ5cIfk0zx-G-8PPzJltsrGvUh9F'), 'igrt_successor', 'a sealed refresh-token successor')
  const record = { iv: 'AQEBAQEBAQEBAQEB', ct: 'DcPolaqOkQ', tag: 'Q8fMmiMorh_wVWJqX7sv_w' }
  const sealed = { iv: Buffer.from(record.iv, 'base64url'), ct: Buffer.from(record.ct, 'base64url'), tag: Buffer.from(record.tag, 'base64url') }
  t.equal(open(KEY, sealed, 'inboxgate/gmail/u1'), '{"a":1}', 'a local vault record')
  t.throws(() => open(KEY, sealed, 'inboxgate/gmail/u2'), 'another additional data fails')
  t.throws(() => open(KEY, { ...sealed, tag: sealed.tag.subarray(0, 12) }), 'a shortened tag is refused')
})

test('hashes keep their encodings', async (t) => {
  t.equal(sha256Hex('state'), '4ba69735ca53765ed6a709edb56c6ea236b7193a3b29a6b390c346f0f4340e4e')
  t.equal(sha256Base64url('igrt_x'), 'xaw69Wb2BiUvD3TRx8sNnP8YXeVbzwXectpgSPjojgU')
})

test('round trips, comparisons and random tokens', async (t) => {
  t.equal(openCompact(KEY, sealCompact(KEY, 'x')), 'x')
  t.equal(open(KEY, seal(KEY, 'y', 'aad'), 'aad'), 'y')
  t.throws(() => openCompact(Buffer.alloc(32, 8), sealCompact(KEY, 'x')), 'another key fails')
  t.ok(sameSecret('abc', 'abc'))
  t.notOk(sameSecret('abc', 'abd'))
  t.notOk(sameSecret('abc', 'abcd'))
  t.notOk(sameSecret('abc', null))
  t.ok(sameSecretHashed('Bearer t', 'Bearer t'))
  t.notOk(sameSecretHashed('Bearer t', 'Bearer u'))
  t.match(randomToken(), /^[A-Za-z0-9_-]{43}$/)
  t.not(randomToken(), randomToken())
})
