//! Request bodies: always a JSON object.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A body struct read only from a JSON object. Serde's derive also fills a
/// struct from an array (`[null, null]` is a valid `UpdateTeam`), which the
/// document does not allow and no client means.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: Option<String>,
    }

    #[test]
    fn an_object_is_read_and_an_array_is_refused() {
        let Object(body) = serde_json::from_str::<Object<Body>>(r#"{"name": "x"}"#).unwrap();
        assert_eq!(body.name.as_deref(), Some("x"));
        let err = serde_json::from_str::<Object<Body>>("[null]")
            .err()
            .unwrap();
        assert!(err.is_data(), "{err}");
        assert!(err.to_string().contains("a JSON object"), "{err}");
        assert!(serde_json::from_str::<Object<Body>>(r#"{"other": 1}"#).is_err());
    }
}
