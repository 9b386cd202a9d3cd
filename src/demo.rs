//! Demo data: one account per role, so a newcomer can try every screen.

use crate::Rekey;
use crate::audit::Actor;
use crate::error::Result;
use crate::identity::{DisplayName, EmailAddress, Role, Username};
use crate::password::Password;
use crate::users::{self, NewUser};

/// The password of every demo account. Demo mode only; printed on the console.
pub const DEMO_PASSWORD: &str = "rekey-demo-password";

/// The demo accounts: (username, display name, role).
pub const DEMO_ACCOUNTS: [(&str, &str, Role); 4] = [
    ("engineer", "Erin Engineer", Role::Engineer),
    ("approver", "Avery Approver", Role::Approver),
    ("security", "Sam Security", Role::SecurityLead),
    ("admin", "Ada Admin", Role::Admin),
];

/// Creates whatever demo data is missing; running it twice changes nothing.
pub async fn seed(rk: &Rekey) -> Result<()> {
    seed_accounts(rk).await?;
    seed_inventory(rk).await?;
    seed_vault(rk).await
}

/// A shared team partition (`demo-team`: the engineer writes, the approver reads) with a
/// generated API key, and a TOTP seed in the engineer's own partition. Values are random per
/// installation, never fixed strings that could end up used for real.
async fn seed_vault(rk: &Rekey) -> Result<()> {
    use crate::vault::{self, Alphabet, GeneratePolicy, StoreInput};
    use crate::vault::{Access, VaultName};
    let team = VaultName::parse("partition", "demo-team")?;
    let taken = rk
        .db
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE name = $1",
            crate::params![team.as_str()],
        )
        .await?
        .is_some();
    if taken {
        return Ok(());
    }
    let mut people = Vec::new();
    for name in ["admin", "engineer"] {
        let user = users::credentials(&rk.db, &Username::parse(name)?)
            .await?
            .ok_or_else(|| crate::error::Error::Internal(format!("no demo account {name}")))?;
        people.push(user.user.identity());
    }
    let (admin, engineer) = (&people[0], &people[1]);
    vault::partitions::create_team_partition(rk, admin, &team).await?;
    crate::vault::grants::grant(rk, admin, &team, "user:engineer", Some(Access::Write)).await?;
    crate::vault::grants::grant(rk, admin, &team, "user:approver", Some(Access::Read)).await?;
    let api_key = GeneratePolicy::new(32, Alphabet::Alphanumeric, "sk_live_")?.generate();
    let new = StoreInput {
        kind: "api_key".into(),
        value: api_key.expose().to_string(),
        label: "Payment provider live key (demo)".into(),
        max_age_days: Some(90),
        ..StoreInput::default()
    }
    .parse()?;
    vault::store::store(
        rk,
        engineer,
        &team,
        &VaultName::parse("name", "payments-live")?,
        new,
    )
    .await?;
    let seed = crate::totp::TotpSecret::generate();
    let new = StoreInput {
        kind: "totp_seed".into(),
        value: seed.base32().to_string(),
        label: "Provider console, second factor (demo)".into(),
        ..StoreInput::default()
    }
    .parse()?;
    let own = VaultName::parse("partition", &vault::partitions::personal_name(engineer))?;
    vault::store::store(
        rk,
        engineer,
        &own,
        &VaultName::parse("name", "console-otp")?,
        new,
    )
    .await?;
    Ok(())
}

async fn seed_accounts(rk: &Rekey) -> Result<()> {
    for (username, name, role) in DEMO_ACCOUNTS {
        let username = Username::parse(username)?;
        if users::credentials(&rk.db, &username).await?.is_some() {
            continue;
        }
        users::create(
            rk,
            Actor::System,
            NewUser {
                email: EmailAddress::parse(&format!("{username}@rekey.example"))?,
                username,
                display_name: DisplayName::parse(name)?,
                role,
                password: Password::new_choice(DEMO_PASSWORD.to_string())?,
            },
            users::FirstPassword::Own,
        )
        .await?;
    }
    Ok(())
}

