//! Vault operations: partitions and grants, storing, reading, revealing, TOTP codes,
//! generating, destroying. Each value read or write is audited in the transaction that does it;
//! a read returns its plaintext only after that transaction has committed (the audit fails
//! closed).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::crypto::{self, Envelope, Key, RowBinding, WRAPS_PER_GENERATION};
use super::fingerprint::{Fingerprint, FingerprintIndex, FingerprintKey};
use super::keys::{self, KeySource, Keyring};
use super::{Access, SecretKind, VaultName};
use crate::Rekey;
use crate::audit::WriteTx;
use crate::audit::{Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{Identity, InputError};
use crate::params;
use crate::storage::{Db, Query, Row};

/// The vault's keys at run time.
pub struct Vault {
    source: KeySource,
    keyring: RwLock<Arc<Keyring>>,
    /// When the key file was last read, to notice a rotation made by another process.
    loaded: RwLock<Option<std::time::SystemTime>>,
    wraps_per_generation: i64,
    /// The key of the values' keyed fingerprints, loaded by `system::prepare`.
    fingerprint_key: RwLock<Option<FingerprintKey>>,
    /// Every stored fingerprint, with the row count it was built from (rebuilt when it changes).
    fingerprint_index: RwLock<Option<(i64, Arc<FingerprintIndex>)>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("source", &self.source_label())
            .finish_non_exhaustive()
    }
}

fn modified(source: &KeySource) -> Option<std::time::SystemTime> {
    match source {
        KeySource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        KeySource::Env(_) => None,
    }
}

fn lock_poisoned<T>(e: std::sync::PoisonError<T>) -> T {
    e.into_inner()
}

impl Vault {
    /// Opens the keyring for `db` (see [`keys::open`]).
    pub async fn open(source: KeySource, db: &Db) -> Result<Self> {
        let keyring = keys::open(&source, db).await?;
        Ok(Self {
            loaded: RwLock::new(modified(&source)),
            keyring: RwLock::new(Arc::new(keyring)),
            source,
            wraps_per_generation: WRAPS_PER_GENERATION,
            fingerprint_key: RwLock::default(),
            fingerprint_index: RwLock::default(),
        })
    }

    pub(super) fn set_fingerprint_key(&self, key: FingerprintKey) {
        *self.fingerprint_key.write().unwrap_or_else(lock_poisoned) = Some(key);
    }

    /// The fingerprint key; `system::prepare` loads it at start-up.
    pub(super) fn fingerprint_key(&self) -> Result<FingerprintKey> {
        self.fingerprint_key
            .read()
            .unwrap_or_else(lock_poisoned)
            .clone()
            .ok_or_else(|| {
                Error::Internal("the vault was opened without vault::system::prepare".into())
            })
    }

    /// Every vault value's fingerprints, to look for them in a text. Rebuilt when values were
    /// stored or destroyed since (by any process: the row count tells).
    pub async fn fingerprint_index(&self, db: &Db) -> Result<Arc<FingerprintIndex>> {
        let rows: i64 = db
            .scalar("SELECT COUNT(*) FROM vault_fingerprints", &[])
            .await?;
        if let Some((count, index)) = &*self.fingerprint_index.read().unwrap_or_else(lock_poisoned)
            && *count == rows
        {
            return Ok(index.clone());
        }
        let stored = db
            .fetch_all(
                "SELECT form, window_len, window_fp, full_len, full_fp FROM vault_fingerprints",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(Fingerprint {
                    form: "stored",
                    window_len: usize::try_from(r.get::<i64>(1)?).unwrap_or(0),
                    window_fp: r.get(2)?,
                    full_len: usize::try_from(r.get::<i64>(3)?).unwrap_or(0),
                    full_fp: r.get(4)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let index = Arc::new(FingerprintIndex::new(self.fingerprint_key()?, stored));
        *self.fingerprint_index.write().unwrap_or_else(lock_poisoned) = Some((rows, index.clone()));
        Ok(index)
    }

    /// For tests: move to the next KEK generation after `wraps` data keys.
    pub fn with_wraps_per_generation(mut self, wraps: i64) -> Self {
        self.wraps_per_generation = wraps.max(1);
        self
    }

    pub fn wraps_per_generation(&self) -> i64 {
        self.wraps_per_generation
    }

    pub fn source_label(&self) -> String {
        match &self.source {
            KeySource::File(path) => path.display().to_string(),
            KeySource::Env(_) => "REKEY_MASTER_KEY".into(),
        }
    }

    pub fn key_file(&self) -> Option<PathBuf> {
        match &self.source {
            KeySource::File(path) => Some(path.clone()),
            KeySource::Env(_) => None,
        }
    }

    /// The keyring, re-read when the key file changed (a rotation by `rekey vault
    /// rotate-master-key` while this process serves).
    pub fn keyring(&self) -> Result<Arc<Keyring>> {
        let now = modified(&self.source);
        let stale = now.is_some() && *self.loaded.read().unwrap_or_else(lock_poisoned) != now;
        if stale && let Some(fresh) = keys::read(&self.source)? {
            *self.keyring.write().unwrap_or_else(lock_poisoned) = Arc::new(fresh);
            *self.loaded.write().unwrap_or_else(lock_poisoned) = now;
        }
        Ok(self.keyring.read().unwrap_or_else(lock_poisoned).clone())
    }

    pub(super) fn key(&self, key_id: &str) -> Result<Key> {
        self.keyring()?.get(key_id).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "the vault master key {key_id} is not in {}",
                self.source_label()
            ))
        })
    }
}

