//! A SCIM client for one integration's tenant URL and token, as an IdP is.

use serde_json::{json, Value};

use super::idp::TestIdp;
use super::Gateway;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM client holding one integration's tenant URL and token.
pub struct Scim {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Scim {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Like `call`, but a transport failure (gateway down) is an `Err`, as a
    /// retrying IdP sees it.
    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        if status != 204 {
            let content_type = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert!(
                content_type.starts_with("application/scim+json"),
                "{path}: {status} {content_type}"
            );
        }
        let text = res.text().await?;
        Ok((
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        ))
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
        )
        .await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

/// An organization with an Okta integration and provisioning turned on.
pub async fn tenant(gw: &Gateway, idp: &TestIdp, org: &str) -> (String, Scim) {
    let (_, token) = gw.create_org(org);
    let api = gw.api(&token);
    let integration = api.connect_okta(idp).await;
    let (status, creds) = api
        .post(
            &format!(
                "/integrations/{}/provisioning",
                integration["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let scim = Scim {
        http: gw.http.clone(),
        base: creds["tenant_url"].as_str().unwrap().to_string(),
        token: creds["token"].as_str().unwrap().to_string(),
    };
    (token, scim)
}
