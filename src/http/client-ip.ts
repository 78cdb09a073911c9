import { isIPv4, isIPv6 } from 'node:net'

/**
 * The key the per-IP limits count a client under: an IPv4 address as it is, an IPv6 address as its /64.
 * One IPv6 subscriber (home line, phone, cloud VM) is routinely handed a whole /64 and picks any address in it
 * at will, so keying by the full address would give each of them 2^64 fresh budgets.
 *
 * `ip` is `request.ip`: the socket's peer, or with TRUST_PROXY the address the trusted proxies reported.
 */
export function clientIpKey (ip: string): string {
  const address = ip.replace(/%.*$/, '') // a zone id (fe80::1%eth0) names our interface, not the client
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return ip
  const groups = expandIPv6(address)
  // IPv4-mapped (::ffff:a.b.c.d): a dual-stack socket's view of an IPv4 client, which is that IPv4 address.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a trailing dotted IPv4 part included). */
function expandIPv6 (address: string): number[] {
  let text = address.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted != null) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const parse = (part: string | undefined) => part == null || part === '' ? [] : part.split(':').map((g) => parseInt(g, 16))
  const left = parse(head)
  const right = parse(tail)
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/**
 * TRUST_PROXY as Fastify's `trustProxy`. Fastify 5.12 silently trusts nothing for a number (a hop count cannot
 * tell a proxy from a client that reached the server directly and wrote X-Forwarded-For itself), which behind a
 * load balancer would put every user in the balancer's bucket. A hop count here keeps its usual meaning instead:
 * the client is the address that many hops back from the socket. It is only sound when the server cannot be
 * reached except through those proxies (README: behind a load balancer); addresses/CIDRs check the proxy itself.
 */
export function trustProxyOption (value: false | number | string[]): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value
  if (value === 0) return false
  return (_address, hop) => hop < value
}
