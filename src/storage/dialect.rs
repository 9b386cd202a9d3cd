//! The SQL that differs between the backends where a person would see the difference: how text
//! is matched, how names sort, how a planner is steered. Queries are written once and ask the
//! dialect for these pieces, so no domain module branches on the backend.

use super::Backend;

/// The pieces of SQL that differ between SQLite and PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect(Backend);

impl Dialect {
    /// The dialect of `backend`.
    pub fn of(backend: Backend) -> Self {
        Self(backend)
    }

    /// `column` with ASCII letters lowercased, and nothing else changed: SQLite's `LOWER`
    /// does exactly that, PostgreSQL's follows the server's locale unless told to use bytes.
    /// Compare it with a pattern lowercased by [`ascii_lowercase`](str::to_ascii_lowercase), and
    /// both backends match the same rows.
    pub fn ascii_lower(self, column: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("LOWER({column})"),
            Backend::Postgres => format!("LOWER({column} COLLATE \"C\")"),
        }
    }

    /// An `ORDER BY` list for names: case-insensitive (ASCII), then by bytes, so that both
    /// backends sort the same names the same way. Left alone, SQLite sorts by bytes (capitals
    /// first) and PostgreSQL by the server's locale.
    pub fn name_order(self, column: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("LOWER({column}), {column}"),
            Backend::Postgres => {
                format!("LOWER({column} COLLATE \"C\"), {column} COLLATE \"C\"")
            }
        }
    }

    /// [`Dialect::name_order`] in Rust, for rows merged from several queries: the key that
    /// sorts names the way that `ORDER BY` does on both backends.
    pub fn name_key(name: &str) -> (String, &str) {
        (name.to_ascii_lowercase(), name)
    }

    /// Tells the planner to reach `table` through `index` (written after the table's name and
    /// alias). SQLite plans without statistics and needs the hint where a query reads a table
    /// per row of another; PostgreSQL plans from its statistics and gets nothing.
    pub fn index_hint(self, index: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("INDEXED BY {index} "),
            Backend::Postgres => String::new(),
        }
    }

    /// The query that `words` appear in order in the consumers' search text, the last one as a
    /// prefix ("ops acme ex" finds `ops@acme.example`): the parameter of
    /// [`Dialect::consumer_words_match`]. Words are letters and digits only.
    pub fn consumer_words_query(self, words: &[&str]) -> String {
        match self.0 {
            // Words are alphanumeric, so nothing in them is FTS5 syntax.
            Backend::Sqlite => format!("\"{}\"*", words.join(" ")),
            Backend::Postgres => match words.split_last() {
                Some((last, before)) => before
                    .iter()
                    .map(|w| w.to_string())
                    .chain([format!("{last}:*")])
                    .collect::<Vec<_>>()
                    .join(" <-> "),
                None => String::new(),
            },
        }
    }

    /// The condition that the consumer `c` matches the words query bound as `param`. Both
    /// backends split the text into words at every character that is not a letter or digit,
    /// and both answer from an index: SQLite's FTS5 table `consumer_search`, PostgreSQL's GIN
    /// index `consumers_search_words` over the same expression as here.
    pub fn consumer_words_match(self, param: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!(
                "c.id IN (SELECT rowid FROM consumer_search WHERE consumer_search MATCH {param})"
            ),
            Backend::Postgres => format!("{CONSUMER_WORDS} @@ to_tsquery('simple', {param})"),
        }
    }
}

/// The words of `consumers.search` on PostgreSQL: the expression its GIN index is built on
/// (migration 0007), which a query must repeat exactly for the index to serve it.
const CONSUMER_WORDS: &str =
    "to_tsvector('simple', regexp_replace(c.search, '[^[:alnum:]]+', ' ', 'g'))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_a_phrase_with_a_prefix_on_both_backends() {
        let words = ["ops", "acme", "ex"];
        assert_eq!(
            Dialect::of(Backend::Sqlite).consumer_words_query(&words),
            "\"ops acme ex\"*"
        );
        assert_eq!(
            Dialect::of(Backend::Postgres).consumer_words_query(&words),
            "ops <-> acme <-> ex:*"
        );
    }
}
