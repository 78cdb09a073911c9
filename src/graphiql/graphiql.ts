import { createReadStream, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { introspectionFromSchema } from 'graphql'
import type { GraphQLSchema } from 'graphql'
import { repoRoot } from '../paths.ts'

const require = createRequire(import.meta.url)
// The UMD files are not in the packages' `exports`: resolve each package's folder through its package.json.
const inPackage = (pkg: string, file: string) => path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file)

/**
 * GraphiQL served by the server itself from packages installed with it (no CDN): it works offline and under
 * a strict CSP. Mercurius's own GraphiQL loads React and GraphiQL from unpkg.com, a blank page without network.
 * The UMD builds are the ones Mercurius pins (graphiql 3.8.3, React 18.3.1; React 19 ships no UMD build).
 */
const ASSETS = new Map<string, { file: string, type: string }>([
  ['react.production.min.js', { file: inPackage('react', 'umd/react.production.min.js'), type: 'text/javascript' }],
  ['react-dom.production.min.js', { file: inPackage('react-dom', 'umd/react-dom.production.min.js'), type: 'text/javascript' }],
  ['graphiql.min.js', { file: inPackage('graphiql', 'graphiql.min.js'), type: 'text/javascript' }],
  ['graphiql.min.css', { file: inPackage('graphiql', 'graphiql.min.css'), type: 'text/css' }],
  ['graphiql-page.js', { file: path.join(repoRoot, 'src', 'graphiql', 'graphiql-page.js'), type: 'text/javascript' }]
])

/**
 * - script-src 'self': the bundles and the boot script are files from this origin; GraphiQL 3 (CodeMirror 5)
 *   needs neither inline script nor eval.
 * - style-src 'self': GraphiQL's stylesheet; React and CodeMirror set styles through the CSSOM, which CSP allows.
 * - font-src / img-src data:: the stylesheet embeds its fonts (Roboto, Fira Code) and a few icons as data: URLs.
 * - connect-src 'self': queries go to /graphql on this origin only.
 */
export const GRAPHIQL_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "font-src 'self' data:", "img-src 'self' data:",
  "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

const HEADERS = JSON.stringify({ 'x-mercurius-operation-name': 'GraphiQL' }, null, 2)
const QUERY = `# inboxgate GraphiQL. Signed in through /auth/google?redirectTo=/graphiql? The refresh cookie is set:
# run Refresh, then add {"Authorization": "Bearer <accessToken>"} to the headers and run Me.
mutation Refresh { refresh { accessToken } }

query Me { me { email hasGoogle } }
`

const escapeAttribute = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

function page (endpoint: string): string {
  const scripts = ['react.production.min.js', 'react-dom.production.min.js', 'graphiql.min.js', 'graphiql-page.js']
    .map((f) => `<script src="/graphiql/assets/${f}" defer></script>`).join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inboxgate · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
${scripts}
</head>
<body>
<div id="graphiql" data-endpoint="${escapeAttribute(endpoint)}" data-headers="${escapeAttribute(HEADERS)}" data-query="${escapeAttribute(QUERY)}">Loading GraphiQL…</div>
</body>
</html>
`
}

export default async function graphiql (app: FastifyInstance, opts: { endpoint: string, schema: GraphQLSchema }): Promise<void> {
  // Fail at boot, not on the first page view, when an install lacks a bundle.
  for (const { file } of ASSETS.values()) {
    if (!existsSync(file)) throw new Error(`GraphiQL asset ${file} is missing: run npm install`)
  }
  const html = page(opts.endpoint)
  // GraphiQL's own introspection query nests 15 levels deep (ofType chains) and GRAPHQL_MAX_DEPTH (8) refuses it:
  // the page gets the same introspection from here instead, served only where introspection is allowed anyway.
  const introspection = JSON.stringify(introspectionFromSchema(opts.schema))

  app.get('/graphiql', async (_request, reply) => {
    return reply.type('text/html; charset=utf-8').header('content-security-policy', GRAPHIQL_CSP)
      .header('cache-control', 'no-cache').send(html)
  })
  app.get('/graphiql/schema.json', async (_request, reply) => {
    return reply.type('application/json').header('cache-control', 'no-cache').send(introspection)
  })
  app.get<{ Params: { name: string } }>('/graphiql/assets/:name', async (request, reply) => {
    const asset = ASSETS.get(request.params.name)
    if (asset == null) { reply.callNotFound(); return reply }
    return reply.type(asset.type).header('content-security-policy', GRAPHIQL_CSP)
      .header('x-content-type-options', 'nosniff').header('cache-control', 'public, max-age=3600')
      .send(createReadStream(asset.file))
  })
}
