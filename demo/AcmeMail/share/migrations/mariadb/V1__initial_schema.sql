-- acme-mail schema for MariaDB, version 1: the PostgreSQL V1 (../V1__initial_schema.sql) in MariaDB's dialect.
-- Applied once by acme-mail at start and recorded in schema_history with the SHA-256 of this file: never edit
-- it after release, add V2__... instead. MariaDB commits each DDL statement on its own, so a migration that fails
-- half way is recorded as failed and must be repaired by hand: keep each file to what cannot half-fail.
-- Times are UTC (UTC_TIMESTAMP), whatever the server's time zone.

CREATE TABLE users (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- utf8mb4_bin: names compare exactly, as PostgreSQL's text does.
    name          VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    password_hash VARCHAR(100) CHARACTER SET ascii NOT NULL,
    UNIQUE KEY users_name_key (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE messages (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner_id    BIGINT NOT NULL,
    sender      VARCHAR(320) NOT NULL,
    subject     VARCHAR(998) NOT NULL,
    body        MEDIUMTEXT NOT NULL,
    sent_at     DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    -- Filled by the background indexer (subject, a space, body) and searched through the FULLTEXT index.
    search_text MEDIUMTEXT NULL,
    indexed     BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT messages_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    KEY messages_owner_sent_at_idx (owner_id, sent_at),
    KEY messages_unindexed_idx (indexed, id),
    FULLTEXT KEY messages_search_text_idx (search_text)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE sessions (
    token      CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    KEY sessions_user_id_idx (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
