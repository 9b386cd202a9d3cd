//! The consumer list: every filter of its URL, sorting and paging on the server.

use serde::{Deserialize, Serialize};

use std::str::FromStr;

use super::{ConsumerSummary, split_list};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::InputError;
use crate::inventory::{
    ConsumerSort, CredentialStatus, Environment, Integration, IntegrationPattern, SdkLanguage,
};
use crate::storage::{Db, Dialect, Value};

/// Which consumers to list: every filter of the consumer list, as its URL carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerFilter {
    /// Matches the name, the external id, a contact's e-mail or name, or a tag.
    pub text: Option<String>,
    pub pattern: Option<IntegrationPattern>,
    pub language: Option<SdkLanguage>,
    pub tag: Option<String>,
    /// Consumers holding a credential that matches all of these at once.
    pub environment: Option<Environment>,
    pub status: Option<CredentialStatus>,
    /// A live (active or rotating) credential created more than this many days ago.
    pub older_than_days: Option<u32>,
    /// A credential expiring within this many days from now.
    pub expiring_within_days: Option<u32>,
    /// By name when `None`.
    pub sort: Option<ConsumerSort>,
}

impl ConsumerFilter {
    /// From URL parameters as they came (`param(name)`); blank ones count as absent. A bad
    /// value is an error naming the parameter.
    pub fn from_params(raw: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        fn parsed<T: FromStr<Err = InputError>>(
            v: Option<String>,
        ) -> Result<Option<T>, InputError> {
            v.map(|v| v.parse()).transpose()
        }
        let param = |name: &str| {
            raw(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let days = |name: &str| -> Result<Option<u32>, InputError> {
            param(name)
                .map(|v| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|d| *d <= 36_500)
                        .ok_or_else(|| {
                            InputError::new(name, format!("'{v}' is not a number of days"))
                        })
                })
                .transpose()
        };
        Ok(Self {
            text: param("q"),
            pattern: parsed(param("pattern"))?,
            language: parsed(param("language"))?,
            tag: param("tag"),
            environment: parsed(param("environment"))?,
            status: parsed(param("status"))?,
            older_than_days: days("older_than")?,
            expiring_within_days: days("expiring_within")?,
            sort: parsed(param("sort"))?,
        })
    }

    /// The SQL condition on `consumers c` and its parameters.
    pub(crate) fn sql(&self, dialect: Dialect, now: Timestamp) -> (String, Vec<Value>) {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut params: Vec<Value> = Vec::new();
        let bind = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            format!("${}", params.len())
        };
        if let Some(text) = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let text = text.to_lowercase();
            let words: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                // Text without a word ("@", "--"): any substring of the column.
                let n = bind(&mut params, format!("%{}%", like_escape(&text)).into());
                clauses.push(format!("c.search LIKE {n} ESCAPE '\\'"));
            } else {
                // The word index: these words in this order, the last one as a prefix
                // ("ops@acme.ex" finds ops@acme.example).
                let n = format!("${}", params.len() + 1);
                let (condition, words) = dialect.consumer_words_match(&words, &n);
                params.push(words.into());
                clauses.push(condition);
            }
        }
        if let Some(pattern) = self.pattern {
            let n = bind(&mut params, pattern.as_str().into());
            clauses.push(format!("c.pattern = {n}"));
        }
        if let Some(language) = self.language {
            let n = bind(&mut params, language.as_str().into());
            clauses.push(format!("c.sdk_language = {n}"));
        }
        if let Some(tag) = self.tag.as_deref().filter(|t| !t.is_empty()) {
            // Tags match whatever the case of their ASCII letters, on both backends.
            let pattern = format!("%,{},%", like_escape(&tag.to_ascii_lowercase()));
            let n = bind(&mut params, pattern.into());
            clauses.push(format!(
                "{} LIKE {n} ESCAPE '\\'",
                dialect.ascii_lower("c.tags")
            ));
        }
        let mut credential = Vec::new();
        if let Some(environment) = self.environment {
            let n = bind(&mut params, environment.as_str().into());
            credential.push(format!("k.environment = {n}"));
        }
        if let Some(status) = self.status {
            let n = bind(&mut params, status.as_str().into());
            credential.push(format!("k.status = {n}"));
        }
        if let Some(days) = self.older_than_days {
            let n = bind(
                &mut params,
                now.plus_secs(-(i64::from(days)) * 86_400).into(),
            );
            credential.push(format!(
                "k.created_at < {n} AND k.status IN ('active', 'rotating')"
            ));
        }
        if let Some(days) = self.expiring_within_days {
            let from = bind(&mut params, now.into());
            let to = bind(&mut params, now.plus_secs(i64::from(days) * 86_400).into());
            credential.push(format!("k.expires_at >= {from} AND k.expires_at <= {to}"));
        }
        if !credential.is_empty() {
            // Per consumer, through its own credentials. Without statistics SQLite would rather
            // walk the environment or status index and check the consumer on every row of it
            // (an environment filter alone took 50 s over 10,000 consumers).
            let by_consumer = dialect.index_hint("credentials_consumer");
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM credentials k {by_consumer}WHERE k.consumer_id = c.id AND {})",
                credential.join(" AND ")
            ));
        }
        (clauses.join(" AND "), params)
    }
}

