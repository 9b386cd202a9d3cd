//! A person's second factor: TOTP enrolment and removal, one-time recovery codes, and an
//! admin's reset of someone else's factor.
//!
//! Changing a factor needs the current password (and, to remove one, a current code or a
//! recovery code), so a stolen session cannot plant its own seed and then pass re-authentication
//! with it. A factor is never enrolled over another: it is removed first. The seeds are sealed in
//! the vault's system partition; recovery codes are stored as SHA-256 (each has 80 random bits,
//! so a slow hash adds nothing) and work once.

use std::net::IpAddr;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::Rekey;
use crate::audit::WriteTx;
use crate::audit::{Detail, Target};
use crate::error::{Conflict, Error, PeopleOnly, Refusal, Result};
use crate::identity::{Identity, InputError, Permission, UserId};
use crate::params;
use crate::password::Password;
use crate::totp::{self, CodeRejected, TotpSecret};
use crate::users::{self, Credentials, User};
use crate::vault::SecretKind;
use crate::vault::SecretValue;
use crate::vault::system;

/// How many recovery codes a person gets at once.
pub const RECOVERY_CODES: usize = 10;
/// How long a seed shown for enrolment waits for its first code.
pub const ENROLMENT_SECS: i64 = 10 * 60;
/// Recovery codes avoid letters and digits that read alike (0/O, 1/I).
const RECOVERY_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const RECOVERY_LEN: usize = 16;

/// A second factor that checked out, to be used up in the transaction that records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    /// A TOTP code of this step.
    Totp(i64),
    /// This recovery code (its row).
    RecoveryCode(i64),
}

/// A seed offered for enrolment: the URI authenticator apps read and its QR code. Both carry
/// the seed, so Debug prints neither.
pub struct Enrolment {
    otpauth_uri: SecretString,
    qr_svg: SecretString,
}

impl Enrolment {
    /// The `otpauth://` URI an authenticator app reads (it holds the seed: show it once).
    pub fn otpauth_uri(&self) -> &str {
        self.otpauth_uri.expose_secret()
    }

    /// The URI as a QR code in SVG (it holds the seed: show it once).
    pub fn qr_svg(&self) -> &str {
        self.qr_svg.expose_secret()
    }
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([redacted])")
    }
}

/// Freshly made recovery codes, shown once. Debug prints a redaction.
pub struct RecoveryCodes(Vec<SecretString>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes([{} redacted])", self.0.len())
    }
}

impl RecoveryCodes {
    fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        Self(
            (0..RECOVERY_CODES)
                .map(|_| {
                    let raw: String = (0..RECOVERY_LEN)
                        .map(|_| {
                            RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char
                        })
                        .collect();
                    let groups: Vec<&str> = (0..RECOVERY_LEN)
                        .step_by(4)
                        .map(|i| &raw[i..i + 4])
                        .collect();
                    SecretString::from(groups.join("-"))
                })
                .collect(),
        )
    }

    /// The codes, to show this once.
    pub fn expose(&self) -> Vec<&str> {
        self.0.iter().map(|c| c.expose_secret()).collect()
    }
}

/// What a typed code is, before anything is looked up.
enum Typed {
    Totp(String),
    Recovery(String),
}

fn classify(code: &str) -> Result<Typed, CodeRejected> {
    let cleaned: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    if cleaned.len() == 6 && cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Typed::Totp(cleaned));
    }
    if cleaned.len() == RECOVERY_LEN && cleaned.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        return Ok(Typed::Recovery(cleaned));
    }
    Err(CodeRejected::Malformed)
}