/// A secret value. Debug prints a redaction; the memory is zeroed when dropped.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl SecretValue {
    pub const MAX_LEN: usize = 8_192;

    pub fn parse(raw: String) -> Result<Self, InputError> {
        if raw.is_empty() {
            return Err(InputError::new("value", "enter the secret's value"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(InputError::new("value", "a value has at most 8,192 bytes"));
        }
        Ok(Self(raw.into()))
    }

    /// A value Rekey made or opened itself, which needs no input checks.
    pub(crate) fn from_trusted(value: String) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What lists show: the first four characters of an API key or generic value of at least 24
    /// characters (so at most a sixth of it), nothing of shorter ones, passwords or TOTP seeds.
    pub(super) fn masked(&self, kind: SecretKind) -> String {
        let v = self.expose();
        match kind {
            SecretKind::ApiKey | SecretKind::Generic if v.chars().count() >= 24 => {
                format!("{}…", v.chars().take(4).collect::<String>())
            }
            _ => "••••".into(),
        }
    }
}

/// TOTP parameters of a seed (public; the seed itself is the sealed value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpParams {
    pub digits: u32,
    pub period: u32,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: TotpAlgorithm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TotpAlgorithm {
    SHA1,
    SHA256,
    SHA512,
}

impl TotpAlgorithm {
    fn rs(self) -> totp_rs::Algorithm {
        match self {
            TotpAlgorithm::SHA1 => totp_rs::Algorithm::SHA1,
            TotpAlgorithm::SHA256 => totp_rs::Algorithm::SHA256,
            TotpAlgorithm::SHA512 => totp_rs::Algorithm::SHA512,
        }
    }
}

impl Default for TotpParams {
    fn default() -> Self {
        Self {
            digits: 6,
            period: 30,
            algorithm: TotpAlgorithm::SHA1,
        }
    }
}

/// Reads a TOTP seed as an `otpauth://` URI or as base32 with `params`; returns the base32
/// seed to seal and the parameters to keep. Every parameter is checked, so a seed that could
/// not produce codes (a period of 0, 4 digits, an unknown algorithm, a short secret) is refused
/// with what to fix instead of failing later when a code is asked for.
pub fn parse_totp_seed(
    value: &SecretValue,
    params: TotpParams,
) -> Result<(SecretValue, TotpParams), InputError> {
    let v = value.expose().trim();
    let (secret, params) = if v.starts_with("otpauth://") {
        read_otpauth_uri(v)?
    } else {
        (v.to_string(), params)
    };
    check_totp_params(&params)?;
    // totp-rs's own error may quote the seed; say what to fix without it.
    let secret = crate::totp::TotpSecret::from_base32(&secret)
        .map_err(|e| InputError::new("value", e.message))?;
    Ok((SecretValue(secret.base32().to_string().into()), params))
}

fn check_totp_params(params: &TotpParams) -> Result<(), InputError> {
    if !(6..=8).contains(&params.digits) {
        return Err(InputError::new(
            "digits",
            format!("TOTP codes have 6 to 8 digits, not {}", params.digits),
        ));
    }
    if !(15..=120).contains(&params.period) {
        return Err(InputError::new(
            "period",
            format!("a TOTP period is 15 to 120 seconds, not {}", params.period),
        ));
    }
    Ok(())
}

/// The secret and parameters of an `otpauth://totp/…` URI, each checked by name.
fn read_otpauth_uri(uri: &str) -> Result<(String, TotpParams), InputError> {
    let bad = |message: String| InputError::new("value", message);
    if !uri.starts_with("otpauth://totp/") {
        return Err(bad(
            "only otpauth://totp/ URIs can be stored; counter-based (hotp) seeds are not supported"
                .into(),
        ));
    }
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let mut secret = None;
    let mut params = TotpParams::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::delivery::smtp::percent_decode(raw);
        match key.to_ascii_lowercase().as_str() {
            "secret" => secret = Some(value),
            "digits" => {
                params.digits = value.parse().map_err(|_| {
                    bad(format!("the otpauth URI's digits={value} is not a number"))
                })?;
            }
            "period" => {
                params.period = value.parse().map_err(|_| {
                    bad(format!("the otpauth URI's period={value} is not a number"))
                })?;
            }
            "algorithm" => {
                params.algorithm = match value.to_ascii_uppercase().as_str() {
                    "SHA1" => TotpAlgorithm::SHA1,
                    "SHA256" => TotpAlgorithm::SHA256,
                    "SHA512" => TotpAlgorithm::SHA512,
                    _ => {
                        return Err(bad(format!(
                            "the otpauth URI's algorithm={value} is not SHA1, SHA256 or SHA512"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    check_totp_params(&params).map_err(|e| bad(format!("the otpauth URI's {}", e.message)))?;
    let secret = secret.ok_or_else(|| bad("the otpauth URI has no secret= parameter".into()))?;
    Ok((secret, params))
}

/// The code of a seed at `now`, and the seconds it stays valid.
pub fn totp_code(seed: &SecretValue, params: TotpParams, now: Timestamp) -> Result<(String, u32)> {
    // Seeds stored before their parameters were checked may hold a period of 0, which would
    // divide by zero below.
    check_totp_params(&params).map_err(|e| {
        Error::Refused(format!(
            "this seed cannot produce codes: {}; store it again",
            e.message
        ))
    })?;
    let bytes = totp_rs::Secret::Encoded(seed.expose().to_string())
        .to_bytes()
        .map_err(|_| Error::Internal("a stored TOTP seed is not base32".into()))?;
    let totp = totp_rs::TOTP::new_unchecked(
        params.algorithm.rs(),
        params.digits as usize,
        1,
        u64::from(params.period),
        bytes,
        None,
        String::new(),
    );
    let secs = now.as_secs().max(0) as u64;
    let remaining = params.period - (secs % u64::from(params.period)) as u32;
    Ok((totp.generate(secs), remaining))
}

/// How to generate a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratePolicy {
    /// Random characters after the prefix.
    pub length: usize,
    pub alphabet: Alphabet,
    pub prefix: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alphabet {
    /// Letters and digits.
    Alphanumeric,
    /// Letters, digits and punctuation.
    Symbols,
    Hex,
}

impl std::str::FromStr for Alphabet {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.trim() {
            "alphanumeric" => Ok(Alphabet::Alphanumeric),
            "symbols" => Ok(Alphabet::Symbols),
            "hex" => Ok(Alphabet::Hex),
            other => Err(InputError::new(
                "alphabet",
                format!("'{other}' is not alphanumeric, symbols or hex"),
            )),
        }
    }
}

impl GeneratePolicy {
    pub fn new(length: usize, alphabet: Alphabet, prefix: &str) -> Result<Self, InputError> {
        if !(16..=256).contains(&length) {
            return Err(InputError::new(
                "length",
                "generate 16 to 256 random characters",
            ));
        }
        if prefix.len() > 32
            || prefix
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(InputError::new(
                "prefix",
                "a prefix has at most 32 letters, digits, '_', '-' or '.'",
            ));
        }
        Ok(Self {
            length,
            alphabet,
            prefix: prefix.to_string(),
        })
    }

    pub fn generate(&self) -> SecretValue {
        let chars: &[u8] = match self.alphabet {
            Alphabet::Alphanumeric => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            }
            Alphabet::Symbols => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-=?@^_~"
            }
            Alphabet::Hex => b"0123456789abcdef",
        };
        let mut rng = rand::rngs::OsRng;
        let random: String = (0..self.length)
            .map(|_| chars[rng.gen_range(0..chars.len())] as char)
            .collect();
        SecretValue(format!("{}{random}", self.prefix).into())
    }
}

/// A partition as a caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    pub id: i64,
    pub name: String,
    /// `personal` or `team`.
    pub kind: String,
    /// What the caller may do here.
    pub access: Access,
}

/// A secret's metadata: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub id: i64,
    pub name: String,
    pub kind: SecretKind,
    pub label: String,
    pub masked: String,
    pub current_version: i64,
    pub versions: Vec<VersionMeta>,
    pub expires_at: Option<Timestamp>,
    pub max_age_days: Option<i64>,
    pub totp: Option<TotpParams>,
    pub created_at: Timestamp,
    /// When the current version was stored.
    pub rotated_at: Timestamp,
    /// The external id of the inventory credential the value is for.
    pub credential: Option<String>,
}

impl SecretMeta {
    /// Older than its rotation policy allows.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.max_age_days
            .is_some_and(|days| self.rotated_at.days_until(now) > days)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: i64,
    pub masked: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub destroyed_at: Option<Timestamp>,
}

/// What is stored with a new value.
#[derive(Clone, Debug)]
pub struct NewSecret {
    pub kind: SecretKind,
    pub value: SecretValue,
    pub label: String,
    pub expires_at: Option<Timestamp>,
    pub max_age_days: Option<i64>,
    pub totp: TotpParams,
    /// The inventory credential this value is for, by its external id.
    pub credential: Option<String>,
}

/// A store request as it arrives from a form or the API: strings and numbers, parsed into a
/// [`NewSecret`] with errors by field. No Debug: it holds the value in the clear.
#[derive(Clone, Default, Deserialize)]
pub struct StoreInput {
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub label: String,
    /// A date, `YYYY-MM-DD` (end of that day, UTC), or empty.
    #[serde(default)]
    pub expires_on: Option<String>,
    #[serde(default)]
    pub max_age_days: Option<i64>,
    /// TOTP seeds given as base32: the code's digits, period and algorithm.
    #[serde(default)]
    pub digits: Option<u32>,
    #[serde(default)]
    pub period: Option<u32>,
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The external id of the inventory credential this value is for.
    #[serde(default)]
    pub credential: Option<String>,
}

impl StoreInput {
    pub fn parse(self) -> Result<NewSecret, InputError> {
        let kind: SecretKind = self.kind.parse()?;
        let value = SecretValue::parse(self.value)?;
        let label = self.label.trim().to_string();
        if label.chars().count() > 200 {
            return Err(InputError::new(
                "label",
                "a label has at most 200 characters",
            ));
        }
        let credential = self
            .credential
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let expires_at = match self
            .expires_on
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(day) => {
                let date: jiff::civil::Date = day.parse().map_err(|_| {
                    InputError::new(
                        "expires_on",
                        format!("'{day}' is not a date; write YYYY-MM-DD"),
                    )
                })?;
                let end = date
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .and_then(|z| z.tomorrow())
                    .map_err(|_| {
                        InputError::new("expires_on", format!("'{day}' is out of range"))
                    })?;
                Some(Timestamp::from_jiff(end.timestamp()))
            }
        };
        if let Some(days) = self.max_age_days
            && !(1..=3650).contains(&days)
        {
            return Err(InputError::new(
                "max_age_days",
                "a maximum age is 1 to 3,650 days",
            ));
        }
        let algorithm = match self.algorithm.as_deref().map(str::trim).unwrap_or("") {
            "" | "SHA1" | "sha1" => TotpAlgorithm::SHA1,
            "SHA256" | "sha256" => TotpAlgorithm::SHA256,
            "SHA512" | "sha512" => TotpAlgorithm::SHA512,
            other => {
                return Err(InputError::new(
                    "algorithm",
                    format!("'{other}' is not SHA1, SHA256 or SHA512"),
                ));
            }
        };
        let totp = TotpParams {
            digits: self.digits.unwrap_or(6),
            period: self.period.unwrap_or(30),
            algorithm,
        };
        Ok(NewSecret {
            kind,
            value,
            label,
            credential,
            expires_at,
            max_age_days: self.max_age_days,
            totp,
        })
    }
}

fn owner(who: &Identity) -> (&'static str, i64) {
    match who {
        Identity::User { id, .. } => ("user", id.get()),
        Identity::Agent { id, .. } => ("agent", id.get()),
    }
}

/// The name of an identity's own partition.
pub fn personal_name(who: &Identity) -> String {
    match who {
        Identity::User { username, .. } => format!("personal-{username}"),
        Identity::Agent { name, .. } => format!("agent-{name}"),
    }
}

#[derive(Clone, Debug)]
pub(super) struct Partition {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) owner: Option<(String, i64)>,
}

