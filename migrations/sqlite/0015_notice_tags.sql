-- A notice's tags: labels an agent or an engineer puts on notices to find them again
-- ("wave-1", "needs-legal"). They change nothing about review or delivery.
CREATE TABLE notice_tags (
    notice_id BIGINT NOT NULL REFERENCES notices (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (notice_id, tag)
);
CREATE INDEX notice_tags_tag ON notice_tags (tag, notice_id);
