import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'

/**
 * Where a webhook may be sent. An endpoint URL is typed by an operator, and DNS can change after it was checked:
 * with PRODUCTION=true it must be https and every address it resolves to (checked again at each delivery) must be
 * public — not loopback, private, link-local (the cloud metadata service), CGNAT, multicast or unspecified.
 */
// IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are checked against the IPv4 rules by BlockList itself.
const BLOCKED = new BlockList()
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) BLOCKED.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) BLOCKED.addSubnet(net, prefix, 'ipv6')

export class EndpointUrlError extends Error {
  override name = 'EndpointUrlError'
}

/** The syntactic part, at registration: a URL, http(s) only, no credentials in it, https in production. */
export function checkEndpointUrl (raw: string, production: boolean): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new EndpointUrlError('the endpoint must be an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new EndpointUrlError('the endpoint must be an http(s) URL')
  if (production && url.protocol !== 'https:') throw new EndpointUrlError('the endpoint must be https with PRODUCTION=true')
  if (url.username !== '' || url.password !== '') throw new EndpointUrlError('the endpoint URL may not carry credentials')
  if (url.hash !== '') throw new EndpointUrlError('the endpoint URL may not have a fragment')
  return url
}

const blocked = (address: string) => BLOCKED.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')

/** At delivery (production): every address the host resolves to must be public. */
export async function checkEndpointAddresses (url: URL): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const addresses = isIP(host) !== 0 ? [host] : (await lookup(host, { all: true, verbatim: true })).map(a => a.address)
  if (addresses.length === 0 || addresses.some(blocked)) throw new EndpointUrlError('the endpoint resolves to a non-public address')
}
