//! Team messages: a notice about a rotation to Rekey's own people (one user, or the team address
//! in settings) instead of to a consumer, as an agent's `notify_team` writes it ("e-mail the
//! engineering team a summary"). The one writer of notices without a consumer. A team message
//! takes the gated send like every notice: its text is checked (no secrets, only dates of the
//! campaign's timeline, https links), it waits in the review queue with its author shown, a
//! person approves its exact bytes, and the outbox delivers it. It names no credential and
//! gives no migration steps, so it is not checked for them; it may be approved before a
//! planned campaign starts (it is often what the person who starts it reads first).

use super::checks::{self, CheckContext};
use super::schedule::Step;
use super::workflow::NewNotice;
use super::{CampaignId, NoticeId, NoticeKind, campaigns, versions};
use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::error::{Error, Refusal, Result};
use crate::identity::{EmailAddress, Identity, InputError, Permission, Username};

/// Who a team message is to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeamRecipient {
    /// The team address an admin set in settings.
    Team,
    /// One Rekey user, by username.
    User(Username),
}

impl TeamRecipient {
    /// `team`, or a Rekey user's username.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        match raw.trim() {
            "" => Err(InputError::new(
                "to",
                "say who the message is to: 'team' for the team address, or a Rekey user's username",
            )),
            "team" => Ok(TeamRecipient::Team),
            name => Username::parse(name).map(TeamRecipient::User).map_err(|e| {
                InputError::new(
                    "to",
                    format!("'{name}' is neither 'team' nor a username: {}", e.message),
                )
            }),
        }
    }

    /// How the audit trail names it: `team` or the username (never an address).
    fn named(&self) -> String {
        match self {
            TeamRecipient::Team => "team".into(),
            TeamRecipient::User(name) => name.as_str().to_string(),
        }
    }
}

/// Writes a team message about `campaign` and puts it in review: version 1 is `subject` and
/// `body` as given, authored by `by`, with its checks. Answers the notice. Nothing is written
/// when the input, the campaign or the recipient is refused.
pub async fn notify(
    rk: &Rekey,
    by: &Identity,
    campaign: CampaignId,
    to: &TeamRecipient,
    subject: &str,
    body: &str,
) -> Result<NoticeId> {
    if !by.may(Permission::NotifyTeam) {
        return Err(Error::Forbidden(Permission::NotifyTeam));
    }
    let subject = versions::parse_subject(subject)?;
    let body = versions::parse_body(body)?;
    let found = campaigns::get(&rk.db, campaign).await?;
    if found.state.ended() {
        return Err(Refusal::CampaignEnded(campaign).into());
    }
    let recipient = address_of(rk, to).await?;
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let results = checks::run(
        &subject,
        &body,
        &CheckContext {
            checks: NoticeKind::TeamMessage.checks(),
            timeline: &found.timeline,
            zone: &jiff::tz::TimeZone::UTC,
            prefixes: &[],
            vault: &vault,
            acknowledged: &[],
        },
    );
    let mut tx = rk.write(by.into()).await?;
    let notice = super::workflow::open(
        &mut tx,
        &NewNotice {
            campaign,
            consumer: None,
            recipient,
            fallbacks: Default::default(),
            checks_passed: checks::all_passed(&results),
            step: Step::TeamMessage,
            due: None,
        },
    )
    .await?;
    let author = tx.actor().clone();
    let sha256 =
        versions::insert_version(&mut tx, notice, 1, &subject, &body, &author, &results).await?;
    tx.audit(
        Target::Notice(notice),
        Detail::TeamMessageWritten {
            notice,
            campaign,
            to: to.named(),
            sha256,
        },
    )
    .await?;
    versions::audit_failed_checks(&mut tx, notice, 1, &results).await?;
    super::workflow::submit_in(&mut tx, notice).await?;
    tx.commit().await?;
    Ok(notice)
}

/// Where a team message goes: the team address in settings, or an enabled user's address.
async fn address_of(rk: &Rekey, to: &TeamRecipient) -> Result<EmailAddress> {
    match to {
        TeamRecipient::Team => crate::settings::load(&rk.db)
            .await?
            .provider
            .team_email
            .ok_or_else(|| Refusal::NoTeamAddress.into()),
        TeamRecipient::User(name) => match crate::users::by_username(&rk.db, name).await? {
            Some(user) if !user.disabled => EmailAddress::parse(&user.email)
                .map_err(|e| Error::Internal(format!("{name}'s stored address is invalid: {e}"))),
            Some(_) => Err(InputError::new(
                "to",
                format!("{name} is disabled and reads no mail from Rekey; write to another user or to 'team'"),
            )
            .into()),
            None => Err(InputError::new(
                "to",
                format!("there is no Rekey user '{name}'; write to a username or to 'team'"),
            )
            .into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_message_is_to_the_team_or_a_username() {
        assert_eq!(TeamRecipient::parse(" team ").unwrap(), TeamRecipient::Team);
        assert_eq!(
            TeamRecipient::parse("priya").unwrap(),
            TeamRecipient::User(Username::parse("priya").unwrap())
        );
        assert_eq!(TeamRecipient::parse("").unwrap_err().field, "to");
        let odd = TeamRecipient::parse("the whole team!").unwrap_err();
        assert_eq!(odd.field, "to");
        assert!(
            odd.message.contains("neither 'team' nor a username"),
            "{odd:?}"
        );
    }

    #[test]
    fn a_team_message_is_checked_for_secrets_dates_and_links_only() {
        assert_eq!(
            NoticeKind::TeamMessage.checks(),
            &[
                super::super::CheckKind::NoSecrets,
                super::super::CheckKind::DatesMatchTimeline,
                super::super::CheckKind::LinksHttps
            ]
        );
    }
}
