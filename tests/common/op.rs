//! A real OpenID provider on loopback: discovery, JWKS, an authorization
//! endpoint that signs the configured person in at once, and a token
//! endpoint that checks the client secret, the redirect URI and the PKCE
//! verifier, consumes the code, and returns an RS256-signed ID token.
//!
//! It serves any issuer path: `/{tenant}/v2.0` is Entra-shaped (`tid`, `oid`,
//! `preferred_username`; a tenant named by domain answers with the GUID
//! issuer, as Entra does) and anything else is a generic provider. A test can
//! make the next ID token a forgery (`forge_next`) to attack the gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The tenant every Entra-shaped issuer belongs to.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "Xy8Q~client.secret_with-specials";

/// The person the provider signs in.
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: String,
    pub oid: String,
    pub email: Option<String>,
    pub preferred_username: String,
    pub given_name: String,
    pub family_name: String,
}

impl Person {
    pub fn new(email: &str) -> Person {
        Person {
            sub: format!("sub-{}", uuid::Uuid::new_v4().simple()),
            oid: uuid::Uuid::new_v4().to_string(),
            email: Some(email.to_string()),
            preferred_username: email.to_string(),
            given_name: "Grace".into(),
            family_name: "Hopper".into(),
        }
    }
}

/// How the next ID token is forged.
pub enum Forgery {
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 with the provider's public key (PEM) as the HMAC secret.
    Hs256WithPublicKey,
    /// RS256 by a key the provider never published, under its real `kid`.
    ForeignKey,
    /// RS256 by a key the provider never published, under an unknown `kid`.
    UnknownKid,
    /// Correctly signed, with the claims changed.
    Claims(Box<dyn Fn(&mut Value) + Send>),
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    challenge: String,
    issuer: String,
    person: Person,
}

struct SigningKey {
    kid: String,
    key: PKey<Private>,
}

struct OpState {
    base: String,
    person: Mutex<Person>,
    codes: Mutex<HashMap<String, Grant>>,
    /// Published keys; the first one signs.
    keys: Mutex<Vec<SigningKey>>,
    forgery: Mutex<Option<Forgery>>,
    /// Answer discovery with this body instead (broken provider).
    discovery_override: Mutex<Option<(u16, String)>>,
    token_requests: Mutex<u32>,
}

pub struct TestOp {
    pub base: String,
    state: Arc<OpState>,
    server: actix_web::dev::ServerHandle,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn new_key(kid: &str) -> SigningKey {
    SigningKey {
        kid: kid.to_string(),
        key: PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
    }
}

fn jwk(k: &SigningKey) -> Value {
    let rsa = k.key.rsa().unwrap();
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
           "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec())})
}

fn rs256(key: &PKey<Private>, kid: &str, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "RS256", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signer.sign_to_vec().unwrap()))
}

/// An Entra-shaped issuer path `/{tenant}/v2.0`: its tenant GUID.
fn entra_tenant(issuer_path: &str) -> Option<String> {
    let tenant = issuer_path.strip_suffix("/v2.0")?;
    (!tenant.contains('/')).then(|| {
        if tenant.contains('.') {
            TENANT.to_string() // a verified domain names the same directory
        } else {
            tenant.to_string()
        }
    })
}

impl OpState {
    fn issuer(&self, issuer_path: &str) -> String {
        match entra_tenant(issuer_path) {
            Some(tenant) => format!("{}/{tenant}/v2.0", self.base),
            None => format!("{}/{issuer_path}", self.base),
        }
    }

    fn discovery(&self, issuer_path: &str) -> HttpResponse {
        if let Some((status, body)) = self.discovery_override.lock().unwrap().clone() {
            return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .content_type("application/json")
                .body(body);
        }
        let issuer = self.issuer(issuer_path);
        let here = format!("{}/{issuer_path}", self.base);
        HttpResponse::Ok().json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{here}/authorize"),
            "token_endpoint": format!("{here}/token"),
            "jwks_uri": format!("{here}/keys"),
            "end_session_endpoint": format!("{here}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email"],
        }))
    }

    fn id_token(&self, grant: &Grant) -> String {
        let now = chrono::Utc::now().timestamp();
        let p = &grant.person;
        let mut claims = json!({
            "iss": grant.issuer, "aud": grant.client_id, "sub": p.sub,
            "iat": now, "nbf": now, "exp": now + 3600, "nonce": grant.nonce,
            "name": format!("{} {}", p.given_name, p.family_name),
            "given_name": p.given_name, "family_name": p.family_name,
            "preferred_username": p.preferred_username,
        });
        if let Some(email) = &p.email {
            claims["email"] = json!(email);
        }
        if let Some(tenant) = grant
            .issuer
            .strip_prefix(&format!("{}/", self.base))
            .and_then(entra_tenant)
        {
            claims["tid"] = json!(tenant);
            claims["oid"] = json!(p.oid);
            claims["ver"] = json!("2.0");
        }
        let keys = self.keys.lock().unwrap();
        let signing = &keys[0];
        match self.forgery.lock().unwrap().take() {
            None => rs256(&signing.key, &signing.kid, &claims),
            Some(Forgery::Claims(edit)) => {
                edit(&mut claims);
                rs256(&signing.key, &signing.kid, &claims)
            }
            Some(Forgery::AlgNone) => format!(
                "{}.{}.",
                b64(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            ),
            Some(Forgery::Hs256WithPublicKey) => {
                let public_pem = signing.key.public_key_to_pem().unwrap();
                let input = format!(
                    "{}.{}",
                    b64(json!({"alg": "HS256", "typ": "JWT", "kid": signing.kid})
                        .to_string()
                        .as_bytes()),
                    b64(claims.to_string().as_bytes())
                );
                let hmac = PKey::hmac(&public_pem).unwrap();
                let mut signer = Signer::new(MessageDigest::sha256(), &hmac).unwrap();
                signer.update(input.as_bytes()).unwrap();
                format!("{input}.{}", b64(&signer.sign_to_vec().unwrap()))
            }
            Some(Forgery::ForeignKey) => rs256(&new_key("x").key, &signing.kid, &claims),
            Some(Forgery::UnknownKid) => rs256(&new_key("x").key, "never-published", &claims),
        }
    }
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": error, "error_description": description}))
}

