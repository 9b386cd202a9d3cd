-- Free text finds the same consumers on both backends: the words of `consumers.search` in
-- order, the last one as a prefix. SQLite answers from its FTS5 table (0004); PostgreSQL from
-- this index over the same words (letters and digits between any other characters). A query
-- must repeat the expression exactly (`storage::Dialect::consumer_words_match`).
CREATE INDEX consumers_search_words ON consumers
    USING GIN (to_tsvector('simple', regexp_replace(search, '[^[:alnum:]]+', ' ', 'g')));