const COMPANIES: [&str; 48] = [
    "Acorn Analytics",
    "Bluefin Payments",
    "Brightwave Health",
    "Cedar Logistics",
    "Cobalt Insurance",
    "Copperleaf Retail",
    "Driftwood Travel",
    "Ember Energy",
    "Fjord Freight",
    "Foxglove Media",
    "Granite Bank",
    "Harbor Telecom",
    "Helix Genomics",
    "Indigo Learning",
    "Juniper Farms",
    "Kestrel Security",
    "Lantern Labs",
    "Larkspur Legal",
    "Maple Mobility",
    "Meridian Maps",
    "Nimbus Cloud",
    "Northwind Foods",
    "Oakridge Realty",
    "Onyx Games",
    "Pinecone Pharmacy",
    "Quartz Quant",
    "Redwood Robotics",
    "Saffron Kitchens",
    "Sequoia Schools",
    "Silverline Shipping",
    "Solstice Solar",
    "Sparrow Social",
    "Summit Sports",
    "Tidal Water",
    "Topaz Tickets",
    "Tundra Outfitters",
    "Umbra Studios",
    "Vantage Vision",
    "Verdant Gardens",
    "Wavelength Radio",
    "Willow Wellness",
    "Xenon Devices",
    "Yarrow Yoga",
    "Zenith Aerospace",
    "Zephyr Weather",
    "Alder Auctions",
    "Birch Bookkeeping",
    "Cypress Charity",
];

const ZONES: [&str; 8] = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Kolkata",
    "America/Sao_Paulo",
];

const PEOPLE: [&str; 12] = [
    "Priya Natarajan",
    "Lukas Weber",
    "Aiko Tanaka",
    "Mateo Silva",
    "Grace Okafor",
    "Noah Fischer",
    "Sofia Rossi",
    "Liam O'Brien",
    "Chen Wei",
    "Amara Diallo",
    "Elena Petrova",
    "Jonas Berg",
];

/// The demo inventory: 48 consumers, eight per integration pattern (SDK languages rotating),
/// each with four contacts and a production and a staging key of varied ages.
pub async fn seed_inventory(rk: &Rekey) -> Result<()> {
    use crate::inventory::store::{self, Contact, ExternalId, NewConsumer, NewCredential, Tag};
    use crate::inventory::{
        ContactRole, CredentialPrefix, CredentialStatus, Environment, Integration,
        IntegrationPattern, SdkLanguage, TimeZoneName,
    };

    let now = rk.now();
    let mut tx = rk.write(Actor::System).await?;
    for (i, company) in COMPANIES.iter().enumerate() {
        let external_id = ExternalId::parse(&format!("demo-{:03}", i + 1))?;
        if store::consumer_exists(&rk.db, &external_id).await? {
            continue;
        }
        let pattern = IntegrationPattern::ALL[i % IntegrationPattern::ALL.len()];
        let language = (pattern == IntegrationPattern::ServerSdk)
            .then(|| SdkLanguage::ALL[(i / 6) % SdkLanguage::ALL.len()]);
        let slug: String = company
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let domain = format!("{slug}.example");
        let person = |n: usize| PEOPLE[(i + n) % PEOPLE.len()];
        let contact = |role: ContactRole, n: usize, local: &str| -> Result<Contact> {
            Ok(Contact {
                role,
                name: person(n).to_string(),
                email: EmailAddress::parse(&format!("{local}@{domain}"))?,
            })
        };
        let consumer = NewConsumer {
            external_id,
            name: company.to_string(),
            integration: Integration { pattern, language },
            time_zone: TimeZoneName::parse(ZONES[i % ZONES.len()])?,
            tags: vec![Tag::parse(if i % 3 == 0 {
                "enterprise"
            } else {
                "growth"
            })?],
            contacts: vec![
                contact(ContactRole::Primary, 0, "partners")?,
                contact(ContactRole::Technical, 1, "api")?,
                contact(ContactRole::Escalation, 2, "cto")?,
                contact(ContactRole::Security, 3, "security")?,
            ],
        };
        // Production keys from 30 to 400 days old, so "older than 90 days" picks about three
        // quarters of them.
        let age_days = 30 + ((i as i64 * 37) % 370);
        let hex = |n: usize| format!("{:04x}", (i * 7919 + n * 104_729) % 0xffff);
        let credentials = vec![
            NewCredential {
                external_id: ExternalId::parse(&format!("demo-{:03}-prod", i + 1))?,
                label: "Production key".into(),
                environment: Environment::Production,
                prefix: CredentialPrefix::parse(&format!("sk_live_{}", hex(1)))?,
                status: CredentialStatus::Active,
                services: vec!["billing".into(), "orders".into()],
                created_at: now.plus_secs(-age_days * 86_400),
                last_used_at: Some(now.plus_secs(-3_600 * (1 + i as i64 % 48))),
                expires_at: None,
            },
            NewCredential {
                external_id: ExternalId::parse(&format!("demo-{:03}-stg", i + 1))?,
                label: "Staging key".into(),
                environment: Environment::Staging,
                prefix: CredentialPrefix::parse(&format!("sk_test_{}", hex(2)))?,
                status: CredentialStatus::Active,
                services: vec!["ci".into()],
                created_at: now.plus_secs(-(age_days / 2) * 86_400),
                last_used_at: None,
                expires_at: None,
            },
        ];
        store::insert_consumer(&mut tx, &consumer, &credentials).await?;
    }
    // When every demo consumer already exists nothing was written, and nothing is committed.
    if tx.is_empty() {
        return Ok(());
    }
    tx.commit().await
}