/// `%`, `_` and `\` match themselves in a LIKE pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// How many credentials the consumer `c` holds.
const KEY_COUNT: &str = "(SELECT COUNT(*) FROM credentials k WHERE k.consumer_id = c.id)";
/// When the oldest live credential of the consumer `c` was created.
const OLDEST_LIVE_KEY: &str = "(SELECT MIN(k.created_at) FROM credentials k \
     WHERE k.consumer_id = c.id AND k.status IN ('active', 'rotating'))";

/// One page of the consumer list.
pub async fn list_consumers(
    db: &Db,
    filter: &ConsumerFilter,
    now: Timestamp,
    offset: u32,
    limit: u32,
) -> Result<(Vec<ConsumerSummary>, i64)> {
    let (filter_sql, params) = filter.sql(db.dialect(), now);
    let name = db.dialect().name_order("c.name");
    let order = match filter.sort.unwrap_or(ConsumerSort::Name) {
        ConsumerSort::Name => format!("{name}, c.id"),
        ConsumerSort::OldestKey => format!("{OLDEST_LIVE_KEY} NULLS LAST, {name}, c.id"),
        ConsumerSort::MostKeys => format!("{KEY_COUNT} DESC, {name}, c.id"),
        ConsumerSort::Recent => "c.updated_at DESC, c.id DESC".to_string(),
    };
    // The page is chosen first, counting every match in the same pass; what a row shows of its
    // credentials and contacts is looked up for that page's rows only.
    let rows = db
        .fetch_all(
            &format!(
                "SELECT c.id, c.external_id, c.name, c.pattern, c.sdk_language, c.time_zone, c.tags, \
                 {KEY_COUNT}, \
                 (SELECT k.email FROM contacts k WHERE k.consumer_id = c.id ORDER BY k.id LIMIT 1), \
                 {OLDEST_LIVE_KEY}, \
                 (SELECT COUNT(*) FROM credentials k WHERE k.consumer_id = c.id AND k.migrated_at IS NOT NULL), \
                 p.total \
                 FROM (SELECT c.id, COUNT(*) OVER () AS total FROM consumers c WHERE {filter_sql} \
                       ORDER BY {order} LIMIT {} OFFSET {}) p \
                 JOIN consumers c ON c.id = p.id ORDER BY {order}",
                limit.clamp(1, 500),
                offset
            ),
            &params,
        )
        .await?;
    let total: i64 = match rows.first() {
        Some(r) => r.get(11)?,
        // A page past the end: count on its own.
        None if offset > 0 => {
            db.scalar(
                &format!("SELECT COUNT(*) FROM consumers c WHERE {filter_sql}"),
                &params,
            )
            .await?
        }
        None => 0,
    };
    let list = rows
        .iter()
        .map(|r| {
            let pattern: String = r.get(3)?;
            let language: Option<String> = r.get(4)?;
            Ok(ConsumerSummary {
                id: r.get(0)?,
                external_id: r.get(1)?,
                name: r.get(2)?,
                integration: Integration::parse(&pattern, language.as_deref()).map_err(|e| {
                    Error::Internal(format!("a stored integration is invalid: {e}"))
                })?,
                time_zone: r.get(5)?,
                tags: split_list(&r.get::<String>(6)?),
                credentials: r.get(7)?,
                contact: r.get(8)?,
                oldest_key_days: r.get::<Option<Timestamp>>(9)?.map(|t| t.days_until(now)),
                migrated: r.get(10)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}
