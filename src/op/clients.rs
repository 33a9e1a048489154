//! The product's apps registered with the OP. A confidential client's secret
//! is shown once and stored as its SHA-256 (`secrets::token_hash`), like
//! every token here; a public client has none and must use PKCE S256.

use url::{Host, Url};

use crate::provisioning::limits::{self, bounded};
use crate::provisioning::{invalid, RuleError, RuleResult};
use crate::secrets::{new_token, token_hash, token_matches};
use crate::store::{new_id, now_ms, OpClient, Store, StoredClient};

/// Recognisable to secret scanners, like the gateway's other tokens.
pub const CLIENT_SECRET_PREFIX: &str = "sgw_cs_";
/// More would be a sign of a wildcard-by-enumeration.
const MAX_URIS: usize = 20;

/// What registering a client asks for.
pub struct NewClient<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    /// No secret: a browser or native app, which must use PKCE.
    pub public: bool,
}

/// A registered client and its secret (`None` for a public one), shown once.
pub struct Created {
    pub client: OpClient,
    pub client_secret: Option<String>,
}

/// A redirect URI the OP will send codes to: absolute, no fragment (RFC
/// 6749 §3.1.2), and https — or plain http to this machine only, for
/// native apps and development (RFC 8252 §7.3).
pub fn check_redirect_uri(field: &'static str, raw: &str) -> RuleResult<String> {
    bounded(field, raw, limits::URL)?;
    let url = Url::parse(raw)
        .map_err(|e| invalid(field, format!("{raw:?} is not an absolute URL: {e}")))?;
    if url.fragment().is_some() {
        return Err(invalid(field, format!("{raw:?} must not have a #fragment")));
    }
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                field,
                format!("{raw:?} must be https (or http on localhost/127.0.0.1)"),
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            field,
            format!("{raw:?} must not carry credentials"),
        ));
    }
    // Stored as given: the authorization request must repeat it exactly.
    Ok(raw.to_string())
}

fn check_uris(field: &'static str, uris: &[String], required: bool) -> RuleResult<Vec<String>> {
    if required && uris.is_empty() {
        return Err(invalid(field, "at least one URI is needed"));
    }
    if uris.len() > MAX_URIS {
        return Err(invalid(field, format!("at most {MAX_URIS} URIs")));
    }
    let mut checked: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        let uri = check_redirect_uri(field, uri)?;
        if !checked.contains(&uri) {
            checked.push(uri);
        }
    }
    Ok(checked)
}

fn check_name(raw: &str) -> RuleResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    bounded("name", name, limits::NAME)?;
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(name.to_string())
}

pub async fn create(store: &Store, new: &NewClient<'_>) -> RuleResult<Created> {
    let client = OpClient {
        id: new_id(),
        name: check_name(new.name)?,
        public: new.public,
        redirect_uris: check_uris("redirect_uris", new.redirect_uris, true)?,
        post_logout_redirect_uris: check_uris(
            "post_logout_redirect_uris",
            new.post_logout_redirect_uris,
            false,
        )?,
        created_at: now_ms(),
    };
    let client_secret = (!new.public).then(|| new_token(CLIENT_SECRET_PREFIX));
    store
        .insert_op_client(&client, client_secret.as_deref().map(token_hash).as_deref())
        .await?;
    Ok(Created {
        client,
        client_secret,
    })
}

pub async fn delete(store: &Store, id: &str) -> RuleResult<()> {
    if store.delete_op_client(id).await? {
        Ok(())
    } else {
        Err(RuleError::NotFound("client"))
    }
}

/// Whether `presented` is this client's secret (constant time).
pub fn secret_matches(client: &StoredClient, presented: &str) -> bool {
    client
        .secret_hash
        .as_deref()
        .is_some_and(|stored| token_matches(presented, stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::test_store;

    #[test]
    fn redirect_uris_are_absolute_fragment_free_and_https_or_loopback() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=1",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            assert_eq!(check_redirect_uri("redirect_uris", ok).unwrap(), ok);
        }
        for bad in [
            "/callback",
            "app.example.com/cb",
            "https://app.example.com/cb#x",
            "http://app.example.com/cb",
            "javascript:alert(1)",
            "custom-scheme:/cb",
            "https://user:pw@app.example.com/cb",
            "",
        ] {
            assert!(
                matches!(
                    check_redirect_uri("redirect_uris", bad),
                    Err(RuleError::Invalid {
                        field: "redirect_uris",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_client_is_stored_with_its_secret_hashed_and_can_be_deleted() {
        let t = test_store().await;
        let store = &t.store;
        let uris = vec!["https://app.example.com/cb".to_string()];
        let created = create(
            store,
            &NewClient {
                name: " App ",
                redirect_uris: &uris,
                post_logout_redirect_uris: &[],
                public: false,
            },
        )
        .await
        .unwrap();
        let secret = created.client_secret.unwrap();
        assert!(secret.starts_with(CLIENT_SECRET_PREFIX));
        let stored = store.op_client(&created.client.id).await.unwrap().unwrap();
        assert_eq!(stored.client.name, "App");
        assert_eq!(stored.client.redirect_uris, uris);
        assert!(!stored.client.public);
        assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
        assert!(secret_matches(&stored, &secret));
        assert!(!secret_matches(&stored, "sgw_cs_wrong"));

        let public = create(
            store,
            &NewClient {
                name: "SPA",
                redirect_uris: &uris,
                post_logout_redirect_uris: &uris,
                public: true,
            },
        )
        .await
        .unwrap();
        assert!(public.client_secret.is_none());
        let stored = store.op_client(&public.client.id).await.unwrap().unwrap();
        assert!(stored.client.public);
        assert!(!secret_matches(&stored, ""));
        assert_eq!(store.op_clients().await.unwrap().len(), 2);

        delete(store, &created.client.id).await.unwrap();
        assert!(matches!(
            delete(store, &created.client.id).await,
            Err(RuleError::NotFound("client"))
        ));
        assert!(matches!(
            create(
                store,
                &NewClient {
                    name: "No URIs",
                    redirect_uris: &[],
                    post_logout_redirect_uris: &[],
                    public: false,
                },
            )
            .await,
            Err(RuleError::Invalid {
                field: "redirect_uris",
                ..
            })
        ));
    }
}
