//! Pre-approved email domains: what an admin may type, and what we store.

use super::{invalid, RuleResult};

/// More than this many per team is almost surely a mistake (or abuse).
const MAX_DOMAINS_PER_TEAM: usize = 100;

/// Consumer mailbox providers: pre-approving one would let anyone on the
/// internet join the organization by signing in.
const PUBLIC_EMAIL_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
];

/// Lower-cases, trims, strips a leading `@`, converts international names to
/// their ASCII (punycode) form, de-duplicates and sorts; refuses anything
/// that is not a registrable host name.
pub fn normalize_domains(raw: &[String]) -> RuleResult<Vec<String>> {
    if raw.len() > MAX_DOMAINS_PER_TEAM {
        return Err(invalid(
            "preapproved_domains",
            format!("at most {MAX_DOMAINS_PER_TEAM} domains per team"),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for entry in raw {
        let domain = normalize_domain(entry)
            .map_err(|why| invalid("preapproved_domains", format!("{entry:?} {why}")))?;
        out.push(domain);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One domain, as `field` of a request.
pub(crate) fn normalize_one(field: &'static str, raw: &str) -> RuleResult<String> {
    normalize_domain(raw).map_err(|why| invalid(field, format!("{raw:?} {why}")))
}

fn normalize_domain(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_start_matches('@').trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("is empty".into());
    }
    if trimmed.contains("://") || trimmed.contains('/') {
        return Err("is a URL; enter only the domain, like example.com".into());
    }
    if trimmed.contains('@') {
        return Err("is an email address; enter only the part after @".into());
    }
    if trimmed.contains('*') {
        return Err("has a wildcard; list each domain itself (subdomains are not included)".into());
    }
    let ascii = match url::Host::parse(trimmed) {
        Ok(url::Host::Domain(d)) => d,
        Ok(_) => return Err("is an IP address, not a domain".into()),
        Err(_) => return Err("is not a valid domain name".into()),
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("needs a dot, like example.com".into());
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if ascii.len() > 253 || !labels.iter().all(label_ok) {
        return Err("is not a valid domain name".into());
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("is not a valid domain name".into());
    }
    if PUBLIC_EMAIL_PROVIDERS.contains(&ascii.as_str()) {
        return Err("is a public email provider; pre-approving it would let anyone with such an address join".into());
    }
    Ok(ascii)
}

/// The normalized domain of an email address (`None` if it has none).
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    match url::Host::parse(domain.trim_end_matches('.')) {
        Ok(url::Host::Domain(d)) => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<String, String> {
        normalize_domain(s)
    }

    #[test]
    fn accepts_and_normalizes_real_domains() {
        assert_eq!(one(" Example.COM ").unwrap(), "example.com");
        assert_eq!(one("@corp.example.co.uk").unwrap(), "corp.example.co.uk");
        assert_eq!(one("example.com.").unwrap(), "example.com");
        assert_eq!(one("bücher.example").unwrap(), "xn--bcher-kva.example");
        let list = normalize_domains(&["b.com".into(), "A.com".into(), "a.com".into()]).unwrap();
        assert_eq!(list, vec!["a.com", "b.com"]);
    }

    #[test]
    fn refuses_what_is_not_a_domain_with_a_reason() {
        for (input, why) in [
            ("", "empty"),
            ("https://example.com", "URL"),
            ("alice@example.com", "email"),
            ("*.example.com", "wildcard"),
            ("10.0.0.1", "IP"),
            ("localhost", "dot"),
            ("exa mple.com", "valid"),
            ("-bad.com", "valid"),
            ("example.123", "valid"),
            ("gmail.com", "public email provider"),
        ] {
            let err = one(input).unwrap_err();
            assert!(err.contains(why), "{input:?}: {err}");
        }
        let many: Vec<String> = (0..101).map(|i| format!("d{i}.com")).collect();
        assert!(normalize_domains(&many).is_err());
    }

    #[test]
    fn email_domains_compare_in_normalized_form() {
        assert_eq!(
            email_domain("Alice@Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            email_domain("bob@bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(email_domain("no-at-sign"), None);
    }
}
