//! OAuth parameters of a query string or form body (RFC 6749 §3.1): a
//! parameter sent without a value counts as absent, and one sent twice is
//! an error the caller reports.

use std::collections::HashMap;

pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    /// `application/x-www-form-urlencoded` text: a query string or a form body.
    pub fn parse(raw: &str) -> Params {
        let mut values = HashMap::new();
        let mut repeated = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            if values
                .insert(name.to_string(), value.into_owned())
                .is_some()
                && !repeated.contains(&name.to_string())
            {
                repeated.push(name.into_owned());
            }
        }
        Params { values, repeated }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// The first repeated parameter, if any.
    pub fn first_repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_noticed() {
        let p = Params::parse("a=1&b=&c=x%20y&a=2&d=+");
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.get("d"), Some(" "));
        assert!(p.is_repeated("a"));
        assert!(!p.is_repeated("c"));
        assert_eq!(p.first_repeated(), Some("a"));
        assert!(Params::parse("").first_repeated().is_none());
    }
}
