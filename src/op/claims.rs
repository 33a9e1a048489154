//! What the ID token and `/oauth2/userinfo` say about the person (SPEC).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::{Member, Organization};

/// Every claim the OP issues, for discovery.
pub const SUPPORTED: [&str; 16] = [
    "iss",
    "aud",
    "sub",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "org_id",
    "org_name",
    "role",
    "teams",
    "nonce",
    "auth_time",
    "iat",
    "exp",
];

/// The person, in one organization: userinfo's answer and the core of the
/// ID token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Person {
    /// The gateway's user id: stable across organizations and email changes.
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    pub org_id: String,
    pub org_name: String,
    pub role: String,
    /// Team names.
    pub teams: Vec<String>,
}

impl Person {
    /// `email_verified`: whether `org` has verified the email's domain
    /// (`provisioning::vouches_for`; SPEC: true only then).
    pub fn of(member: Member, org: &Organization, email_verified: bool) -> Person {
        let name = member.display_name.clone().or_else(|| {
            let parts: Vec<&str> = [&member.given_name, &member.family_name]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        Person {
            email_verified,
            sub: member.id,
            email: member.email,
            name,
            given_name: member.given_name,
            family_name: member.family_name,
            org_id: org.id.clone(),
            org_name: org.name.clone(),
            role: member.role.as_str().to_string(),
            teams: member.teams.into_iter().map(|t| t.name).collect(),
        }
    }

    /// The claims as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A struct of strings always serializes to an object.
            _ => Map::new(),
        }
    }
}

/// The token-specific claims beside the person's.
pub struct IdTokenContext<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub nonce: Option<&'a str>,
    /// Unix seconds.
    pub auth_time: i64,
    pub issued_at: i64,
    pub lifetime_seconds: i64,
}

/// The ID token's claims: the person's and the token's own.
pub fn id_token_claims(person: &Person, context: &IdTokenContext<'_>) -> Map<String, Value> {
    let mut claims = person.to_map();
    claims.insert("iss".into(), context.issuer.into());
    claims.insert("aud".into(), context.audience.into());
    if let Some(nonce) = context.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    claims.insert("auth_time".into(), context.auth_time.into());
    claims.insert("iat".into(), context.issued_at.into());
    claims.insert(
        "exp".into(),
        (context.issued_at + context.lifetime_seconds).into(),
    );
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemberTeam, Role};

    fn member(display: Option<&str>, given: Option<&str>, family: Option<&str>) -> Member {
        Member {
            id: "u1".into(),
            email: "ada@example.com".into(),
            given_name: given.map(Into::into),
            family_name: family.map(Into::into),
            display_name: display.map(Into::into),
            role: Role::Admin,
            scim_managed: false,
            teams: vec![MemberTeam {
                id: "t1".into(),
                name: "Engineering".into(),
            }],
            joined_at: 0,
        }
    }

    #[test]
    fn claims_carry_the_person_the_organization_and_the_token() {
        let org = Organization {
            id: "o1".into(),
            name: "Acme".into(),
            created_at: 0,
        };
        let person = Person::of(member(None, Some("Ada"), Some("Lovelace")), &org, false);
        assert_eq!(person.name.as_deref(), Some("Ada Lovelace"));
        assert!(!person.email_verified);
        let claims = id_token_claims(
            &person,
            &IdTokenContext {
                issuer: "https://sso.example.com",
                audience: "client-1",
                nonce: Some("n-1"),
                auth_time: 100,
                issued_at: 200,
                lifetime_seconds: 3600,
            },
        );
        for (claim, value) in [
            ("iss", Value::from("https://sso.example.com")),
            ("aud", "client-1".into()),
            ("sub", "u1".into()),
            ("org_id", "o1".into()),
            ("org_name", "Acme".into()),
            ("role", "admin".into()),
            ("teams", serde_json::json!(["Engineering"])),
            ("nonce", "n-1".into()),
            ("auth_time", 100.into()),
            ("exp", 3800.into()),
        ] {
            assert_eq!(claims.get(claim), Some(&value), "{claim}");
        }
        assert!(claims.keys().all(|k| SUPPORTED.contains(&k.as_str())));
        // A display name wins; with no name at all there is no `name` claim.
        let shown = Person::of(member(Some("Countess"), Some("Ada"), None), &org, true);
        assert_eq!(shown.name.as_deref(), Some("Countess"));
        let nameless = Person::of(member(None, None, None), &org, false);
        assert!(!nameless.to_map().contains_key("name"));
    }
}
