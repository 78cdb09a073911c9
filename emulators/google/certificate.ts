import { randomBytes, sign, type KeyObject } from 'node:crypto'

// Google's /oauth2/v1/certs serves X.509 certificates, not bare public keys. Node can parse certificates
// but not make them, so this is the few DER bytes a self-signed RSA certificate needs.

const der = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts)
  if (body.length < 0x80) return Buffer.concat([Buffer.from([tag, body.length]), body])
  const hex = body.length.toString(16)
  const length = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')
  return Buffer.concat([Buffer.from([tag, 0x80 | length.length]), length, body])
}

const sequence = (...parts: Buffer[]) => der(0x30, ...parts)

const oid = (dotted: string) => {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number)
  const bytes = [first * 40 + second]
  for (const n of rest) {
    const groups = [n & 0x7f]
    for (let v = n >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80)
    bytes.push(...groups)
  }
  return der(0x06, Buffer.from(bytes))
}

// DER wants the shortest two's complement: no leading zero bytes unless the next byte has its top bit set
// (OpenSSL rejects a random serial starting with 0x00 as "illegal padding").
const integer = (bytes: Buffer) => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const minimal = bytes.subarray(start)
  return der(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal)
}

// UTCTime (YYMMDDHHMMSSZ) is valid until 2049, far enough for an emulator.
const utcTime = (date: Date) => der(0x17, Buffer.from(`${date.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`))

const name = (commonName: string) =>
  sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(commonName)))))

export const selfSignedCertificate = (
  privateKey: KeyObject, publicKey: KeyObject, commonName: string, notBefore: Date, notAfter: Date
): string => {
  const algorithm = sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00])) // sha256WithRSAEncryption
  const tbs = sequence(
    der(0xa0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(8)),
    algorithm,
    name(commonName),
    sequence(utcTime(notBefore), utcTime(notAfter)),
    name(commonName),
    publicKey.export({ type: 'spki', format: 'der' })
  )
  const signature = sign('sha256', tbs, privateKey)
  const certificate = sequence(tbs, algorithm, der(0x03, Buffer.concat([Buffer.from([0]), signature])))
  const lines = certificate.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}