pub(super) fn decode_partition(r: &Row) -> Result<Partition> {
    let kind: Option<String> = r.get(3)?;
    let id: Option<i64> = r.get(4)?;
    Ok(Partition {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        owner: kind.zip(id),
    })
}

pub(super) const PARTITION_COLUMNS: &str = "id, name, kind, owner_kind, owner_id";

/// Creates the caller's own partition on first use.
pub async fn ensure_personal(rk: &Rekey, who: &Identity) -> Result<()> {
    let (kind, id) = owner(who);
    let exists = rk
        .db
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE owner_kind = $1 AND owner_id = $2",
            params![kind, id],
        )
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let name = VaultName::parse("name", &personal_name(who))?;
    let mut tx = rk.write(who.into()).await?;
    let taken = tx
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE owner_kind = $1 AND owner_id = $2",
            params![kind, id],
        )
        .await?
        .is_some();
    if taken {
        return Ok(());
    }
    insert_partition(&mut tx, &name, "personal", Some((kind, id))).await?;
    tx.commit().await
}

pub(super) async fn insert_partition(
    tx: &mut WriteTx,
    name: &VaultName,
    kind: &str,
    owner: Option<(&str, i64)>,
) -> Result<i64> {
    if tx
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE name = $1",
            params![name.as_str()],
        )
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "a vault partition named '{name}' already exists"
        )));
    }
    let now = tx.now();
    let id: i64 = tx
        .scalar(
            "INSERT INTO vault_partitions (name, kind, owner_kind, owner_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            params![name.as_str(), kind, owner.map(|o| o.0), owner.map(|o| o.1), now],
        )
        .await?;
    tx.audit(
        Target::VaultPartition(id),
        Detail::VaultPartitionCreated {
            partition: id,
            name: name.clone(),
        },
    )
    .await?;
    Ok(id)
}

