import fp from 'fastify-plugin'
import { GRANT_TYPE_TOKEN_EXCHANGE } from '../oauth/token-exchange.ts'
import { SIGNING_ALG } from './signing-keys.ts'

/*
 * What a backend needs to verify our access tokens with a standard library (jose's createRemoteJWKSet, any OIDC
 * client's discovery), and nothing that lets it mint one: public keys only, built member by member (kty, crv, x,
 * y, kid, alg, use), never from the private key object.
 */
export default fp(async (app) => {
  const issuer = app.config.PUBLIC_URL

  app.get('/.well-known/jwks.json', async (_request, reply) => {
    // Short caching: a new key signs at once after a rotation; verifiers fetch again on an unknown kid (jose does).
    reply.header('cache-control', 'public, max-age=300')
    return { keys: app.accessTokens.publicKeys().map(({ kty, crv, x, y, kid, alg, use }) => ({ kty, crv, x, y, kid, alg, use })) }
  })

  // OpenID Connect Discovery 1.0 / RFC 8414 metadata. This server is not an authorization server for third-party
  // clients (no authorization endpoint, no ID tokens of its own): the document exists to point at the keys and name
  // the issuer, the algorithm and the token-exchange endpoint.
  app.get('/.well-known/openid-configuration', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      token_endpoint: `${issuer}/oauth/token`,
      grant_types_supported: [GRANT_TYPE_TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [SIGNING_ALG],
      access_token_signing_alg_values_supported: [SIGNING_ALG]
    }
  })
}, { name: 'well-known', dependencies: ['access-tokens'] })
