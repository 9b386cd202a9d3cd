//! The two backends' schemas agree: each backend has its own migration files (DDL differs where
//! the databases do), and this compares what they build, table by table and column by column.

use std::collections::BTreeSet;

use rekey_core::storage::Backend;

use crate::helpers::TestApp;

/// A column as both backends can describe it: table, column, portable type, nullable.
type Column = (String, String, &'static str, bool);

/// The portable type a declared type stands for (see ARCHITECTURE.md, "one query API"):
/// instants are unix microseconds and flags 0/1, so both are integers.
fn portable(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int8" | "int4" | "smallint" => "integer",
        "text" | "character varying" => "text",
        "blob" | "bytea" => "bytes",
        "real" | "double precision" => "real",
        other => panic!("a column type neither side should use: {other}"),
    }
}

async fn columns(app: &TestApp) -> BTreeSet<Column> {
    let sql = match app.db.backend {
        // consumer_search is SQLite's FTS5 index over `consumers.search` (PostgreSQL searches the
        // column itself); FTS5 keeps it in shadow tables of the same prefix.
        Backend::Sqlite => {
            "SELECT m.name, p.name, p.type, 1 - p.\"notnull\" - p.pk FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name NOT LIKE 'consumer_search%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text, data_type::text, \
             CASE is_nullable WHEN 'YES' THEN 1 ELSE 0 END \
             FROM information_schema.columns WHERE table_schema = 'public'"
        }
    };
    app.rekey
        .db
        .fetch_all(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let declared: String = r.get(2).unwrap();
            (
                r.get(0).unwrap(),
                r.get(1).unwrap(),
                portable(&declared),
                r.get::<i64>(3).unwrap() == 1,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_build_the_same_tables_columns_and_types() {
    let sqlite = columns(&TestApp::spawn(Backend::Sqlite).await).await;
    let postgres = columns(&TestApp::spawn(Backend::Postgres).await).await;
    assert!(sqlite.len() > 100, "{} columns read", sqlite.len());
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only on SQLite: {only_sqlite:#?}\nonly on PostgreSQL: {only_postgres:#?}"
    );
}
