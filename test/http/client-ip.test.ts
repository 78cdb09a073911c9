import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { parseEnv } from '../../src/config.ts'
import { clientIpKey } from '../../src/http/client-ip.ts'
import { buildTestApp, PASSWORD, uniqueEmail } from '../helper.ts'
import { LoginDocument } from '../support/generated/graphql.ts'

// Per-IP limits key on the address the trusted proxies saw (TRUST_PROXY), an IPv6 client by its /64.

test('TRUST_PROXY takes false, a hop count or addresses/CIDRs; true is refused naming the safer forms', async (t) => {
  t.equal(parseEnv({}).TRUST_PROXY, false, 'off by default')
  t.equal(parseEnv({ TRUST_PROXY: 'false' }).TRUST_PROXY, false)
  t.equal(parseEnv({ TRUST_PROXY: '1' }).TRUST_PROXY, 1)
  t.equal(parseEnv({ TRUST_PROXY: '2' }).TRUST_PROXY, 2)
  t.same(parseEnv({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,fd00::/8' }).TRUST_PROXY, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'])
  for (const v of ['true', 'TRUE', 'yes']) {
    t.throws(() => parseEnv({ TRUST_PROXY: v }), { name: 'ConfigError', message: /TRUST_PROXY: .*left-most entry.*false, a hop count.*CIDRs/ }, v)
  }
  for (const v of ['10.0.0.0/33', 'lb.internal', '10.0.0.1/8/2', '1.2.3', ',']) {
    t.throws(() => parseEnv({ TRUST_PROXY: v }), { name: 'ConfigError', message: /TRUST_PROXY: .*not an address or CIDR/ }, v)
  }
})

test('clientIpKey: IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4', async (t) => {
  t.equal(clientIpKey('203.0.113.7'), '203.0.113.7')
  t.equal(clientIpKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64')
  t.equal(clientIpKey('2001:db8:1:2::1'), '2001:db8:1:2::/64', 'another address of the same /64')
  t.equal(clientIpKey('2001:DB8:1:2:ffff::'), '2001:db8:1:2::/64', 'case does not matter')
  t.equal(clientIpKey('2001:0db8:0001:0002:0:0:0:1'), '2001:db8:1:2::/64', 'leading zeros do not matter')
  t.equal(clientIpKey('2001:db8:1:3::1'), '2001:db8:1:3::/64', 'the next /64 is another client')
  t.equal(clientIpKey('2001:db8::'), '2001:db8:0:0::/64')
  t.equal(clientIpKey('::1'), '0:0:0:0::/64')
  t.equal(clientIpKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'zone id dropped')
  t.equal(clientIpKey('::ffff:203.0.113.7'), '203.0.113.7', 'a dual-stack socket\'s IPv4 client')
  t.equal(clientIpKey('::ffff:cb00:7107'), '203.0.113.7')
  t.equal(clientIpKey('64:ff9b::203.0.113.7'), '64:ff9b:0:0::/64')
})

async function attempt (app: FastifyInstance, ip: { remoteAddress: string, xff?: string }) {
  const res = await app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress: ip.remoteAddress,
    headers: { 'content-type': 'application/json', ...(ip.xff != null ? { 'x-forwarded-for': ip.xff } : {}) },
    payload: JSON.stringify({ query: String(LoginDocument), variables: { input: { email: uniqueEmail(), password: PASSWORD } } })
  })
  return res.json<{ errors?: Array<{ extensions: { code: string } }> }>().errors?.[0]?.extensions.code
}

test('TRUST_PROXY=1: rotating X-Forwarded-For does not change the key beyond the real hop', async (t) => {
  const { app, logs } = await buildTestApp(t, { env: { TRUST_PROXY: '1', LOGIN_MAX_ATTEMPTS_PER_IP: '3' } })
  const lb = '10.0.0.5'
  // The client writes any X-Forwarded-For it likes; the load balancer appends the address it saw.
  for (let i = 0; i < 3; i++) {
    t.equal(await attempt(app, { remoteAddress: lb, xff: `198.51.100.${i}, 203.0.113.7` }), 'UNAUTHENTICATED', `attempt ${i + 1}`)
  }
  t.equal(await attempt(app, { remoteAddress: lb, xff: '198.51.100.99, 10.9.9.9, 203.0.113.7' }), 'RATE_LIMITED', 'a fourth forged prefix: same client, same bucket')
  t.equal(await attempt(app, { remoteAddress: lb, xff: '203.0.113.7' }), 'RATE_LIMITED', 'and without one')
  t.equal(await attempt(app, { remoteAddress: lb, xff: '203.0.113.8' }), 'UNAUTHENTICATED', 'another client behind the same balancer has its own bucket')
  const seen = logs.flatMap((l) => /"remoteAddress":"([^"]+)"/.exec(l)?.[1] ?? [])
  t.same([...new Set(seen)].sort(), ['203.0.113.7', '203.0.113.8'], 'request.ip (as logged) is always the address the balancer saw')
})

test('TRUST_PROXY=false: X-Forwarded-For is ignored, the socket address keys the limits', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_IP: '2' } })
  t.equal(await attempt(app, { remoteAddress: '203.0.113.9', xff: '198.51.100.1' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '203.0.113.9', xff: '198.51.100.2' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '203.0.113.9', xff: '198.51.100.3' }), 'RATE_LIMITED')
})

test('TRUST_PROXY as addresses/CIDRs: entries from listed proxies are skipped, the first other one is the client', async (t) => {
  const { app } = await buildTestApp(t, { env: { TRUST_PROXY: '10.0.0.0/8', LOGIN_MAX_ATTEMPTS_PER_IP: '2' } })
  t.equal(await attempt(app, { remoteAddress: '10.0.0.5', xff: '198.51.100.1, 203.0.113.7, 10.1.2.3' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '10.0.0.6', xff: '198.51.100.2, 203.0.113.7' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '10.0.0.5', xff: '203.0.113.7' }), 'RATE_LIMITED', 'the same client through any of the proxies')
  t.equal(await attempt(app, { remoteAddress: '203.0.113.50', xff: '198.51.100.3' }), 'UNAUTHENTICATED', 'a client reaching us directly cannot forward-for anyone')
  t.equal(await attempt(app, { remoteAddress: '203.0.113.50', xff: '198.51.100.4' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '203.0.113.50', xff: '198.51.100.5' }), 'RATE_LIMITED', 'counted under its own address')
})

test('IPv6 clients share one budget per /64, with or without a proxy', async (t) => {
  const { app } = await buildTestApp(t, { env: { TRUST_PROXY: '1', LOGIN_MAX_ATTEMPTS_PER_IP: '2' } })
  t.equal(await attempt(app, { remoteAddress: '10.0.0.5', xff: '2001:db8:aa:bb::1' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '10.0.0.5', xff: '2001:db8:aa:bb:1234:5678:9abc:def0' }), 'UNAUTHENTICATED')
  t.equal(await attempt(app, { remoteAddress: '10.0.0.5', xff: '2001:db8:aa:bb::ffff' }), 'RATE_LIMITED', 'a new address in the same /64 is the same client')
  t.equal(await attempt(app, { remoteAddress: '10.0.0.5', xff: '2001:db8:aa:bc::1' }), 'UNAUTHENTICATED', 'the next /64 is not')

  const direct = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_IP: '1' } })
  t.equal(await attempt(direct.app, { remoteAddress: '2001:db8:cc:dd::1' }), 'UNAUTHENTICATED')
  t.equal(await attempt(direct.app, { remoteAddress: '2001:db8:cc:dd::2' }), 'RATE_LIMITED', 'a direct IPv6 peer too')
})
