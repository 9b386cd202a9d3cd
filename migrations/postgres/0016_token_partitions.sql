-- A token may be limited to named vault partitions (names separated by spaces); empty, it uses
-- every partition its agent can reach, as every token did before.
ALTER TABLE api_tokens ADD COLUMN vault_partitions TEXT;