/// An admin creates a team partition.
pub async fn create_team_partition(rk: &Rekey, by: &Identity, name: &VaultName) -> Result<()> {
    if !by.may(crate::identity::Permission::ManageUsers) {
        return Err(Error::Forbidden(crate::identity::Permission::ManageUsers));
    }
    if let Some(prefix) = RESERVED_PREFIXES
        .iter()
        .find(|p| name.as_str().starts_with(*p))
    {
        return Err(InputError::new(
            "name",
            format!(
                "names starting with '{prefix}' are reserved (personal-, agent- and rekey- name people's, agents' and Rekey's own partitions); choose another name"
            ),
        )
        .into());
    }
    let mut tx = rk.write(by.into()).await?;
    insert_partition(&mut tx, name, "team", None).await?;
    tx.commit().await
}

/// Team partitions cannot take these: a team partition named `personal-bob` created before Bob
/// first used the vault would otherwise stand in for his own.
pub const RESERVED_PREFIXES: [&str; 3] = ["personal-", "agent-", "rekey-"];

/// What `who` may do in a partition.
async fn access_of(q: &mut impl Query, p: &Partition, who: &Identity) -> Result<Option<Access>> {
    let (kind, id) = owner(who);
    if p.owner.as_ref().is_some_and(|(k, i)| k == kind && *i == id) {
        return Ok(Some(Access::Write));
    }
    let grant: Option<String> = q
        .row(
            "SELECT access FROM vault_grants WHERE partition_id = $1 AND grantee_kind = $2 AND grantee_id = $3",
            params![p.id, kind, id],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    grant
        .map(|g| {
            g.parse::<Access>()
                .map_err(|e| Error::Internal(format!("a stored grant is invalid: {e}")))
        })
        .transpose()
}

/// The partition a caller names: their own is found by owner, not by name, so a partition that
/// merely carries the name (made before the prefixes were reserved) never stands in for it.
async fn find_partition(
    q: &mut impl Query,
    who: &Identity,
    name: &VaultName,
) -> Result<Option<Partition>> {
    let row = if name.as_str() == personal_name(who) {
        let (kind, id) = owner(who);
        q.row(
            &format!(
                "SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE owner_kind = $1 AND owner_id = $2"
            ),
            params![kind, id],
        )
        .await?
    } else {
        q.row(
            &format!("SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE name = $1"),
            params![name.as_str()],
        )
        .await?
    };
    row.map(|r| decode_partition(&r)).transpose()
}

fn no_grant(needed: Access, name: &VaultName) -> Error {
    Error::NoGrant {
        access: needed,
        partition: name.to_string(),
    }
}

/// For listings: the partition if `who` holds `needed` on it. A refusal names the grant that is
/// missing and says nothing about the secrets inside; it is audited.
async fn partition_for(
    rk: &Rekey,
    who: &Identity,
    name: &VaultName,
    needed: Access,
) -> Result<Partition> {
    let mut db = rk.db.clone();
    let mut found = find_partition(&mut db, who, name).await?;
    // One's own partition comes into being on first use; only then is it looked up twice.
    if found.is_none() && name.as_str() == personal_name(who) {
        ensure_personal(rk, who).await?;
        found = find_partition(&mut db, who, name).await?;
    }
    // A partition that does not exist is refused like one without a grant, so a refusal never
    // tells whether a partition (or the account behind a personal one) exists.
    let Some(p) = found else {
        return Err(no_grant(needed, name));
    };
    match access_of(&mut db, &p, who).await? {
        Some(held) if held >= needed => Ok(p),
        _ => {
            let tx = rk.write(who.into()).await?;
            refuse(tx, &p, needed, name).await
        }
    }
}

/// Records a refused access and commits it.
async fn refuse<T>(mut tx: WriteTx, p: &Partition, needed: Access, name: &VaultName) -> Result<T> {
    tx.audit(
        Target::VaultPartition(p.id),
        Detail::VaultAccessDenied {
            partition: p.id,
            access: needed,
        },
    )
    .await?;
    tx.commit().await?;
    Err(no_grant(needed, name))
}

/// Begins the write transaction that reads or changes a value, and checks `who`'s access
/// inside it: under the writer lock, a grant withdrawn a moment earlier has committed, so it
/// stops this operation. One's own partition is created here on first use.
async fn begin_with_access(
    rk: &Rekey,
    who: &Identity,
    name: &VaultName,
    needed: Access,
) -> Result<(WriteTx, Partition)> {
    let mut tx = rk.write(who.into()).await?;
    let mut found = find_partition(&mut *tx, who, name).await?;
    if found.is_none() && name.as_str() == personal_name(who) {
        let (kind, id) = owner(who);
        insert_partition(&mut tx, name, "personal", Some((kind, id))).await?;
        found = find_partition(&mut *tx, who, name).await?;
    }
    let Some(p) = found else {
        return Err(no_grant(needed, name));
    };
    match access_of(&mut *tx, &p, who).await? {
        Some(held) if held >= needed => Ok((tx, p)),
        _ => refuse(tx, &p, needed, name).await,
    }
}

/// The partitions `who` may use, their own first.
pub async fn partitions(rk: &Rekey, who: &Identity) -> Result<Vec<PartitionView>> {
    ensure_personal(rk, who).await?;
    let (kind, id) = owner(who);
    let rows = rk
        .db
        .fetch_all(
            "SELECT p.id, p.name, p.kind, CASE WHEN p.owner_kind = $1 AND p.owner_id = $2 THEN 'write' ELSE g.access END \
             FROM vault_partitions p LEFT JOIN vault_grants g ON g.partition_id = p.id AND g.grantee_kind = $1 AND g.grantee_id = $2 \
             WHERE (p.owner_kind = $1 AND p.owner_id = $2) OR g.access IS NOT NULL ORDER BY p.kind, p.name",
            params![kind, id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PartitionView {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                access: r
                    .get::<String>(3)?
                    .parse()
                    .map_err(|e: InputError| Error::Internal(e.to_string()))?,
            })
        })
        .collect()
}

