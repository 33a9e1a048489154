// The certified npm `oidc-provider` (panva) on loopback, for tests/oidc_interop.rs.
//
// Environment:
//   PORT   the port to listen on (127.0.0.1 only; default 0: a free one the system picks)
//   EMAIL  the one account's email address; signing in is automatic
//   SUB    the account's subject (default: derived from EMAIL)
//   OID    its Entra object id (default: a fresh UUID)
//   TENANT Entra-shaped tenant id for the second mount (default below)
//
// Once listening it prints `listening on PORT` as its first line of stdout, so
// the test learns the port from the provider that holds it (a port picked
// before the start could be taken by another test's server in between).
//
// Two providers on one port:
//   http://127.0.0.1:PORT                   a generic OP, configured strictly by the spec:
//                                           the code flow's ID token carries only `sub`
//                                           (conformIdTokenClaims), email and profile
//                                           come from the userinfo endpoint
//   http://127.0.0.1:PORT/{TENANT}/v2.0     Entra-shaped: issuer path, `tid` and `oid`
//                                           claims, everything in the ID token
//
// Both: PKCE (S256) required for every client, client_secret_basic, open dynamic
// client registration (POST {issuer}/reg) so the test can register the gateway's
// redirect URI once the integration exists, and an interaction handler that logs the
// fixed account in and grants consent without a page.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';

// Quiet in test output: drop the two warnings that are expected here (Node 20 is
// older than the LTS oidc-provider 9 asks for; the in-memory adapter is what a
// throw-away test provider wants). Any other warning still shows.
const EXPECTED_WARNINGS = ['Unsupported runtime', 'in-memory adapter'];
const warn = console.warn.bind(console);
console.warn = (...args) => {
  if (EXPECTED_WARNINGS.some((w) => String(args[0]).includes(w))) return;
  warn(...args);
};
// Imported after the filter is in place: it warns while loading.
const { default: Provider } = await import('oidc-provider');

const EMAIL = process.env.EMAIL || 'ada@example.com';
const TENANT = process.env.TENANT || '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ENTRA_MOUNT = `/${TENANT}/v2.0`;

const SUB = process.env.SUB || `acct-${Buffer.from(EMAIL).toString('hex').slice(0, 24)}`;
const OID = process.env.OID || randomUUID();

function claimsOf(sub, entra) {
  return {
    sub,
    email: EMAIL,
    email_verified: true,
    given_name: 'Ada',
    family_name: 'Lovelace',
    name: 'Ada Lovelace',
    ...(entra ? { tid: TENANT, oid: OID, preferred_username: EMAIL } : {}),
  };
}

function configuration({ mount, entra }) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    async findAccount(_ctx, sub) {
      if (sub !== SUB) return undefined;
      return {
        accountId: sub,
        async claims() {
          return claimsOf(sub, entra);
        },
      };
    },
    claims: {
      openid: entra ? ['sub', 'tid', 'oid', 'preferred_username'] : ['sub'],
      email: ['email', 'email_verified'],
      profile: ['given_name', 'family_name', 'name'],
    },
    scopes: ['openid', 'email', 'profile'],
    // The strict reading of OIDC Core 5.4 for the generic OP; Entra puts everything
    // in the ID token.
    conformIdTokenClaims: !entra,
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    features: {
      devInteractions: { enabled: false },
      // Entra's client ids are GUIDs (and the gateway insists on that for `entra`).
      registration: { enabled: true, idFactory: () => randomUUID() },
      userinfo: { enabled: true },
    },
    interactions: {
      url(_ctx, interaction) {
        return `${mount}/interaction/${interaction.uid}`;
      },
    },
    ttl: { Session: 600, Interaction: 600, Grant: 600 },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

function provider({ mount, entra }) {
  const op = new Provider(`${ORIGIN}${mount}`, configuration({ mount, entra }));
  op.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
  return op;
}

// Logs the fixed account in and grants what the client asked for, in one step.
async function interaction(op, req, res) {
  try {
    const details = await op.interactionDetails(req, res);
    const { prompt, params } = details;
    if (prompt.name !== 'login' && prompt.name !== 'consent') {
      throw new Error(`unexpected prompt ${prompt.name}`);
    }
    const grant = details.grantId
      ? await op.Grant.find(details.grantId)
      : new op.Grant({ accountId: SUB, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope || 'openid'));
    const grantId = await grant.save();
    const result = { login: { accountId: SUB }, consent: { grantId } };
    await op.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (err) {
    console.error('interaction failed:', err);
    res.statusCode = 500;
    res.end(String(err));
  }
}

// Requests are served by the providers defined below; the port, which the
// issuers name, is known only once the server listens.
const handlers = new Map();
let generic;
const server = createServer((req, res) => {
  let op = generic;
  req.originalUrl = req.url;
  if (req.url === ENTRA_MOUNT || req.url.startsWith(`${ENTRA_MOUNT}/`)) {
    op = entra;
    req.url = req.url.slice(ENTRA_MOUNT.length) || '/';
  }
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interaction(op, req, res);
    return;
  }
  handlers.get(op)(req, res);
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve);
});
const PORT = server.address().port;
const ORIGIN = `http://127.0.0.1:${PORT}`;
generic = provider({ mount: '', entra: false });
const entra = provider({ mount: ENTRA_MOUNT, entra: true });
handlers.set(generic, generic.callback());
handlers.set(entra, entra.callback());
console.log(`listening on ${PORT}`);