fn recovery_hash(normalised: &str) -> String {
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// The person's login seed, opened from the vault's system partition.
async fn login_seed(rk: &Rekey, user: UserId) -> Result<Option<TotpSecret>> {
    let Some(opened) = system::open(rk, &system::login_seed(user)).await? else {
        return Ok(None);
    };
    TotpSecret::from_base32(opened.value.expose())
        .map(Some)
        .map_err(|e| {
            Error::Internal(format!(
                "the sealed login seed of user {user} is invalid: {e}"
            ))
        })
}

/// Checks a TOTP code or a recovery code of an enrolled person. Nothing is used up yet: that
/// happens in the transaction that records the success ([`use_up`]).
pub(crate) async fn check(
    rk: &Rekey,
    creds: &Credentials,
    code: &str,
) -> Result<std::result::Result<SecondFactor, CodeRejected>> {
    let typed = match classify(code) {
        Ok(typed) => typed,
        Err(rejected) => return Ok(Err(rejected)),
    };
    match typed {
        Typed::Totp(code) => {
            let Some(seed) = login_seed(rk, creds.user.id).await? else {
                return Ok(Err(CodeRejected::Wrong));
            };
            Ok(totp::verify(&seed, &code, rk.now(), creds.totp_last_step).map(SecondFactor::Totp))
        }
        Typed::Recovery(code) => {
            let row = rk
                .db
                .fetch_optional(
                    "SELECT id, used_at FROM recovery_codes WHERE user_id = $1 AND code_hash = $2",
                    params![creds.user.id, recovery_hash(&code)],
                )
                .await?;
            Ok(match row {
                None => Err(CodeRejected::Wrong),
                Some(r) if r.get::<Option<i64>>(1)?.is_some() => Err(CodeRejected::Reused),
                Some(r) => Ok(SecondFactor::RecoveryCode(r.get(0)?)),
            })
        }
    }
}

/// Uses a checked factor up, inside the transaction that records its success. False when a
/// concurrent request used it first: writers are serialised, so this check-and-set is what makes
/// a code work exactly once.
pub(crate) async fn use_up(tx: &mut WriteTx, user: UserId, factor: SecondFactor) -> Result<bool> {
    match factor {
        SecondFactor::Totp(step) => users::mark_totp_step(tx, user, step).await,
        SecondFactor::RecoveryCode(id) => {
            let now = tx.now();
            let used = tx
                .execute(
                    "UPDATE recovery_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
                    params![now, id],
                )
                .await?;
            if used != 1 {
                return Ok(false);
            }
            let remaining: i64 = tx
                .scalar(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                    params![user],
                )
                .await?;
            tx.audit(Target::User(user), Detail::RecoveryCodeUsed { remaining })
                .await?;
            Ok(true)
        }
    }
}

async fn own_credentials(rk: &Rekey, id: UserId) -> Result<Credentials> {
    users::credentials_by_id(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))
}

/// First step of enrolment, after the current password: draws a seed and keeps it, sealed,
/// until its first code confirms it.
pub async fn begin(
    rk: &Rekey,
    id: UserId,
    password: &Password,
    address: Option<IpAddr>,
) -> Result<Enrolment> {
    let creds = own_credentials(rk, id).await?;
    crate::login::confirm_password(rk, &creds, password, address).await?;
    if creds.user.totp_enrolled {
        return Err(already_enrolled());
    }
    let seed = TotpSecret::generate();
    let mut tx = rk.write(creds.user.actor()).await?;
    system::seal(
        rk,
        &mut tx,
        &system::pending_seed(id),
        SecretKind::TotpSeed,
        &SecretValue::from_trusted(seed.base32().to_string()),
    )
    .await?;
    tx.audit(Target::User(id), Detail::TotpEnrolmentStarted)
        .await?;
    tx.commit().await?;
    let uri = seed.otpauth_uri(creds.user.username.as_str());
    Ok(Enrolment {
        qr_svg: totp::qr_svg(&uri).into(),
        otpauth_uri: uri.into(),
    })
}

fn already_enrolled() -> Error {
    Error::Conflict(Conflict::TotpAlreadyEnrolled)
}

