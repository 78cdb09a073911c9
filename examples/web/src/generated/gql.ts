/* eslint-disable */
import * as types from './graphql';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation LinkGoogle($idToken: String!, $password: String) {\n  linkGoogle(idToken: $idToken, password: $password) {\n    ...SessionUser\n  }\n}\n\nmutation UnlinkGoogle($password: String) {\n  unlinkGoogle(password: $password) {\n    ...SessionUser\n  }\n}\n\nmutation DeleteAccount($password: String) {\n  deleteAccount(password: $password)\n}\n\nquery SecurityEvents($first: Int) {\n  securityEvents(first: $first) {\n    type\n    createdAt\n    ip\n    userAgent\n    clientName\n    count\n  }\n}": typeof types.LinkGoogleDocument,
    "fragment GmailStatusFields on GmailStatus {\n  state\n  googleEmail\n  grantedScopes\n  missingScopes\n  accessTokenExpiresAt\n  connectedAt\n  lastRefreshedAt\n}\n\nquery GmailStatus {\n  gmailStatus {\n    ...GmailStatusFields\n  }\n}\n\nmutation ConnectGmail($input: ConnectGmailInput!) {\n  connectGmail(input: $input) {\n    status {\n      ...GmailStatusFields\n    }\n    warnings {\n      code\n      message\n    }\n  }\n}\n\nmutation DisconnectGmail {\n  disconnectGmail {\n    ...GmailStatusFields\n  }\n}\n\nquery GmailProfile {\n  gmailProfile {\n    emailAddress\n    messagesTotal\n    threadsTotal\n    historyId\n  }\n}": typeof types.GmailStatusFieldsFragmentDoc,
    "fragment SessionUser on User {\n  id\n  email\n  name\n  hasPassword\n  hasGoogle\n}\n\nfragment Tokens on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  sessionId\n  user {\n    ...SessionUser\n  }\n}\n\nmutation SignUp($input: SignUpInput!) {\n  signUp(input: $input) {\n    ...Tokens\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    ...Tokens\n  }\n}\n\nmutation Refresh($refreshToken: String, $client: ClientKind) {\n  refresh(refreshToken: $refreshToken, client: $client) {\n    ...Tokens\n  }\n}\n\nmutation Logout($everywhere: Boolean) {\n  logout(everywhere: $everywhere)\n}\n\nmutation SignInWithGoogle($idToken: String!, $client: ClientKind) {\n  signInWithGoogle(idToken: $idToken, client: $client) {\n    ...Tokens\n  }\n}\n\nquery Me {\n  me {\n    ...SessionUser\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!, $client: ClientKind) {\n  changePassword(input: $input, client: $client) {\n    ...Tokens\n  }\n}\n\nquery Sessions($first: Int) {\n  sessions(first: $first) {\n    id\n    clientKind\n    userAgent\n    ip\n    createdAt\n    lastUsedAt\n    expiresAt\n    current\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}": typeof types.SessionUserFragmentDoc,
};
const documents: Documents = {
    "mutation LinkGoogle($idToken: String!, $password: String) {\n  linkGoogle(idToken: $idToken, password: $password) {\n    ...SessionUser\n  }\n}\n\nmutation UnlinkGoogle($password: String) {\n  unlinkGoogle(password: $password) {\n    ...SessionUser\n  }\n}\n\nmutation DeleteAccount($password: String) {\n  deleteAccount(password: $password)\n}\n\nquery SecurityEvents($first: Int) {\n  securityEvents(first: $first) {\n    type\n    createdAt\n    ip\n    userAgent\n    clientName\n    count\n  }\n}": types.LinkGoogleDocument,
    "fragment GmailStatusFields on GmailStatus {\n  state\n  googleEmail\n  grantedScopes\n  missingScopes\n  accessTokenExpiresAt\n  connectedAt\n  lastRefreshedAt\n}\n\nquery GmailStatus {\n  gmailStatus {\n    ...GmailStatusFields\n  }\n}\n\nmutation ConnectGmail($input: ConnectGmailInput!) {\n  connectGmail(input: $input) {\n    status {\n      ...GmailStatusFields\n    }\n    warnings {\n      code\n      message\n    }\n  }\n}\n\nmutation DisconnectGmail {\n  disconnectGmail {\n    ...GmailStatusFields\n  }\n}\n\nquery GmailProfile {\n  gmailProfile {\n    emailAddress\n    messagesTotal\n    threadsTotal\n    historyId\n  }\n}": types.GmailStatusFieldsFragmentDoc,
    "fragment SessionUser on User {\n  id\n  email\n  name\n  hasPassword\n  hasGoogle\n}\n\nfragment Tokens on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  sessionId\n  user {\n    ...SessionUser\n  }\n}\n\nmutation SignUp($input: SignUpInput!) {\n  signUp(input: $input) {\n    ...Tokens\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    ...Tokens\n  }\n}\n\nmutation Refresh($refreshToken: String, $client: ClientKind) {\n  refresh(refreshToken: $refreshToken, client: $client) {\n    ...Tokens\n  }\n}\n\nmutation Logout($everywhere: Boolean) {\n  logout(everywhere: $everywhere)\n}\n\nmutation SignInWithGoogle($idToken: String!, $client: ClientKind) {\n  signInWithGoogle(idToken: $idToken, client: $client) {\n    ...Tokens\n  }\n}\n\nquery Me {\n  me {\n    ...SessionUser\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!, $client: ClientKind) {\n  changePassword(input: $input, client: $client) {\n    ...Tokens\n  }\n}\n\nquery Sessions($first: Int) {\n  sessions(first: $first) {\n    id\n    clientKind\n    userAgent\n    ip\n    createdAt\n    lastUsedAt\n    expiresAt\n    current\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}": types.SessionUserFragmentDoc,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation LinkGoogle($idToken: String!, $password: String) {\n  linkGoogle(idToken: $idToken, password: $password) {\n    ...SessionUser\n  }\n}\n\nmutation UnlinkGoogle($password: String) {\n  unlinkGoogle(password: $password) {\n    ...SessionUser\n  }\n}\n\nmutation DeleteAccount($password: String) {\n  deleteAccount(password: $password)\n}\n\nquery SecurityEvents($first: Int) {\n  securityEvents(first: $first) {\n    type\n    createdAt\n    ip\n    userAgent\n    clientName\n    count\n  }\n}"): typeof import('./graphql').LinkGoogleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment GmailStatusFields on GmailStatus {\n  state\n  googleEmail\n  grantedScopes\n  missingScopes\n  accessTokenExpiresAt\n  connectedAt\n  lastRefreshedAt\n}\n\nquery GmailStatus {\n  gmailStatus {\n    ...GmailStatusFields\n  }\n}\n\nmutation ConnectGmail($input: ConnectGmailInput!) {\n  connectGmail(input: $input) {\n    status {\n      ...GmailStatusFields\n    }\n    warnings {\n      code\n      message\n    }\n  }\n}\n\nmutation DisconnectGmail {\n  disconnectGmail {\n    ...GmailStatusFields\n  }\n}\n\nquery GmailProfile {\n  gmailProfile {\n    emailAddress\n    messagesTotal\n    threadsTotal\n    historyId\n  }\n}"): typeof import('./graphql').GmailStatusFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment SessionUser on User {\n  id\n  email\n  name\n  hasPassword\n  hasGoogle\n}\n\nfragment Tokens on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  sessionId\n  user {\n    ...SessionUser\n  }\n}\n\nmutation SignUp($input: SignUpInput!) {\n  signUp(input: $input) {\n    ...Tokens\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    ...Tokens\n  }\n}\n\nmutation Refresh($refreshToken: String, $client: ClientKind) {\n  refresh(refreshToken: $refreshToken, client: $client) {\n    ...Tokens\n  }\n}\n\nmutation Logout($everywhere: Boolean) {\n  logout(everywhere: $everywhere)\n}\n\nmutation SignInWithGoogle($idToken: String!, $client: ClientKind) {\n  signInWithGoogle(idToken: $idToken, client: $client) {\n    ...Tokens\n  }\n}\n\nquery Me {\n  me {\n    ...SessionUser\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!, $client: ClientKind) {\n  changePassword(input: $input, client: $client) {\n    ...Tokens\n  }\n}\n\nquery Sessions($first: Int) {\n  sessions(first: $first) {\n    id\n    clientKind\n    userAgent\n    ip\n    createdAt\n    lastUsedAt\n    expiresAt\n    current\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}"): typeof import('./graphql').SessionUserFragmentDoc;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
