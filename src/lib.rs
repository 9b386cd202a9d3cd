//! Rekey's domain core: the types, rules and storage behind credential rotation.
//!
//! No web framework lives here. The `app` crate (Leptos pages and server functions) and the
//! `server` crate (the `rekey` binary) call into this crate; the browser build uses only the
//! shared types (feature `server` off).

// A failed expectation is a panic in a request; the core returns errors instead. Tests may
// expect (clippy.toml allows it there).
#![warn(clippy::expect_used)]
// Every public item says what it is: the core is read by the app, the server and the browser.
#![warn(missing_docs)]

pub mod audit;
pub mod clock;
mod declare;
pub mod delivery;
pub mod identity;
pub mod inventory;
pub mod notices;
pub mod vault;

#[cfg(feature = "server")]
pub mod agents;
#[cfg(feature = "server")]
pub mod demo;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod evidence;
#[cfg(feature = "server")]
pub mod history;
#[cfg(feature = "server")]
pub mod idempotency;
#[cfg(feature = "server")]
pub mod keyfile;
#[cfg(feature = "server")]
pub mod login;
#[cfg(feature = "server")]
pub mod markdown;
pub mod model;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod sessions;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "server")]
pub mod storage;
#[cfg(feature = "server")]
pub mod totp;
#[cfg(feature = "server")]
pub mod users;

#[cfg(feature = "server")]
pub use context::{DEFAULT_TOKEN_HOLD_SECS, Rekey};

#[cfg(feature = "server")]
mod context {
    use std::sync::Arc;

    use crate::audit::{Actor, WriteTx};
    use crate::clock::{Clock, Timestamp};
    use crate::error::Result;
    use crate::login::throttle::{Throttle, ThrottlePolicy};
    use crate::storage::Db;
    use crate::vault::Vault;

    /// An hour: long enough that a second admin, or the agent's owner reading the audit trail,
    /// notices a token nobody asked for.
    pub const DEFAULT_TOKEN_HOLD_SECS: i64 = 60 * 60;

    /// Everything the domain needs to act: the database, the clock, the vault's keys, and a
    /// bell that wakes the delivery worker when something is approved.
    #[derive(Clone)]
    pub struct Rekey {
        /// The database.
        pub db: Db,
        /// The clock every rule reads (a manual one in tests).
        pub clock: Arc<dyn Clock>,
        /// The vault's master keys and fingerprint index.
        pub vault: Arc<Vault>,
        /// Failed sign-ins and password checks, per name and address (in memory).
        pub throttle: Arc<Throttle>,
        /// How long a newly issued agent token waits before it may read vault values, unless
        /// a second admin confirms it.
        pub token_hold_secs: i64,
        /// Rung when a message is approved, so the delivery worker does not wait for its next poll.
        pub delivery_wakeup: Arc<tokio::sync::Notify>,
        /// The key that signs checkpoints of the audit chain, once the server has read it.
        pub checkpoint_signer: Option<Arc<crate::audit::checkpoint::Signer>>,
        /// Days audit entries are kept before they may be archived and pruned.
        pub audit_retention_days: i64,
        /// The drafter's language model when `REKEY_DRAFTER_*` pin it; otherwise an admin sets
        /// one on the Settings page. Ask [`crate::model::current`] for the one in use.
        pub pinned_model: Option<Arc<crate::model::ModelClient>>,
        /// The client of the model the Settings page names, kept while it stays the same.
        pub model_clients: Arc<crate::model::endpoint::ClientCache>,
    }

    impl Rekey {
        /// Opens the vault for `db` with the master key from `keys` and readies it (see
        /// `vault::system::prepare`): the only way to a `Rekey`, so nothing runs with a vault
        /// half set up.
        pub async fn open(
            db: Db,
            clock: Arc<dyn Clock>,
            keys: crate::vault::keys::KeySource,
            token_hold_secs: i64,
        ) -> Result<Self> {
            let vault = Vault::open(keys, &db).await?;
            let rekey = Self::new(db, clock, vault).with_token_hold_secs(token_hold_secs);
            crate::vault::system::prepare(&rekey).await?;
            Ok(rekey)
        }

        fn new(db: Db, clock: Arc<dyn Clock>, vault: Vault) -> Self {
            Self {
                db,
                clock,
                vault: Arc::new(vault),
                throttle: Arc::new(Throttle::new(ThrottlePolicy::default())),
                token_hold_secs: DEFAULT_TOKEN_HOLD_SECS,
                delivery_wakeup: Arc::new(tokio::sync::Notify::new()),
                checkpoint_signer: None,
                pinned_model: None,
                model_clients: Arc::default(),
                audit_retention_days: crate::audit::retention::DEFAULT_RETENTION_DAYS,
            }
        }

        /// The same Rekey, with `model` pinned as the drafter's language model (none: an admin
        /// may set one on the Settings page).
        pub fn with_pinned_model(mut self, model: Option<crate::model::ModelClient>) -> Self {
            self.pinned_model = model.map(Arc::new);
            self
        }

        /// Keeps audit entries `days` days (at least [`crate::audit::retention::MIN_RETENTION_DAYS`]).
        pub fn with_audit_retention_days(mut self, days: i64) -> Self {
            self.audit_retention_days = days.max(crate::audit::retention::MIN_RETENTION_DAYS);
            self
        }

        /// Signs checkpoints of the audit chain with `signer`.
        pub fn with_checkpoint_signer(mut self, signer: crate::audit::checkpoint::Signer) -> Self {
            self.checkpoint_signer = Some(Arc::new(signer));
            self
        }

        /// Sets how long new agent tokens wait before reading vault values.
        fn with_token_hold_secs(mut self, secs: i64) -> Self {
            self.token_hold_secs = secs.max(0);
            self
        }

        /// The time now, by the injected clock.
        pub fn now(&self) -> Timestamp {
            self.clock.now()
        }

        /// Begins an audited write on behalf of `actor`.
        pub async fn write(&self, actor: Actor) -> Result<WriteTx> {
            WriteTx::begin(&self.db, actor, self.now()).await
        }
    }

    impl std::fmt::Debug for Rekey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Rekey")
                .field("db", &self.db)
                .finish_non_exhaustive()
        }
    }
}
