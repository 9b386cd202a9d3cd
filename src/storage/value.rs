//! Parameters and result values, the same on both backends. Nulls keep their type, because
//! PostgreSQL needs one for every parameter.

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// A parameter or a column's value; `None` is a typed NULL.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer (ids, counts, booleans, timestamps in microseconds).
    Int(Option<i64>),
    /// A floating-point number.
    Real(Option<f64>),
    /// Text.
    Text(Option<String>),
    /// Bytes (ciphertexts, wrapped keys).
    Blob(Option<Vec<u8>>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Int(None) | Value::Real(None) | Value::Text(None) | Value::Blob(None) => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

macro_rules! value_from {
    ($variant:ident: $($t:ty => $conv:expr),* $(,)?) => {
        $(
            impl From<$t> for Value {
                fn from(v: $t) -> Self {
                    Value::$variant(Some($conv(v)))
                }
            }
            impl From<Option<$t>> for Value {
                fn from(v: Option<$t>) -> Self {
                    Value::$variant(v.map($conv))
                }
            }
        )*
    };
}

value_from!(Int:
    i64 => |v| v,
    i32 => i64::from,
    u32 => i64::from,
    bool => i64::from,
    Timestamp => |t: Timestamp| t.as_micros(),
);
value_from!(Real: f64 => |v| v);
value_from!(Text:
    String => |v| v,
    &str => str::to_string,
    &String => |v: &String| v.clone(),
);
value_from!(Blob:
    Vec<u8> => |v| v,
    &[u8] => <[u8]>::to_vec,
);

impl From<u64> for Value {
    /// Counts and limits; saturates at `i64::MAX`.
    fn from(v: u64) -> Self {
        Value::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    /// The value of column `idx` as `T`.
    pub fn get<T: FromValue>(&self, idx: usize) -> Result<T> {
        let value = self
            .0
            .get(idx)
            .ok_or_else(|| Error::Internal(format!("no column {idx} in the result")))?;
        T::from_value(value).map_err(|e| Error::Internal(format!("column {idx}: {e}")))
    }

    /// Moves the text of column `idx` out of the row instead of copying it: for large reads
    /// (an evidence export) that would otherwise hold every text twice.
    pub fn take_text(&mut self, idx: usize) -> Result<String> {
        match self.0.get_mut(idx) {
            Some(Value::Text(text @ Some(_))) => Ok(text.take().unwrap_or_default()),
            Some(other) => Err(Error::Internal(format!(
                "column {idx}: {}",
                expected("text", other)
            ))),
            None => Err(Error::Internal(format!("no column {idx} in the result"))),
        }
    }
}

/// A Rust type a column can be read as.
pub trait FromValue: Sized {
    /// The value as this type; the error says what was found instead.
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

fn expected(what: &str, got: &Value) -> String {
    format!("expected {what}, found {}", got.kind())
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(Some(i)) => Ok(*i),
            other => Err(expected("an integer", other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(Some(f)) => Ok(*f),
            Value::Int(Some(i)) => Ok(*i as f64),
            other => Err(expected("a number", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(Some(s)) => Ok(s.clone()),
            other => Err(expected("text", other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(Some(b)) => Ok(b.clone()),
            other => Err(expected("bytes", other)),
        }
    }
}

impl FromValue for Timestamp {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        i64::from_value(v).map(Timestamp::from_micros)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(None) | Value::Real(None) | Value::Text(None) | Value::Blob(None) => {
                Ok(None)
            }
            other => T::from_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_their_types() {
        let row = Row(vec![
            Value::from(7i64),
            Value::from("x"),
            Value::from(None::<String>),
            Value::from(true),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 7);
        assert_eq!(row.get::<String>(1).unwrap(), "x");
        assert_eq!(row.get::<Option<String>>(2).unwrap(), None);
        assert!(row.get::<bool>(3).unwrap());
        let err = row.get::<i64>(1).unwrap_err().to_string();
        assert!(
            err.contains("column 1: expected an integer, found text"),
            "{err}"
        );
        assert!(row.get::<i64>(9).is_err());
    }
}