/// Every partition and its grants, for admins.
pub async fn all_partitions(db: &Db) -> Result<Vec<(String, String, Vec<(String, Access)>)>> {
    let parts = db
        .fetch_all(
            "SELECT id, name, kind FROM vault_partitions WHERE kind <> 'system' ORDER BY kind DESC, name",
            &[],
        )
        .await?;
    let grants = db
        .fetch_all(
            "SELECT g.partition_id, g.grantee_kind, COALESCE(u.username, a.name), g.access FROM vault_grants g \
             LEFT JOIN users u ON g.grantee_kind = 'user' AND u.id = g.grantee_id \
             LEFT JOIN agents a ON g.grantee_kind = 'agent' AND a.id = g.grantee_id ORDER BY 2, 3",
            &[],
        )
        .await?;
    parts
        .iter()
        .map(|p| {
            let id: i64 = p.get(0)?;
            let mine = grants
                .iter()
                .filter(|g| g.get::<i64>(0).is_ok_and(|pid| pid == id))
                .map(|g| {
                    Ok((
                        format!(
                            "{}:{}",
                            g.get::<String>(1)?,
                            g.get::<Option<String>>(2)?.unwrap_or_default()
                        ),
                        g.get::<String>(3)?
                            .parse()
                            .map_err(|e: InputError| Error::Internal(e.to_string()))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((p.get(1)?, p.get(2)?, mine))
        })
        .collect()
}

const SECRET_COLUMNS: &str = "id, name, kind, label, expires_at, max_age_days, totp, current_version, created_at, \
     (SELECT c.external_id FROM credentials c WHERE c.id = vault_secrets.credential_id)";

async fn secret_metas(db: &Db, partition: i64, name: Option<&str>) -> Result<Vec<SecretMeta>> {
    let rows = match name {
        Some(n) => {
            db.fetch_all(
                &format!("SELECT {SECRET_COLUMNS} FROM vault_secrets WHERE partition_id = $1 AND name = $2"),
                params![partition, n],
            )
            .await?
        }
        None => {
            db.fetch_all(&format!("SELECT {SECRET_COLUMNS} FROM vault_secrets WHERE partition_id = $1 ORDER BY name"), params![partition])
                .await?
        }
    };
    // One secret's versions when a name is given: a read must not cost the partition's size.
    const VERSIONS: &str = "SELECT v.secret_id, v.version, v.masked, v.created_by, v.created_at, v.destroyed_at \
         FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE s.partition_id = $1";
    let version_rows = match name {
        Some(n) => {
            db.fetch_all(
                &format!("{VERSIONS} AND s.name = $2 ORDER BY v.version"),
                params![partition, n],
            )
            .await?
        }
        None => {
            db.fetch_all(
                &format!("{VERSIONS} ORDER BY v.secret_id, v.version"),
                params![partition],
            )
            .await?
        }
    };
    let mut versions_of: std::collections::HashMap<i64, Vec<VersionMeta>> =
        std::collections::HashMap::new();
    for v in &version_rows {
        versions_of.entry(v.get(0)?).or_default().push(VersionMeta {
            version: v.get(1)?,
            masked: v.get(2)?,
            created_by: v.get(3)?,
            created_at: v.get(4)?,
            destroyed_at: v.get(5)?,
        });
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.get(0)?;
            let totp: Option<String> = r.get(6)?;
            let versions = versions_of.remove(&id).unwrap_or_default();
            let current_version: i64 = r.get(7)?;
            let current = versions.iter().find(|v| v.version == current_version);
            Ok(SecretMeta {
                id,
                name: r.get(1)?,
                kind: r
                    .get::<String>(2)?
                    .parse()
                    .map_err(|e: InputError| Error::Internal(e.to_string()))?,
                label: r.get(3)?,
                expires_at: r.get(4)?,
                max_age_days: r.get(5)?,
                totp: totp
                    .map(|t| {
                        serde_json::from_str(&t).map_err(|e| {
                            Error::Internal(format!("stored TOTP parameters are invalid: {e}"))
                        })
                    })
                    .transpose()?,
                masked: current.map(|c| c.masked.clone()).unwrap_or_default(),
                rotated_at: current
                    .map(|c| c.created_at)
                    .unwrap_or_else(|| Timestamp::from_micros(0)),
                current_version,
                created_at: r.get(8)?,
                credential: r.get(9)?,
                versions,
            })
        })
        .collect()
}

/// The secrets of a partition (metadata only).
pub async fn secrets(rk: &Rekey, who: &Identity, partition: &VaultName) -> Result<Vec<SecretMeta>> {
    let p = partition_for(rk, who, partition, Access::Read).await?;
    secret_metas(&rk.db, p.id, None).await
}

/// Secrets of a partition older than their maximum age.
pub async fn overdue(rk: &Rekey, who: &Identity, partition: &VaultName) -> Result<Vec<SecretMeta>> {
    let now = rk.now();
    Ok(secrets(rk, who, partition)
        .await?
        .into_iter()
        .filter(|s| s.overdue(now))
        .collect())
}

async fn one_secret(db: &Db, p: &Partition, name: &VaultName) -> Result<SecretMeta> {
    secret_metas(db, p.id, Some(name.as_str()))
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("no secret named '{name}' in '{}'", p.name)))
}

/// The generation to wrap the next data key under, counting this use.
pub(crate) async fn next_generation(tx: &mut WriteTx, key_id: &str, limit: i64) -> Result<i64> {
    let now = tx.now();
    tx.execute(
        "INSERT INTO vault_keys (key_id, generation, wraps, created_at) VALUES ($1, 0, 0, $2) ON CONFLICT (key_id) DO NOTHING",
        params![key_id, now],
    )
    .await?;
    let row = tx
        .fetch_one(
            "UPDATE vault_keys SET wraps = wraps + 1 WHERE key_id = $1 RETURNING generation, wraps",
            params![key_id],
        )
        .await?;
    let (generation, wraps): (i64, i64) = (row.get(0)?, row.get(1)?);
    if wraps <= limit {
        return Ok(generation);
    }
    tx.execute(
        "UPDATE vault_keys SET generation = generation + 1, wraps = 1 WHERE key_id = $1",
        params![key_id],
    )
    .await?;
    Ok(generation + 1)
}

/// Seals a value as a version and stores its keyed fingerprints, so notices can be checked for
/// it without opening it again.
pub(super) async fn seal_version(
    rk: &Rekey,
    tx: &mut WriteTx,
    p: &Partition,
    secret: i64,
    version: i64,
    value: &SecretValue,
    masked: &str,
) -> Result<()> {
    seal_unfingerprinted(rk, tx, p, secret, version, value, masked).await?;
    record_fingerprints(rk, tx, secret, version, value).await
}

pub(super) async fn record_fingerprints(
    rk: &Rekey,
    tx: &mut WriteTx,
    secret: i64,
    version: i64,
    value: &SecretValue,
) -> Result<()> {
    let key = rk.vault.fingerprint_key()?;
    for f in super::fingerprint::fingerprints(&key, value.expose()) {
        tx.execute(
            "INSERT INTO vault_fingerprints (secret_id, version, form, window_len, window_fp, full_len, full_fp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![secret, version, f.form, f.window_len, f.window_fp, f.full_len, f.full_fp],
        )
        .await?;
    }
    tx.execute(
        "UPDATE vault_versions SET fingerprinted = 1 WHERE secret_id = $1 AND version = $2",
        params![secret, version],
    )
    .await?;
    Ok(())
}

/// Seals a value without fingerprints: only for the fingerprint key itself.
pub(super) async fn seal_unfingerprinted(
    rk: &Rekey,
    tx: &mut WriteTx,
    p: &Partition,
    secret: i64,
    version: i64,
    value: &SecretValue,
    masked: &str,
) -> Result<()> {
    let keyring = rk.vault.keyring()?;
    let master = keyring.current();
    let generation =
        next_generation(tx, &master.fingerprint(), rk.vault.wraps_per_generation).await?;
    let row = RowBinding {
        partition: p.id,
        secret,
        version,
    };
    let envelope = crypto::seal_value(master, generation, row, value.expose().as_bytes())
        .map_err(|e| Error::Internal(format!("sealing failed: {e}")))?;
    let now = tx.now();
    let by = tx.actor().name().to_string();
    tx.execute(
        "INSERT INTO vault_versions (secret_id, version, key_id, generation, wrapped_dek, ciphertext, masked, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![secret, version, envelope.key_id, envelope.generation, envelope.wrapped_dek, envelope.ciphertext, masked, by, now],
    )
    .await?;
    Ok(())
}

/// Stores a value as the next version of a secret (creating the secret when new).
pub async fn store(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    new: NewSecret,
) -> Result<i64> {
    let (value, totp) = match new.kind {
        SecretKind::TotpSeed => {
            let (seed, params) = parse_totp_seed(&new.value, new.totp)?;
            (seed, Some(params))
        }
        _ => (new.value.clone(), None),
    };
    let label = new.label.as_str();
    let masked = value.masked(new.kind);
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Write).await?;
    let now = tx.now();
    let credential_id: Option<i64> = match &new.credential {
        None => None,
        Some(external) => Some(
            tx.fetch_optional(
                "SELECT id FROM credentials WHERE external_id = $1",
                params![external.as_str()],
            )
            .await?
            .ok_or_else(|| {
                InputError::new(
                    "credential",
                    format!("no credential has the external id '{external}'"),
                )
            })?
            .get(0)?,
        ),
    };
    let existing = tx
        .fetch_optional(
            "SELECT id, current_version, kind FROM vault_secrets WHERE partition_id = $1 AND name = $2",
            params![p.id, name.as_str()],
        )
        .await?;
    let totp_json = totp
        .map(|t| serde_json::to_string(&t))
        .transpose()
        .map_err(|e| Error::Internal(format!("TOTP parameters did not encode: {e}")))?;
    let (secret, version) = match existing {
        Some(row) => {
            let kind: String = row.get(2)?;
            if kind != new.kind.as_str() {
                return Err(Error::Conflict(format!(
                    "'{name}' already holds a secret of kind {kind}; store the {} under another name",
                    new.kind
                )));
            }
            let (id, version): (i64, i64) = (row.get(0)?, row.get::<i64>(1)? + 1);
            tx.execute(
                "UPDATE vault_secrets SET current_version = $1, label = $2, expires_at = $3, max_age_days = $4, totp = $5, updated_at = $6, credential_id = $7 WHERE id = $8",
                params![version, label, new.expires_at, new.max_age_days, totp_json, now, credential_id, id],
            )
            .await?;
            (id, version)
        }
        None => {
            let id: i64 = tx
                .scalar(
                    "INSERT INTO vault_secrets (partition_id, name, kind, label, expires_at, max_age_days, totp, current_version, created_at, updated_at, credential_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) RETURNING id",
                    params![p.id, name.as_str(), new.kind.as_str(), label, new.expires_at, new.max_age_days, totp_json, now, credential_id],
                )
                .await?;
            (id, 1)
        }
    };
    seal_version(rk, &mut tx, &p, secret, version, &value, &masked).await?;
    tx.audit(
        Target::VaultSecret(secret),
        Detail::VaultSecretStored {
            partition: p.id,
            secret,
            version,
            secret_kind: new.kind,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// How a value left the vault, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// Through the API, by a script or an agent.
    Read,
    /// Shown to a person after re-authentication.
    Reveal,
}

/// The row of a secret, read inside the transaction that uses it.
struct SecretRow {
    id: i64,
    kind: SecretKind,
    current_version: i64,
    totp: Option<TotpParams>,
}

async fn secret_in(tx: &mut WriteTx, p: &Partition, name: &VaultName) -> Result<SecretRow> {
    let row = tx
        .fetch_optional(
            "SELECT id, kind, current_version, totp FROM vault_secrets WHERE partition_id = $1 AND name = $2",
            params![p.id, name.as_str()],
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("no secret named '{name}' in '{}'", p.name)))?;
    let totp: Option<String> = row.get(3)?;
    Ok(SecretRow {
        id: row.get(0)?,
        kind: row
            .get::<String>(1)?
            .parse()
            .map_err(|e: InputError| Error::Internal(e.to_string()))?,
        current_version: row.get(2)?,
        totp: totp
            .map(|t| {
                serde_json::from_str(&t).map_err(|e| {
                    Error::Internal(format!("stored TOTP parameters are invalid: {e}"))
                })
            })
            .transpose()?,
    })
}

/// Opens a version (the current one when `version` is `None`). Access and the caller's token
/// are checked in the transaction that opens it; the plaintext is returned only after the
/// audit entry has committed.
pub async fn read(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    version: Option<i64>,
    kind: ReadKind,
) -> Result<(SecretMeta, i64, SecretValue)> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Read).await?;
    crate::agents::may_read_values(&mut tx, who).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    let version = version.unwrap_or(secret.current_version);
    let value = open_in(rk, &mut tx, &p, secret.id, version).await?;
    let detail = match kind {
        ReadKind::Read => Detail::VaultSecretRead {
            partition: p.id,
            secret: secret.id,
            version,
        },
        ReadKind::Reveal => Detail::VaultSecretRevealed {
            partition: p.id,
            secret: secret.id,
            version,
        },
    };
    tx.audit(Target::VaultSecret(secret.id), detail).await?;
    tx.commit().await?;
    let meta = one_secret(&rk.db, &p, name).await?;
    Ok((meta, version, value))
}

