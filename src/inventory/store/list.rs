//! The consumer list: every filter of its URL, sorting and paging on the server.

use super::{Consumer, ConsumerFilter, ConsumerId, ConsumerSummary, split_tags};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::{ConsumerSort, Integration, TimeZoneName};
use crate::storage::{Db, Dialect, Value};

impl ConsumerFilter {
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
                let n = bind(&mut params, dialect.consumer_words_query(&words).into());
                clauses.push(dialect.consumer_words_match(&n));
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
        if let Some(tag) = &self.tag {
            // Tags match whatever the case of their ASCII letters, on both backends.
            let pattern = format!("%,{},%", like_escape(&tag.as_str().to_ascii_lowercase()));
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

/// The credentials `filter` asks for ("production keys older than 90 days"), with their
/// consumers: one page of the consumers it matches, in the list's order, each holding only its
/// matching credentials; and how many consumers it matches on all pages.
pub async fn list_credentials(
    db: &Db,
    filter: &ConsumerFilter,
    now: Timestamp,
    offset: u32,
    limit: u32,
) -> Result<(Vec<Consumer>, i64)> {
    let (page, total) = list_consumers(db, filter, now, offset, limit).await?;
    let order: Vec<ConsumerId> = page.iter().map(|c| c.id).collect();
    let mut found = super::consumers(db, &order).await?;
    found.sort_by_key(|c| order.iter().position(|id| *id == c.id));
    for c in &mut found {
        c.credentials.retain(|k| filter.matches_credential(k, now));
    }
    Ok((found, total))
}

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
                time_zone: TimeZoneName::stored(r.get(5)?),
                tags: split_tags(&r.get::<String>(6)?),
                credentials: r.get(7)?,
                contact: r.get(8)?,
                oldest_key_days: r.get::<Option<Timestamp>>(9)?.map(|t| t.days_until(now)),
                migrated: r.get(10)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}
