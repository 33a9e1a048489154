// A relying party built on the certified openid-client (panva), driven by
// tests/op.rs one step per run, answering one JSON line on stdout:
//
//   node rp.mjs start   -> {"url", "code_verifier", "state", "nonce"}
//   node rp.mjs finish  -> {"claims", "userinfo", "access_token", "id_token"}
//                          or {"error": {"name", "code", "error", "status"}}
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET (absent: a public client),
// AUTH (basic | post; default basic), REDIRECT_URI, EXTRA (JSON object of
// further authorization parameters); for `finish` also CALLBACK_URL,
// CODE_VERIFIER, STATE, NONCE.
import * as client from 'openid-client';

const env = process.env;

async function configuration() {
  const auth = !env.CLIENT_SECRET
    ? client.None()
    : env.AUTH === 'post'
      ? client.ClientSecretPost(env.CLIENT_SECRET)
      : client.ClientSecretBasic(env.CLIENT_SECRET);
  // The gateway under test listens on plain http on loopback.
  return client.discovery(new URL(env.ISSUER), env.CLIENT_ID, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
}

async function start() {
  const config = await configuration();
  const code_verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.REDIRECT_URI,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...JSON.parse(env.EXTRA || '{}'),
  });
  return { url: url.href, code_verifier, state, nonce };
}

async function finish() {
  const config = await configuration();
  const tokens = await client.authorizationCodeGrant(config, new URL(env.CALLBACK_URL), {
    pkceCodeVerifier: env.CODE_VERIFIER,
    expectedState: env.STATE,
    expectedNonce: env.NONCE,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  return { claims, userinfo, access_token: tokens.access_token, id_token: tokens.id_token };
}

const steps = { start, finish };
try {
  const step = steps[process.argv[2]];
  if (!step) throw new Error(`unknown step ${process.argv[2]}`);
  console.log(JSON.stringify(await step()));
} catch (e) {
  console.log(JSON.stringify({
    error: { name: e.name, code: e.code, error: e.error, status: e.status, message: e.message },
  }));
}