/// Bulk consumers' send window: every day, all day.
static ALWAYS_OPEN: std::sync::LazyLock<crate::inventory::window::SendWindow> =
    std::sync::LazyLock::new(|| {
        crate::inventory::window::SendWindow::parse("Mon-Sun 00:00-24:00").unwrap_or_default()
    });

/// Adds `n` consumers with one production key each (a year old), integration patterns in turn,
/// for load tests and benchmarks, open to mail at any hour. `batch` keeps external ids unique across calls. Returns the
/// new credentials.
pub async fn bulk_consumers(
    rk: &Rekey,
    n: usize,
    batch: &str,
) -> Result<Vec<crate::inventory::CredentialId>> {
    use crate::inventory::store::{self, Contact, ExternalId, NewConsumer, NewCredential, Tag};
    use crate::inventory::{
        ContactRole, CredentialPrefix, CredentialStatus, Environment, Integration,
        IntegrationPattern, SdkLanguage, TimeZoneName,
    };

    let now = rk.now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let mut tx = rk.write(Actor::System).await?;
        for &i in chunk {
            let pattern = IntegrationPattern::ALL[i % IntegrationPattern::ALL.len()];
            let consumer = NewConsumer {
                external_id: ExternalId::parse(&format!("bulk-{batch}-{i}"))?,
                name: format!("Bulk consumer {i:05}"),
                integration: Integration {
                    pattern,
                    language: (pattern == IntegrationPattern::ServerSdk)
                        .then_some(SdkLanguage::ALL[i % SdkLanguage::ALL.len()]),
                },
                time_zone: TimeZoneName::parse(ZONES[i % ZONES.len()])?,
                tags: vec![Tag::parse(&format!("bulk-{batch}"))?],
                contacts: vec![Contact {
                    role: ContactRole::Technical,
                    name: PEOPLE[i % PEOPLE.len()].to_string(),
                    email: EmailAddress::parse(&format!("dev{i}@bulk-{batch}.example"))?,
                }],
            };
            let credential = NewCredential {
                external_id: ExternalId::parse(&format!("bulk-{batch}-{i}-k"))?,
                label: "Production key".into(),
                environment: Environment::Production,
                prefix: CredentialPrefix::parse(&format!("sk_live_{i:05x}"))?,
                status: CredentialStatus::Active,
                services: vec![],
                created_at: now.plus_secs(-365 * 86_400),
                last_used_at: None,
                expires_at: None,
            };
            let id = store::insert_consumer(&mut tx, &consumer, &[credential]).await?;
            // Load tests measure delivery, not waiting: these consumers read mail at any hour.
            crate::inventory::rows::set_send_window(&mut tx, id, &ALWAYS_OPEN).await?;
        }
        tx.commit().await?;
    }
    let rows = rk
        .db
        .fetch_all(
            "SELECT id FROM credentials WHERE external_id LIKE $1 ORDER BY id",
            crate::params![format!("bulk-{batch}-%")],
        )
        .await?;
    rows.iter().map(|r| r.get(0)).collect()
}