/// Second step: the current password again and the first code from the app. Enables TOTP,
/// ends every other session, and returns the recovery codes, shown this once.
pub async fn confirm(
    rk: &Rekey,
    id: UserId,
    password: &Password,
    code: &str,
    address: Option<IpAddr>,
) -> Result<(User, RecoveryCodes)> {
    let creds = own_credentials(rk, id).await?;
    crate::login::confirm_password(rk, &creds, password, address).await?;
    let pending = system::open(rk, &system::pending_seed(id))
        .await?
        .ok_or_else(|| Error::Refused(Refusal::TotpSetupMissing))?;
    if rk.now().secs_since(pending.sealed_at) > ENROLMENT_SECS {
        return Err(Error::Refused(Refusal::TotpSetupExpired));
    }
    let seed = TotpSecret::from_base32(pending.value.expose())
        .map_err(|e| Error::Internal(format!("a pending seed is invalid: {e}")))?;
    let step = totp::verify(&seed, code, rk.now(), 0).map_err(|e| match e {
        CodeRejected::Malformed => InputError::new("code", "a code is 6 digits"),
        _ => InputError::new(
            "code",
            "the code does not match; check your authenticator app's time and try the next code",
        ),
    })?;
    let codes = RecoveryCodes::generate();
    let mut tx = rk.write(creds.user.actor()).await?;
    if users::get_in(&mut tx, id).await?.totp_enrolled {
        return Err(already_enrolled());
    }
    system::seal(
        rk,
        &mut tx,
        &system::login_seed(id),
        SecretKind::TotpSeed,
        &pending.value,
    )
    .await?;
    system::shred(&mut tx, &system::pending_seed(id)).await?;
    replace_recovery_codes(&mut tx, id, &codes).await?;
    users::update_ending_sessions(
        &mut tx,
        id,
        "totp_enrolled = 1, totp_last_step = $1",
        params![step],
    )
    .await?;
    tx.audit(Target::User(id), Detail::TotpEnrolled).await?;
    let user = users::get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok((user, codes))
}

async fn replace_recovery_codes(tx: &mut WriteTx, id: UserId, codes: &RecoveryCodes) -> Result<()> {
    tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", params![id])
        .await?;
    let now = tx.now();
    for code in codes.expose() {
        let normalised: String = code.chars().filter(|c| *c != '-').collect();
        tx.execute(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            params![id, recovery_hash(&normalised), now],
        )
        .await?;
    }
    tx.audit(
        Target::User(id),
        Detail::RecoveryCodesIssued {
            count: codes.0.len() as i64,
        },
    )
    .await?;
    Ok(())
}

/// Checks a code for a change that needs one, counting a wrong one towards the throttle.
async fn confirm_code(
    rk: &Rekey,
    creds: &Credentials,
    code: &str,
    address: Option<IpAddr>,
) -> Result<SecondFactor> {
    match check(rk, creds, code).await? {
        Ok(factor) => Ok(factor),
        Err(rejected) => crate::login::code_rejected(rk, &creds.user, rejected, address).await,
    }
}

/// Removes one's TOTP, with the current password and a current code (or a recovery code). The
/// seed is shredded, the recovery codes deleted, and every other session ends.
pub async fn remove(
    rk: &Rekey,
    id: UserId,
    password: &Password,
    code: &str,
    address: Option<IpAddr>,
) -> Result<User> {
    let creds = own_credentials(rk, id).await?;
    crate::login::confirm_password(rk, &creds, password, address).await?;
    if !creds.user.totp_enrolled {
        return Err(Error::Conflict(Conflict::TotpNotEnrolled));
    }
    let factor = confirm_code(rk, &creds, code, address).await?;
    let mut tx = rk.write(creds.user.actor()).await?;
    if !use_up(&mut tx, id, factor).await? {
        drop(tx);
        return crate::login::code_rejected(rk, &creds.user, CodeRejected::Reused, address).await;
    }
    let user = clear_factor(&mut tx, id, Detail::TotpRemoved).await?;
    tx.commit().await?;
    flush_shredded(rk).await;
    Ok(user)
}

