-- Users, their sessions and API tokens, login throttling, and agents' SIP endpoints.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.@-]{1,64}$'),
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The cookie carries a random token; only its SHA-256 is stored, so a database dump
-- gives nobody a working session.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE login_failures (
    id        bigserial PRIMARY KEY,
    username  text NOT NULL,
    client_ip text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_username_idx ON login_failures (username, at);
CREATE INDEX login_failures_ip_idx ON login_failures (client_ip, at);

-- An agent is a user with a softphone: the PJSIP endpoint Asterisk knows them by.
CREATE TABLE agents (
    user_id      bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sip_endpoint text NOT NULL UNIQUE CHECK (sip_endpoint ~ '^[A-Za-z0-9_.-]{1,40}$'),
    sip_secret   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
