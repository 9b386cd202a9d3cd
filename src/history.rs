//! What happened to a consumer: its own audit entries and those of its credentials, its
//! notices and the campaigns they belong to. A read across features, so it lives above them.

use crate::audit::{Target, TrailLine, store as trail};
use crate::error::Result;
use crate::inventory::store::Consumer;
use crate::notices::queue;
use crate::storage::Db;

/// A consumer's timeline, newest first, at most `limit` lines.
pub async fn consumer(db: &Db, consumer: &Consumer, limit: u32) -> Result<Vec<TrailLine>> {
    let mut targets = vec![Target::Consumer(consumer.id)];
    targets.extend(
        consumer
            .credentials
            .iter()
            .map(|k| Target::Credential(k.id)),
    );
    for (notice, campaign) in queue::notices_of(db, consumer.id).await? {
        targets.push(Target::Notice(notice));
        let campaign = Target::Campaign(campaign);
        if !targets.contains(&campaign) {
            targets.push(campaign);
        }
    }
    trail::about(db, &targets, limit).await
}