/// Plans a campaign over `credentials` as `engineer` and drafts it (in the foreground): the
/// announcement alone, one notice per consumer.
pub async fn campaign_over(
    rk: &Rekey,
    engineer: &crate::identity::Identity,
    credentials: Vec<crate::inventory::CredentialId>,
) -> Result<crate::notices::CampaignId> {
    campaign_with(
        rk,
        engineer,
        credentials,
        crate::notices::schedule::Schedule::announcement_only(),
    )
    .await
}

/// Plans a 30-day campaign over `credentials` with `schedule` as `engineer`, announced now, and
/// drafts it in the foreground.
pub async fn campaign_with(
    rk: &Rekey,
    engineer: &crate::identity::Identity,
    credentials: Vec<crate::inventory::CredentialId>,
    schedule: crate::notices::schedule::Schedule,
) -> Result<crate::notices::CampaignId> {
    let drafter = crate::notices::campaigns::DrafterChoice::BuiltIn;
    let id = campaign_unstarted(rk, engineer, credentials, schedule, drafter).await?;
    crate::notices::campaigns::draft_pending(rk, id).await?;
    Ok(id)
}

/// Creates a 30-day campaign over `credentials` with `schedule` as `engineer`, announced now,
/// written by `drafter`, in drafting and not drafted yet: what a restart finds when a process
/// died before drafting began.
pub async fn campaign_unstarted(
    rk: &Rekey,
    engineer: &crate::identity::Identity,
    credentials: Vec<crate::inventory::CredentialId>,
    schedule: crate::notices::schedule::Schedule,
    drafter: crate::notices::campaigns::DrafterChoice,
) -> Result<crate::notices::CampaignId> {
    use crate::notices::campaigns::{self, CampaignName, NewCampaign, Selection};
    let now = rk.now();
    let timeline = crate::notices::Timeline::new(
        now,
        now.plus_secs(86_400),
        now.plus_secs(30 * 86_400),
        now.plus_secs(37 * 86_400),
    )?;
    let id = campaigns::create(
        rk,
        engineer,
        NewCampaign {
            name: CampaignName::parse("Bulk rotation")?,
            selection: Selection::Chosen(credentials),
            timeline,
            schedule,
            send_window: None,
            drafter,
        },
    )
    .await?;
    Ok(id)
}

/// Submits every drafted notice of a campaign as `engineer` and approves them as `approver`.
/// Returns (notice, recipient) pairs.
pub async fn approve_campaign(
    rk: &Rekey,
    campaign: crate::notices::CampaignId,
    engineer: &crate::identity::Identity,
    approver: &crate::identity::Identity,
) -> Result<Vec<(crate::notices::NoticeId, String)>> {
    use crate::notices::queue;
    use crate::notices::views::QueueFilter;
    use crate::notices::workflow;
    let mut all = Vec::new();
    loop {
        let filter = QueueFilter {
            campaign: Some(campaign),
            state: Some(crate::notices::NoticeState::Drafted),
            ..Default::default()
        };
        let (page, _) = queue::queue(&rk.db, &filter, 0, 500).await?;
        if page.is_empty() {
            break;
        }
        for n in &page {
            workflow::submit(rk, engineer, n.id).await?;
        }
        let ids: Vec<_> = page.iter().map(|n| n.id).collect();
        let outcome = workflow::approve_many(rk, approver, &ids).await?;
        if let Some((id, why)) = outcome.skipped.first() {
            return Err(crate::error::Error::Internal(format!(
                "notice {id} was not approved: {why}"
            )));
        }
        all.extend(page.into_iter().map(|n| (n.id, n.recipient.to_string())));
    }
    Ok(all)
}
