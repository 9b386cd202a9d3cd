//! The three kinds of type every domain module declares, written once: database ids
//! ([`id_type!`]), string-backed enums with a stored name and a label ([`named_enum!`]), and
//! strings that exist only once parsed ([`parsed_string!`]).
//!
//! The macros write the boilerplate (conversions, `Display`, serde, storage); the rules stay
//! beside each type, in its own `parse`.

use crate::identity::InputError;

/// How an unknown name is answered, so each enum keeps the sentence its callers know.
#[derive(Clone, Copy, Debug)]
pub enum Choices {
    /// "'x' is not one of: a, b, c"
    OneOf,
    /// "'x' is not a, b or c"
    Either,
    /// "'x' is not a role (a, b or c)"
    Named(&'static str),
}

/// The error for a name that is none of `names`.
pub fn unknown_name(field: &str, given: &str, choices: Choices, names: &[&str]) -> InputError {
    let either = match names {
        [] => String::new(),
        [only] => (*only).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    let message = match choices {
        Choices::OneOf => format!("'{given}' is not one of: {}", names.join(", ")),
        Choices::Either => format!("'{given}' is not {either}"),
        Choices::Named(noun) => format!("'{given}' is not {noun} ({either})"),
    };
    InputError::new(field, message)
}

/// Declares an id: a positive integer the database assigned. `new` refuses anything else, so
/// an id in hand always names a row that could exist.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// The id `raw`, if it is positive.
            pub fn new(raw: i64) -> Result<Self, $crate::identity::InputError> {
                if raw > 0 {
                    Ok(Self(raw))
                } else {
                    Err($crate::identity::InputError::new(
                        "id",
                        format!("'{raw}' is not an id"),
                    ))
                }
            }

            /// The number, for queries and URLs.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = $crate::identity::InputError;

            fn try_from(raw: i64) -> Result<Self, Self::Error> {
                Self::new(raw)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::identity::InputError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| Self::new(n).ok())
                    .ok_or_else(|| {
                        $crate::identity::InputError::new("id", format!("'{s}' is not an id"))
                    })
            }
        }

        #[cfg(feature = "server")]
        impl From<$name> for $crate::storage::Value {
            fn from(id: $name) -> Self {
                $crate::storage::Value::from(id.0)
            }
        }

        #[cfg(feature = "server")]
        impl From<Option<$name>> for $crate::storage::Value {
            fn from(id: Option<$name>) -> Self {
                $crate::storage::Value::from(id.map(|id| id.0))
            }
        }

        #[cfg(feature = "server")]
        impl $crate::storage::FromValue for $name {
            fn from_value(v: &$crate::storage::Value) -> Result<Self, String> {
                let raw = i64::from_value(v)?;
                Self::new(raw).map_err(|e| e.message)
            }
        }
    };
}
pub(crate) use id_type;

/// Declares a string-backed enum: each variant's stored name and label, `ALL`, `Display`,
/// `FromStr` (answering an unknown name as `$choices` says), serde by stored name, and storage.
macro_rules! named_enum {
    (
        $(#[$doc:meta])* $name:ident, field = $field:literal, choices = $choices:expr, {
            $($(#[$vdoc:meta])* $variant:ident => ($stored:literal, $label:literal)),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $stored)] $variant),+
        }

        impl $name {
            /// Every value, in the order they are offered.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The name stored in the database and used in URLs and files.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $stored),+ }
            }

            /// The name a person reads.
            pub const fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::identity::InputError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let given = s.trim();
                $name::ALL.iter().copied().find(|v| v.as_str() == given).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    $crate::declare::unknown_name($field, given, $choices, &names)
                })
            }
        }

        #[cfg(feature = "server")]
        impl From<$name> for $crate::storage::Value {
            fn from(v: $name) -> Self {
                $crate::storage::Value::from(v.as_str())
            }
        }

        #[cfg(feature = "server")]
        impl From<Option<$name>> for $crate::storage::Value {
            fn from(v: Option<$name>) -> Self {
                $crate::storage::Value::from(v.map(|v| v.as_str()))
            }
        }

        #[cfg(feature = "server")]
        impl $crate::storage::FromValue for $name {
            fn from_value(v: &$crate::storage::Value) -> Result<Self, String> {
                let stored = String::from_value(v)?;
                stored.parse().map_err(|e: $crate::identity::InputError| {
                    format!("a stored {} is invalid: {}", $field, e.message)
                })
            }
        }
    };
}
pub(crate) use named_enum;

/// Declares a string that exists only once parsed: a private field, `as_str`, `Display`, serde
/// through the parser (`try_from`), and storage. The type's own `parse` holds its rules;
/// `$parse` is how a bare string (a form field, a JSON value, a stored row) is parsed.
macro_rules! parsed_string {
    ($(#[$doc:meta])* $name:ident, parse = $parse:expr) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The parsed text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::identity::InputError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                let parse: fn(&str) -> Result<$name, $crate::identity::InputError> = $parse;
                parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        #[cfg(feature = "server")]
        impl From<&$name> for $crate::storage::Value {
            fn from(v: &$name) -> Self {
                $crate::storage::Value::from(v.as_str())
            }
        }

        #[cfg(feature = "server")]
        impl $crate::storage::FromValue for $name {
            fn from_value(v: &$crate::storage::Value) -> Result<Self, String> {
                let stored = String::from_value(v)?;
                <$name>::try_from(stored).map_err(|e| e.to_string())
            }
        }
    };
}
pub(crate) use parsed_string;

#[cfg(test)]
mod tests {
    use super::*;

    id_type!(
        /// A test id.
        SampleId
    );

    named_enum!(
        /// A test enum.
        Colour, field = "colour", choices = Choices::Named("a colour"), {
            Red => ("red", "Red"),
            DarkBlue => ("dark_blue", "Dark blue"),
        }
    );

    #[test]
    fn ids_are_positive() {
        assert!(SampleId::new(1).is_ok());
        assert_eq!(SampleId::new(0).unwrap_err().message, "'0' is not an id");
        assert!(SampleId::new(-3).is_err());
        assert!("-3".parse::<SampleId>().is_err());
        assert_eq!(" 7 ".parse::<SampleId>().unwrap().get(), 7);
        assert!(serde_json::from_str::<SampleId>("0").is_err());
        assert_eq!(serde_json::from_str::<SampleId>("9").unwrap().get(), 9);
    }

    #[test]
    fn named_enums_round_trip_and_name_the_choices() {
        for c in Colour::ALL {
            assert_eq!(c.as_str().parse::<Colour>().unwrap(), c);
        }
        assert_eq!(
            serde_json::to_string(&Colour::DarkBlue).unwrap(),
            "\"dark_blue\""
        );
        assert_eq!(
            "green".parse::<Colour>().unwrap_err().to_string(),
            "colour: 'green' is not a colour (red or dark_blue)"
        );
    }

    #[test]
    fn unknown_names_are_answered_in_the_form_asked_for() {
        let names = ["a", "b", "c"];
        let say = |c| unknown_name("f", "x", c, &names).message;
        assert_eq!(say(Choices::OneOf), "'x' is not one of: a, b, c");
        assert_eq!(say(Choices::Either), "'x' is not a, b or c");
        assert_eq!(
            say(Choices::Named("a thing")),
            "'x' is not a thing (a, b or c)"
        );
    }
}
