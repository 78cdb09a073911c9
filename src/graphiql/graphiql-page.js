/* global React, ReactDOM, GraphiQL */
// GraphiQL's boot script, served from /graphiql/assets/ after React, ReactDOM and GraphiQL (all from this
// server's node_modules): a file, not an inline <script>, so the page's CSP can say script-src 'self'.
const root = document.getElementById('graphiql')
// Inline style attributes would need style-src 'unsafe-inline'; the CSSOM is not governed by the CSP.
document.body.style.margin = '0'
root.style.height = '100vh'

const fetcher = GraphiQL.createFetcher({ url: new URL(root.dataset.endpoint, window.location.href).href })

async function start () {
  // The schema comes from the server, not from GraphiQL's introspection query (too deep for GRAPHQL_MAX_DEPTH).
  const response = await fetch(new URL('/graphiql/schema.json', window.location.href))
  const schema = response.ok ? await response.json() : undefined
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {
    fetcher,
    schema,
    // The CSRF header the refresh cookie needs (README, "Sign in with Google in the browser"): not a secret, and
    // this page only talks to its own origin. Authorization is left for the user to add.
    defaultHeaders: root.dataset.headers,
    // Headers are not persisted: a pasted Bearer token would otherwise outlive the tab in localStorage.
    shouldPersistHeaders: false,
    defaultQuery: root.dataset.query
  }))
}

start().catch((err) => { root.textContent = `GraphiQL failed to start: ${err}` })
