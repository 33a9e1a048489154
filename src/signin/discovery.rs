//! Home-realm discovery for the sign-in page: from a work email to the
//! integration(s) of the organization that has *verified* its domain.
//! Only a verified domain routes: a merely claimed one would let any
//! organization send `bigcorp.com`'s people to its own IdP.

use crate::provisioning::email_domain;
use crate::store::{Integration, Store, StoreResult};

/// Where an email's owner signs in.
#[derive(Debug)]
pub enum Door {
    /// What was typed is not an email address.
    NotAnEmail,
    /// No organization here has verified the domain (or it has no
    /// integration connected yet): the page says no more than that.
    NoSso {
        domain: String,
    },
    One(Integration),
    /// Several integrations of the organization: the person picks one.
    Choice(Vec<Integration>),
}

pub async fn find_door(store: &Store, email: &str) -> StoreResult<Door> {
    let email = email.trim();
    let Some(domain) = email_domain(email) else {
        return Ok(Door::NotAnEmail);
    };
    let Some(org_id) = Store::verified_domain_owner(store.pool(), &domain).await? else {
        return Ok(Door::NoSso { domain });
    };
    let mut integrations = store.integrations(&org_id).await?;
    Ok(match integrations.len() {
        0 => Door::NoSso { domain },
        1 => integrations.pop().map_or(Door::NoSso { domain }, Door::One),
        _ => Door::Choice(integrations),
    })
}
