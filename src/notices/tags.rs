//! A notice's tags: labels an agent or an engineer puts on notices to find them again (the
//! seeds' `tag_email`), such as `wave-1` or `needs-legal`. They change nothing about review or
//! delivery; the review queue filters by them.

use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::error::{Error, Result};
use crate::identity::{Identity, InputError, Permission};
use crate::inventory::views::Tag;
use crate::params;
use crate::storage::Db;

use super::NoticeId;

/// The most tags one notice carries.
pub const MAX_TAGS: usize = 10;

/// Tags as a form or a script gives them: each checked, none twice, at most [`MAX_TAGS`],
/// sorted.
pub fn parse<S: AsRef<str>>(raw: &[S]) -> std::result::Result<Vec<Tag>, InputError> {
    let mut tags = raw
        .iter()
        .map(|t| Tag::parse(t.as_ref()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    tags.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(InputError::new(
            "tags",
            format!("a notice carries at most {MAX_TAGS} tags"),
        ));
    }
    Ok(tags)
}

/// Replaces a notice's tags (an empty list removes them all); audited with the new set.
pub async fn set(rk: &Rekey, by: &Identity, id: NoticeId, tags: &[Tag]) -> Result<()> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    let mut tx = rk.write(by.into()).await?;
    tx.fetch_optional("SELECT 1 FROM notices WHERE id = $1", params![id])
        .await?
        .ok_or_else(|| Error::not_found("notice", id))?;
    tx.execute("DELETE FROM notice_tags WHERE notice_id = $1", params![id])
        .await?;
    for tag in tags {
        tx.execute(
            "INSERT INTO notice_tags (notice_id, tag) VALUES ($1, $2)",
            params![id, tag.as_str()],
        )
        .await?;
    }
    tx.audit(
        Target::Notice(id),
        Detail::NoticeTagged {
            notice: id,
            tags: tags.iter().map(|t| t.as_str().to_string()).collect(),
        },
    )
    .await?;
    tx.commit().await
}

/// A notice's tags, sorted.
pub async fn of(db: &Db, id: NoticeId) -> Result<Vec<Tag>> {
    db.fetch_all(
        "SELECT tag FROM notice_tags WHERE notice_id = $1 ORDER BY tag",
        params![id],
    )
    .await?
    .iter()
    .map(|r| {
        Tag::parse(&r.get::<String>(0)?)
            .map_err(|e| Error::Internal(format!("a stored notice tag is invalid: {e}")))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_sorted_and_counted() {
        let tags = parse(&["wave-1", "needs-legal", "wave-1"]).unwrap();
        let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["needs-legal", "wave-1"]);
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(parse(&eleven).unwrap_err().field, "tags");
        assert!(parse(&[""]).is_err());
    }
}