/// client_secret_basic (form-urlencoded parts, RFC 6749 2.3.1) or client_secret_post.
fn client_credentials(req: &HttpRequest, form: &TokenForm) -> Option<(String, String)> {
    if let Some(basic) = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(basic)
                .ok()?,
        )
        .ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((form.client_id.clone()?, form.client_secret.clone()?))
}

async fn authorize(
    state: web::Data<Arc<OpState>>,
    path: web::Path<String>,
    q: web::Query<AuthorizeQuery>,
) -> HttpResponse {
    let q = q.into_inner();
    let valid = q.response_type == "code"
        && q.code_challenge_method == "S256"
        && q.code_challenge.len() >= 43
        && q.scope.split(' ').any(|s| s == "openid")
        && !q.state.is_empty()
        && !q.nonce.is_empty();
    if !valid {
        return HttpResponse::BadRequest().body("bad authorization request");
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let grant = Grant {
        client_id: q.client_id,
        redirect_uri: q.redirect_uri.clone(),
        nonce: q.nonce,
        challenge: q.code_challenge,
        issuer: state.issuer(&path),
        person: state.person.lock().unwrap().clone(),
    };
    state.codes.lock().unwrap().insert(code.clone(), grant);
    let mut back = url::Url::parse(&q.redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    HttpResponse::Found()
        .insert_header(("location", back.to_string()))
        .finish()
}

async fn token(
    state: web::Data<Arc<OpState>>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    *state.token_requests.lock().unwrap() += 1;
    let form = form.into_inner();
    if form.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type", "");
    }
    let Some(grant) = state.codes.lock().unwrap().remove(&form.code) else {
        return oauth_error(
            "invalid_grant",
            "AADSTS54005: OAuth2 Authorization code was already redeemed",
        );
    };
    match client_credentials(&req, &form) {
        Some((id, secret)) if id == grant.client_id && secret == CLIENT_SECRET => {}
        _ => {
            return oauth_error(
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            )
        }
    }
    if form.redirect_uri != grant.redirect_uri {
        return oauth_error("invalid_grant", "redirect_uri mismatch");
    }
    if b64(&Sha256::digest(form.code_verifier.as_bytes())) != grant.challenge {
        return oauth_error(
            "invalid_grant",
            "AADSTS50148: The code_verifier does not match the code_challenge",
        );
    }
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer", "expires_in": 3600, "access_token": "opaque-access-token",
        "scope": "openid profile email", "id_token": state.id_token(&grant),
    }))
}

impl TestOp {
    pub async fn start(email: &str) -> TestOp {
        Self::start_with_workers(email, 1).await
    }

    /// More workers for load (each ID token is an RSA signature).
    pub async fn start_with_workers(email: &str, workers: usize) -> TestOp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(OpState {
            base: base.clone(),
            person: Mutex::new(Person::new(email)),
            codes: Mutex::new(HashMap::new()),
            keys: Mutex::new(vec![new_key("key-1")]),
            forgery: Mutex::new(None),
            discovery_override: Mutex::new(None),
            token_requests: Mutex::new(0),
        });
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/{issuer:.+}/.well-known/openid-configuration",
                    web::get().to(
                        |s: web::Data<Arc<OpState>>, p: web::Path<String>| async move {
                            s.discovery(&p)
                        },
                    ),
                )
                .route(
                    "/{issuer:.+}/keys",
                    web::get().to(|s: web::Data<Arc<OpState>>| async move {
                        let keys: Vec<Value> = s.keys.lock().unwrap().iter().map(jwk).collect();
                        HttpResponse::Ok().json(json!({ "keys": keys }))
                    }),
                )
                .route("/{issuer:.+}/authorize", web::get().to(authorize))
                .route("/{issuer:.+}/token", web::post().to(token))
        })
        .workers(workers)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        TestOp {
            base,
            state,
            server: handle,
        }
    }

    /// The issuer of the generic provider.
    pub fn generic_issuer(&self) -> String {
        format!("{}/generic", self.base)
    }

    pub fn set_person(&self, person: Person) {
        *self.state.person.lock().unwrap() = person;
    }

    pub fn person(&self) -> Person {
        self.state.person.lock().unwrap().clone()
    }

    pub fn forge_next(&self, forgery: Forgery) {
        *self.state.forgery.lock().unwrap() = Some(forgery);
    }

    /// Publishes a new signing key first (it signs from now on), keeping the old.
    pub fn rotate_keys(&self) {
        let kid = format!("key-{}", uuid::Uuid::new_v4().simple());
        self.state.keys.lock().unwrap().insert(0, new_key(&kid));
    }

    /// Makes discovery answer with this status and body (`None` restores it).
    pub fn break_discovery(&self, answer: Option<(u16, &str)>) {
        *self.state.discovery_override.lock().unwrap() = answer.map(|(s, b)| (s, b.to_string()));
    }

    pub fn token_requests(&self) -> u32 {
        *self.state.token_requests.lock().unwrap()
    }
}

impl Drop for TestOp {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}