async fn open_in(
    rk: &Rekey,
    tx: &mut WriteTx,
    p: &Partition,
    secret: i64,
    version: i64,
) -> Result<SecretValue> {
    let row = tx
        .fetch_optional(
            "SELECT key_id, generation, wrapped_dek, ciphertext, destroyed_at FROM vault_versions WHERE secret_id = $1 AND version = $2",
            params![secret, version],
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("version {version} does not exist")))?;
    if row.get::<Option<i64>>(4)?.is_some() {
        return Err(Error::Refused(format!(
            "version {version} was destroyed; its data key is gone and it cannot be read"
        )));
    }
    let envelope = Envelope {
        key_id: row.get(0)?,
        generation: row.get(1)?,
        wrapped_dek: row.get(2)?,
        ciphertext: row.get(3)?,
    };
    let master = rk.vault.key(&envelope.key_id)?;
    let plaintext = crypto::open_value(
        &master,
        RowBinding {
            partition: p.id,
            secret,
            version,
        },
        &envelope,
    )
    .map_err(|e| {
        Error::Internal(format!(
            "secret {secret} version {version} did not open: {e}"
        ))
    })?;
    let text = String::from_utf8(plaintext.to_vec())
        .map_err(|_| Error::Internal("a stored value is not UTF-8".into()))?;
    Ok(SecretValue(text.into()))
}