/// Makes a new set of recovery codes (the old ones stop working), with the current password
/// and a current code.
pub async fn renew_recovery_codes(
    rk: &Rekey,
    id: UserId,
    password: &Password,
    code: &str,
    address: Option<IpAddr>,
) -> Result<RecoveryCodes> {
    let creds = own_credentials(rk, id).await?;
    crate::login::confirm_password(rk, &creds, password, address).await?;
    if !creds.user.totp_enrolled {
        return Err(Error::Conflict(Conflict::RecoveryCodesNeedTotp));
    }
    let factor = confirm_code(rk, &creds, code, address).await?;
    let codes = RecoveryCodes::generate();
    let mut tx = rk.write(creds.user.actor()).await?;
    if !use_up(&mut tx, id, factor).await? {
        drop(tx);
        return crate::login::code_rejected(rk, &creds.user, CodeRejected::Reused, address).await;
    }
    replace_recovery_codes(&mut tx, id, &codes).await?;
    tx.commit().await?;
    Ok(codes)
}

/// An admin resets another person's TOTP (a lost phone with no recovery code left): the seed is
/// shredded, the recovery codes deleted and every session of that person ends. Audited with the
/// admin as actor. The person signs in with their password and enrols again.
pub async fn admin_reset(rk: &Rekey, by: &Identity, id: UserId) -> Result<User> {
    let Identity::User { id: admin, .. } = by else {
        return Err(PeopleOnly::ResetSecondFactor.into());
    };
    if !by.may(Permission::ManageUsers) {
        return Err(Error::Forbidden(Permission::ManageUsers));
    }
    if *admin == id {
        return Err(Error::Refused(Refusal::ResetOwnSecondFactor));
    }
    let mut tx = rk.write(by.into()).await?;
    let user = users::get_in(&mut tx, id).await?;
    if !user.totp_enrolled {
        return Err(Error::Conflict(Conflict::NoTotpToReset(
            user.username.to_string(),
        )));
    }
    let user = clear_factor(&mut tx, id, Detail::TotpReset).await?;
    tx.commit().await?;
    flush_shredded(rk).await;
    Ok(user)
}

/// Writes out the shredded seed's old pages now (see `Db::flush_destroyed`).
async fn flush_shredded(rk: &Rekey) {
    if let Err(e) = rk.db.flush_destroyed().await {
        tracing::warn!(error = %e, "could not checkpoint the database after shredding a seed");
    }
}

async fn clear_factor(tx: &mut WriteTx, id: UserId, detail: Detail) -> Result<User> {
    system::shred(tx, &system::login_seed(id)).await?;
    system::shred(tx, &system::pending_seed(id)).await?;
    tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", params![id])
        .await?;
    users::update_ending_sessions(tx, id, "totp_enrolled = 0, totp_last_step = 0", &[]).await?;
    tx.audit(Target::User(id), detail).await?;
    users::get_in(tx, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_random_grouped_and_redacted() {
        let a = RecoveryCodes::generate();
        let b = RecoveryCodes::generate();
        assert_eq!(a.expose().len(), RECOVERY_CODES);
        assert_ne!(a.expose(), b.expose());
        for code in a.expose() {
            assert_eq!(code.len(), 19, "{code}");
            assert!(matches!(classify(code), Ok(Typed::Recovery(_))));
        }
        assert_eq!(format!("{a:?}"), "RecoveryCodes([10 redacted])");
    }

    #[test]
    fn codes_are_told_apart_by_shape() {
        assert!(matches!(classify("123 456"), Ok(Typed::Totp(_))));
        assert!(matches!(
            classify("abcd-efgh-jkmn-pqrs"),
            Ok(Typed::Recovery(c)) if c == "ABCDEFGHJKMNPQRS"
        ));
        assert!(classify("12345").is_err());
        assert!(
            classify("ABCD-EFGH-JKMN-PQR0").is_err(),
            "0 is not in the alphabet"
        );
    }
}
