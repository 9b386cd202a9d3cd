//! PostgreSQL through sqlx.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Column, PgPool, Postgres, Row as _, TypeInfo};

use super::storage_error;
use super::value::{Row, Value};
use crate::error::{Error, Result};

/// Arbitrary constant naming Rekey's writer lock among PostgreSQL advisory locks.
const WRITER_LOCK_KEY: i64 = 0x5245_4b45_5900; // "REKEY\0"

/// The pool, and the queue this process's writers wait in.
///
/// Writers queue in-process first and only then take a pool connection: a connection waiting
/// for the advisory lock is a connection no reader can use, and sixteen waiting writers used to
/// starve the pool until the lock holder itself timed out. So at most one connection per
/// process ever waits on the advisory lock (for another process's writer).
#[derive(Clone)]
pub(super) struct PgDb {
    pub(super) pool: PgPool,
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// Bounds on waiting inside PostgreSQL, set on every connection. No request may wait forever:
/// a lock held by a stuck or leaked transaction (the writer's advisory lock above all) answers
/// "busy" after the same time a writer waits for its turn in-process, and a transaction left
/// idle past a minute (a bug, never a plan: no transaction here waits on anything but the
/// database) is ended by the server, releasing its locks.
const SESSION_LIMITS: [(&str, &str); 2] = [
    ("lock_timeout", "20s"),
    ("idle_in_transaction_session_timeout", "60s"),
];

pub(super) async fn connect(url: &str) -> Result<PgDb> {
    let options = PgConnectOptions::from_str(url)
        .map_err(storage_error)?
        .options(SESSION_LIMITS);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(pg_error)?;
    Ok(PgDb {
        pool,
        writer: Arc::default(),
    })
}

/// A transaction holding the advisory lock, and this process's writer turn.
pub(super) struct PgWriter {
    pub(super) tx: sqlx::Transaction<'static, Postgres>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl PgDb {
    pub(super) async fn begin_locked(&self) -> Result<PgWriter> {
        let turn = super::wait_for_writer(self.writer.clone()).await?;
        let mut tx = self.pool.begin().await.map_err(pg_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITER_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        Ok(PgWriter { tx, _turn: turn })
    }
}

/// A lock wait that ran out (SQLSTATE 55P03, see [`SESSION_LIMITS`]) or no free connection
/// within the pool's wait is "busy", answered 503 like a writer turn that did not come; anything
/// else is a storage failure.
pub(super) fn pg_error(e: sqlx::Error) -> Error {
    let lock_wait_ran_out = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "55P03");
    if lock_wait_ran_out || matches!(e, sqlx::Error::PoolTimedOut) {
        Error::Busy
    } else {
        storage_error(e)
    }
}

fn bind<'q>(sql: &'q str, params: &'q [Value]) -> Query<'q, Postgres, PgArguments> {
    params.iter().fold(sqlx::query(sql), |q, v| match v {
        Value::Int(i) => q.bind(*i),
        Value::Real(f) => q.bind(*f),
        Value::Text(s) => q.bind(s.as_deref()),
        Value::Blob(b) => q.bind(b.as_deref()),
    })
}

pub(super) async fn execute<'c, E>(conn: E, sql: &str, params: &[Value]) -> Result<u64>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    Ok(bind(sql, params)
        .execute(conn)
        .await
        .map_err(pg_error)?
        .rows_affected())
}

pub(super) async fn fetch_all<'c, E>(conn: E, sql: &str, params: &[Value]) -> Result<Vec<Row>>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let rows = bind(sql, params).fetch_all(conn).await.map_err(pg_error)?;
    rows.iter().map(decode).collect()
}

fn decode(row: &PgRow) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let get = |e: sqlx::Error| storage_error(e);
        values.push(match column.type_info().name() {
            "INT8" => Value::Int(row.try_get::<Option<i64>, _>(i).map_err(get)?),
            "INT4" => Value::Int(
                row.try_get::<Option<i32>, _>(i)
                    .map_err(get)?
                    .map(i64::from),
            ),
            "INT2" => Value::Int(
                row.try_get::<Option<i16>, _>(i)
                    .map_err(get)?
                    .map(i64::from),
            ),
            "BOOL" => Value::Int(
                row.try_get::<Option<bool>, _>(i)
                    .map_err(get)?
                    .map(i64::from),
            ),
            "FLOAT8" => Value::Real(row.try_get::<Option<f64>, _>(i).map_err(get)?),
            "FLOAT4" => Value::Real(
                row.try_get::<Option<f32>, _>(i)
                    .map_err(get)?
                    .map(f64::from),
            ),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                Value::Text(row.try_get::<Option<String>, _>(i).map_err(get)?)
            }
            "BYTEA" => Value::Blob(row.try_get::<Option<Vec<u8>>, _>(i).map_err(get)?),
            other => {
                return Err(Error::Internal(format!(
                    "column {} has type {other}, which Rekey does not read",
                    column.name()
                )));
            }
        });
    }
    Ok(Row(values))
}