/// The current TOTP code of a seed and the seconds it stays valid; audited as an access.
pub async fn totp(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
) -> Result<(String, u32)> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Read).await?;
    crate::agents::may_read_values(&mut tx, who).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    let params = match (secret.kind, secret.totp) {
        (SecretKind::TotpSeed, Some(params)) => params,
        _ => return Err(Error::Refused(format!("'{name}' is not a TOTP seed"))),
    };
    let seed = open_in(rk, &mut tx, &p, secret.id, secret.current_version).await?;
    let code = totp_code(&seed, params, tx.now())?;
    tx.audit(
        Target::VaultSecret(secret.id),
        Detail::VaultTotpCode {
            partition: p.id,
            secret: secret.id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// Generates a new value by policy as the next version; returns it once.
pub async fn generate(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    policy: &GeneratePolicy,
) -> Result<(i64, SecretValue)> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Write).await?;
    crate::agents::may_read_values(&mut tx, who).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    if secret.kind == SecretKind::TotpSeed {
        return Err(Error::Refused(
            "TOTP seeds come from the service that checks the codes; store a new one instead"
                .into(),
        ));
    }
    let value = policy.generate();
    let masked = value.masked(secret.kind);
    let version = secret.current_version + 1;
    let now = tx.now();
    tx.execute(
        "UPDATE vault_secrets SET current_version = $1, updated_at = $2 WHERE id = $3",
        params![version, now, secret.id],
    )
    .await?;
    seal_version(rk, &mut tx, &p, secret.id, version, &value, &masked).await?;
    tx.audit(
        Target::VaultSecret(secret.id),
        Detail::VaultSecretGenerated {
            partition: p.id,
            secret: secret.id,
            version,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((version, value))
}

/// Destroys a version: its wrapped data key is deleted, so its ciphertext can never be opened.
pub async fn destroy(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    version: i64,
) -> Result<()> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Write).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    let now = tx.now();
    let done = tx
        .execute(
            "UPDATE vault_versions SET wrapped_dek = $1, destroyed_at = $2 WHERE secret_id = $3 AND version = $4 AND destroyed_at IS NULL",
            params![Vec::<u8>::new(), now, secret.id, version],
        )
        .await?;
    if done == 0 {
        return Err(Error::NotFound(format!(
            "'{name}' has no version {version} to destroy"
        )));
    }
    tx.execute(
        "DELETE FROM vault_fingerprints WHERE secret_id = $1 AND version = $2",
        params![secret.id, version],
    )
    .await?;
    tx.audit(
        Target::VaultSecret(secret.id),
        Detail::VaultVersionDestroyed {
            partition: p.id,
            secret: secret.id,
            version,
        },
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = rk.db.flush_destroyed().await {
        // The version is destroyed either way; only the WAL's old copy waits longer.
        tracing::warn!(error = %e, "could not checkpoint the database after a destroy");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the seed is the ASCII of "1234567890" repeated to the hash size.
    #[test]
    fn rfc_6238_vectors_for_every_algorithm() {
        let seed = |len: usize| {
            let ascii: Vec<u8> = b"1234567890".iter().cycle().take(len).copied().collect();
            SecretValue(totp_rs::Secret::Raw(ascii).to_encoded().to_string().into())
        };
        let cases = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in cases {
            let at = Timestamp::from_secs(t);
            let p = |algorithm| TotpParams {
                digits: 8,
                period: 30,
                algorithm,
            };
            assert_eq!(
                totp_code(&seed(20), p(TotpAlgorithm::SHA1), at).unwrap().0,
                sha1,
                "SHA1 {t}"
            );
            assert_eq!(
                totp_code(&seed(32), p(TotpAlgorithm::SHA256), at)
                    .unwrap()
                    .0,
                sha256,
                "SHA256 {t}"
            );
            assert_eq!(
                totp_code(&seed(64), p(TotpAlgorithm::SHA512), at)
                    .unwrap()
                    .0,
                sha512,
                "SHA512 {t}"
            );
        }
        let (_, remaining) =
            totp_code(&seed(20), TotpParams::default(), Timestamp::from_secs(59)).unwrap();
        assert_eq!(remaining, 1);
    }

    #[test]
    fn seeds_are_read_from_uris_and_base32() {
        let uri = SecretValue::parse("otpauth://totp/Acme:ops?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme&digits=8&period=60&algorithm=SHA256".into()).unwrap();
        let (seed, params) = parse_totp_seed(&uri, TotpParams::default()).unwrap();
        assert_eq!(seed.expose(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            params,
            TotpParams {
                digits: 8,
                period: 60,
                algorithm: TotpAlgorithm::SHA256
            }
        );
        let plain = SecretValue::parse("gezd gnbv gy3t qojq".into()).unwrap();
        assert!(parse_totp_seed(&plain, TotpParams::default()).is_ok());
        let bad = SecretValue::parse("not-base32!".into()).unwrap();
        assert!(parse_totp_seed(&bad, TotpParams::default()).is_err());
        assert!(
            parse_totp_seed(
                &plain,
                TotpParams {
                    digits: 4,
                    ..TotpParams::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn otpauth_uris_that_cannot_make_codes_are_refused_by_name() {
        let message = |uri: &str| {
            parse_totp_seed(
                &SecretValue::parse(uri.into()).unwrap(),
                TotpParams::default(),
            )
            .unwrap_err()
            .message
        };
        const BASE: &str = "otpauth://totp/Acme:ops?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(
            message(&format!("{BASE}&period=0")),
            "the otpauth URI's a TOTP period is 15 to 120 seconds, not 0"
        );
        assert_eq!(
            message(&format!("{BASE}&digits=4")),
            "the otpauth URI's TOTP codes have 6 to 8 digits, not 4"
        );
        assert_eq!(
            message(&format!("{BASE}&digits=9")),
            "the otpauth URI's TOTP codes have 6 to 8 digits, not 9"
        );
        assert_eq!(
            message(&format!("{BASE}&algorithm=MD5")),
            "the otpauth URI's algorithm=MD5 is not SHA1, SHA256 or SHA512"
        );
        assert_eq!(
            message("otpauth://totp/Acme:ops?secret=GEZDGNBV"),
            "a TOTP secret has at least 80 bits (16 base32 characters)"
        );
        assert_eq!(
            message("otpauth://totp/Acme:ops?digits=6"),
            "the otpauth URI has no secret= parameter"
        );
        assert!(
            message("otpauth://hotp/Acme:ops?secret=GEZDGNBVGY3TQOJQ&counter=1").contains("hotp")
        );
        // A period of 0 stored before the check cannot panic a request that asks for a code.
        let seed = SecretValue::parse("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into()).unwrap();
        let zero = TotpParams {
            period: 0,
            ..TotpParams::default()
        };
        assert!(totp_code(&seed, zero, Timestamp::from_secs(59)).is_err());
    }

    #[test]
    fn generated_values_follow_the_policy() {
        let p = GeneratePolicy::new(32, Alphabet::Alphanumeric, "rk_live_").unwrap();
        let a = p.generate();
        assert!(a.expose().starts_with("rk_live_"));
        assert_eq!(a.expose().len(), 40);
        assert_ne!(a.expose(), p.generate().expose());
        let hex = GeneratePolicy::new(16, Alphabet::Hex, "")
            .unwrap()
            .generate();
        assert!(hex.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert!(GeneratePolicy::new(8, Alphabet::Hex, "").is_err());
        assert!(GeneratePolicy::new(16, Alphabet::Hex, "bad prefix").is_err());
        assert_eq!(format!("{a:?}"), "SecretValue([redacted])");
    }

    /// The per-key use counter moves to a new KEK generation after `limit` wrapped data keys, so
    /// no generation's key comes near the 2^32 random-nonce bound of NIST SP 800-38D (the
    /// production limit is `WRAPS_PER_GENERATION`).
    #[tokio::test]
    async fn the_use_counter_forces_a_new_generation() {
        use crate::audit::Actor;
        use crate::storage::DatabaseUrl;
        const { assert!(WRAPS_PER_GENERATION <= 1 << 28) };
        let dir = std::env::temp_dir().join(format!("rekey-vault-gen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = DatabaseUrl::parse(&format!("sqlite://{}/v.db", dir.display())).unwrap();
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let mut tx =
            crate::audit::WriteTx::begin(&db, Actor::System, Timestamp::from_secs(1_800_000_000))
                .await
                .unwrap();
        let mut generations = Vec::new();
        for _ in 0..7 {
            generations.push(next_generation(&mut tx, "key-a", 3).await.unwrap());
        }
        assert_eq!(generations, [0, 0, 0, 1, 1, 1, 2]);
        // Each master key counts on its own.
        assert_eq!(next_generation(&mut tx, "key-b", 3).await.unwrap(), 0);
        drop(tx);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lists_show_only_a_masked_prefix() {
        let v = SecretValue::parse("sk_live_abcdefghijklmnop".into()).unwrap();
        assert_eq!(v.masked(SecretKind::ApiKey), "sk_l…");
        let shorter = SecretValue::parse("sk_live_abcdefghijklmno".into()).unwrap();
        assert_eq!(
            shorter.masked(SecretKind::ApiKey),
            "••••",
            "23 characters show nothing"
        );
        assert_eq!(v.masked(SecretKind::Password), "••••");
        assert_eq!(
            SecretValue::parse("short".into())
                .unwrap()
                .masked(SecretKind::ApiKey),
            "••••"
        );
    }
}
